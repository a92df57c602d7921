// Issue 8: HTTP over TLS to the invocation service, whose worker dialled its tunnel over https
// (SWITCHYARD_CALLBACK_TLS_* on the front end, SWITCHYARD_CALLBACK_TLS_CA_FILE on the worker), with
// clients and the worker checking certificates against the test CA.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkServerIdentity } from 'node:tls';
import { type TestCertificates, writeTestCertificates } from '@switchyard/testkit';
import { Agent, request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

describe('invocation over TLS with an https tunnel', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let dir: string;
  let certs: TestCertificates;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sy-inv-tls-'));
    certs = writeTestCertificates(dir, ['invocation']);
    await h.start();
    inv = await h.addInvocation({
      tlsCertFile: certs.leaves.invocation.cert,
      tlsKeyFile: certs.leaves.invocation.key,
      callbackTlsCertFile: certs.leaves.invocation.cert,
      callbackTlsKeyFile: certs.leaves.invocation.key,
    });
    await h.addWorker({ callbackTlsCaFile: certs.ca, callbackAllowList: ['https://127.0.0.1:'] });
  });
  after(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should answer an HTTP request over TLS through a worker tunnel over https', async () => {
    // The Host header names the function (<id>.invocation.<domain>); the test certificate is for
    // localhost, so the client checks the certificate as localhost's (still against the test CA).
    const dispatcher = new Agent({
      connect: {
        ca: readFileSync(certs.ca),
        checkServerIdentity: (_host, cert) => checkServerIdentity('localhost', cert),
      },
    });
    try {
      const res = await request(`https://127.0.0.1:${inv.port}/echo`, {
        method: 'POST',
        body: 'over tls both ways',
        headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}` },
        dispatcher,
      });
      assert.equal(res.statusCode, 200);
      assert.match(await res.body.text(), /over tls both ways/);
    } finally {
      await dispatcher.close();
    }
  });
});
