// The API over https (issue 8): main.ts with SWITCHYARD_TLS_CERT_FILE/_KEY_FILE serves https only,
// checked by a client that trusts the test CA; bad certificate files make it exit 1 at start, listing both.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNats, stopAll, writeTestCertificates } from '@switchyard/testkit';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sy-api-tls-'));
const certs = writeTestCertificates(dir, ['api']);

after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return { child, out: () => stdout, err: () => stderr };
}

function get(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('the API serves https with the configured certificate, and refuses a client trusting another CA', async () => {
  const nats = await startNats({});
  const { child, out, err } = run({
    SWITCHYARD_NATS_SERVERS: nats.url,
    SWITCHYARD_ADMIN_TOKEN: 'tls-test-admin-token-0123',
    SWITCHYARD_PORT: '0',
    SWITCHYARD_TLS_CERT_FILE: certs.leaves.api.cert,
    SWITCHYARD_TLS_KEY_FILE: certs.leaves.api.key,
  });
  try {
    const deadline = Date.now() + 30_000;
    while (!out().includes('\n') && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 50));
    const line = JSON.parse(out().split('\n')[0] || '{}');
    assert.equal(line.ready, true, err());
    const health = await get(`https://localhost:${line.port}/healthz`, readFileSync(certs.ca));
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), { ok: true, nats: true, region: 'local' });
    const other = writeTestCertificates(mkdtempSync(join(dir, 'other-')), []);
    await assert.rejects(get(`https://localhost:${line.port}/healthz`, readFileSync(other.ca)));
    await assert.rejects(fetch(`http://127.0.0.1:${line.port}/healthz`), 'cleartext is not served');
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  }
});

test('missing and non-PEM certificate files make the API exit 1 at start, listing both', async () => {
  const notPem = join(dir, 'not-pem.txt');
  writeFileSync(notPem, 'not a key');
  const { child, err } = run({
    SWITCHYARD_NATS_SERVERS: 'nats://127.0.0.1:1',
    SWITCHYARD_ADMIN_TOKEN: 'tls-test-admin-token-0123',
    SWITCHYARD_TLS_CERT_FILE: join(dir, 'missing.pem'),
    SWITCHYARD_TLS_KEY_FILE: notPem,
  });
  const [code] = await once(child, 'exit');
  assert.equal(code, 1);
  assert.match(err(), /SWITCHYARD_TLS_CERT_FILE.*cannot read the file: ENOENT/);
  assert.match(err(), /SWITCHYARD_TLS_KEY_FILE.*not a PEM private key/);
});
