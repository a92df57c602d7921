// TLS on the proxy's client listener (issue 8): gRPC over TLS with ALPN h2 for a client that checks
// the server against a CA; a cleartext client is refused; bad certificate files stop the proxy at start.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ConfigError, loadConfig } from '@switchyard/config';
import { ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { type EchoResponse, loadEchoClient } from '@switchyard/sample-functions';
import { type TestCertificates, writeTestCertificates } from '@switchyard/testkit';
import { RegionHarness } from './region-harness.ts';

function unary(client: ReturnType<typeof loadEchoClient>, md: Record<string, string>): Promise<EchoResponse> {
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) meta.set(k, v);
  return new Promise((resolve, reject) => {
    client.Unary(
      { payload: Buffer.from('over tls') },
      meta,
      { deadline: Date.now() + 20_000 },
      (err: Error | null, res: EchoResponse) => (err ? reject(err) : resolve(res)),
    );
  });
}

describe('proxy client listener over TLS', () => {
  const h = new RegionHarness();
  let dir: string;
  let certs: TestCertificates;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-proxy-tls-'));
    certs = writeTestCertificates(dir, ['proxy']);
    await h.start();
    await h.addProxy({
      tlsCertFile: certs.leaves.proxy.cert,
      tlsKeyFile: certs.leaves.proxy.key,
      callbackTlsCertFile: certs.leaves.proxy.cert,
      callbackTlsKeyFile: certs.leaves.proxy.key,
    });
    await h.addWorker({ callbackTlsCaFile: certs.ca, callbackAllowList: ['https://127.0.0.1:'] });
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('gRPC over TLS with credentials.createSsl(ca) reaches the worker', async () => {
    const client = loadEchoClient(`localhost:${h.proxies[0].port}`, grpc.credentials.createSsl(readFileSync(certs.ca)));
    try {
      const res = await unary(client, h.metadata());
      assert.equal(res.payload.toString(), 'over tls');
    } finally {
      client.close();
    }
  });

  test('a cleartext (h2c) client gets no answer but UNAVAILABLE', async () => {
    const client = loadEchoClient(h.proxies[0].address);
    try {
      await assert.rejects(unary(client, h.metadata()), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test('a client trusting another CA refuses the server', async () => {
    const other = writeTestCertificates(mkdtempSync(join(dir, 'other-')), []);
    const client = loadEchoClient(`localhost:${h.proxies[0].port}`, grpc.credentials.createSsl(readFileSync(other.ca)));
    try {
      await assert.rejects(unary(client, h.metadata()), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAVAILABLE);
        return true;
      });
    } finally {
      client.close();
    }
  });

  test('a worker trusting another CA cannot dial in, and the front end keeps serving the others', async () => {
    const other = writeTestCertificates(mkdtempSync(join(dir, 'worker-ca-')), []);
    const fn = await h.addFunction({ name: 'wrong-ca' });
    await h.addWorker({
      functionId: fn.functionId,
      versionId: fn.versionId,
      callbackTlsCaFile: other.ca,
      callbackAllowList: ['https://127.0.0.1:'],
    });
    const client = loadEchoClient(`localhost:${h.proxies[0].port}`, grpc.credentials.createSsl(readFileSync(certs.ca)));
    try {
      const meta = new grpc.Metadata();
      for (const [k, v] of Object.entries(h.metadata({}, fn))) meta.set(k, v);
      const refused = new Promise<grpc.ServiceError>((resolve, reject) => {
        client.Unary(
          { payload: Buffer.from('x') },
          meta,
          { deadline: Date.now() + 15_000 },
          (err: grpc.ServiceError | null) =>
            err ? resolve(err) : reject(new Error('a worker with the wrong CA served a call')),
        );
      });
      // Meanwhile (and after), the function whose worker trusts the right CA is served.
      assert.equal((await unary(client, h.metadata())).payload.toString(), 'over tls');
      assert.notEqual((await refused).code, grpc.status.OK);
      assert.equal((await unary(client, h.metadata())).payload.toString(), 'over tls');
    } finally {
      client.close();
    }
  });

  test('missing and non-PEM files stop the proxy at start with every problem listed', () => {
    const notPem = join(dir, 'not-pem.txt');
    writeFileSync(notPem, 'hello');
    assert.throws(
      () =>
        loadConfig(ProxyConfigSchema, {
          service: 'grpc-proxy',
          env: {
            SWITCHYARD_NATS_SERVERS: 'nats://127.0.0.1:4222',
            SWITCHYARD_TLS_CERT_FILE: join(dir, 'missing.pem'),
            SWITCHYARD_TLS_KEY_FILE: notPem,
          },
        }),
      (err: ConfigError) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        assert.match(text, /SWITCHYARD_TLS_CERT_FILE.*cannot read the file: ENOENT/);
        assert.match(text, /SWITCHYARD_TLS_KEY_FILE.*not a PEM private key/);
        return true;
      },
    );
  });

  test('half a pair and a key of another certificate are config problems', () => {
    const other = writeTestCertificates(mkdtempSync(join(dir, 'mismatch-')), ['x']);
    const load = (env: Record<string, string>) =>
      loadConfig(ProxyConfigSchema, {
        service: 'grpc-proxy',
        env: { SWITCHYARD_NATS_SERVERS: 'nats://127.0.0.1:4222', ...env },
      });
    assert.throws(
      () => load({ SWITCHYARD_TLS_CERT_FILE: certs.leaves.proxy.cert }),
      (err: ConfigError) => /SWITCHYARD_TLS_KEY_FILE.*required with tlsCertFile/.test(err.problems.join('\n')),
    );
    assert.throws(
      () => load({ SWITCHYARD_TLS_CERT_FILE: certs.leaves.proxy.cert, SWITCHYARD_TLS_KEY_FILE: other.leaves.x.key }),
      (err: ConfigError) => /SWITCHYARD_TLS_KEY_FILE.*is not the private key/.test(err.problems.join('\n')),
    );
  });
});
