// W1 over TLS (issue 8): a callback listener with a certificate; a worker dials https:// and checks it
// against its CA, then the tunnel carries streams as over cleartext. A worker trusting another CA, or
// dialling a name the certificate is not for, fails to dial and the listener keeps serving others.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isSwitchyardError } from '@switchyard/protocol';
import { type TestCertificates, writeTestCertificates } from '@switchyard/testkit';
import { dialTunnel, type TunnelListener } from '../src/index.ts';
import { attachWorker, startListener } from './helpers.ts';

describe('W1 tunnels over TLS', () => {
  let dir: string;
  let certs: TestCertificates;
  let listener: TunnelListener;
  let port: number;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-tunnel-tls-'));
    certs = writeTestCertificates(dir, ['callback']);
    const pair = certs.leaves.callback;
    ({ listener } = await startListener({ tls: { cert: readFileSync(pair.cert), key: readFileSync(pair.key) } }));
    port = listener.port;
  });
  after(async () => {
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const host of ['127.0.0.1', 'localhost']) {
    test(`should carry a stream over a tunnel dialled to https://${host} with the CA`, async () => {
      const { proxyTunnel, workerTunnel } = await attachWorker(
        listener,
        `https://${host}:${port}`,
        `w-tls-${host.replace(/\W/g, '')}`,
        (stream) => {
          stream.respond({ ':status': 200 });
          stream.end('hello over tls');
        },
        'req-tls',
        { tlsCa: readFileSync(certs.ca) },
      );
      const stream = proxyTunnel.session.request({ ':method': 'GET', ':path': '/x' });
      let body = '';
      stream.setEncoding('utf8');
      for await (const chunk of stream) body += chunk;
      assert.equal(body, 'hello over tls');
      workerTunnel.destroy();
      proxyTunnel.destroy();
    });
  }

  test('a worker trusting another CA fails to dial, and the token stays unspent', async () => {
    const other = writeTestCertificates(mkdtempSync(join(dir, 'other-')), []);
    const { token, cancel } = listener.expectAttach('req-wrong-ca');
    const before = listener.pendingTokens;
    await assert.rejects(
      dialTunnel({
        callbackUri: `https://127.0.0.1:${port}`,
        token,
        workerId: 'w-wrong-ca',
        tlsCa: readFileSync(other.ca),
        onStream: () => {},
      }),
      (err) => isSwitchyardError(err, 'SY_TUNNEL_DIAL_FAILED'),
    );
    assert.equal(listener.pendingTokens, before);
    // The same token still opens a tunnel for a worker with the right CA.
    const tunnel = await dialTunnel({
      callbackUri: `https://127.0.0.1:${port}`,
      token,
      workerId: 'w-right-ca',
      tlsCa: readFileSync(certs.ca),
      onStream: () => {},
    });
    tunnel.destroy();
    cancel();
  });

  test('a worker dialling http:// to a TLS listener fails to dial', async () => {
    const { token, cancel } = listener.expectAttach('req-cleartext');
    await assert.rejects(
      dialTunnel({
        callbackUri: `http://127.0.0.1:${port}`,
        token,
        workerId: 'w-clear',
        onStream: () => {},
        timeoutMs: 5_000,
      }),
      (err) => isSwitchyardError(err, 'SY_TUNNEL_DIAL_FAILED'),
    );
    cancel();
  });
});
