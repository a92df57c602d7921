// services/api/src/main.ts as a process: bad config exits 1 listing every problem; good config
// prints one ready line on stdout and exits 0 on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNats, stopAll } from '@switchyard/testkit';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

after(() => stopAll());

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

test('should exit 1 listing every configuration problem at once', async () => {
  const { child, err } = run({ SWITCHYARD_ADMIN_TOKEN: 'short', SWITCHYARD_PORT: 'http', SWITCHYARD_REGION: 'a.b' });
  const [code] = await once(child, 'exit');
  assert.equal(code, 1);
  for (const name of ['SWITCHYARD_ADMIN_TOKEN', 'SWITCHYARD_PORT', 'SWITCHYARD_REGION', 'SWITCHYARD_NATS_SERVERS'])
    assert.match(err(), new RegExp(name));
  assert.doesNotMatch(err(), /short/, 'the admin token value is echoed');
});

test('should print one ready line when listening and exit 0 on SIGTERM', async () => {
  const nats = await startNats({});
  const { child, out, err } = run({
    SWITCHYARD_NATS_SERVERS: nats.url,
    SWITCHYARD_ADMIN_TOKEN: 'main-test-admin-token-0123',
    SWITCHYARD_PORT: '0',
    SWITCHYARD_REGIONS: 'local,elsewhere',
  });
  const deadline = Date.now() + 20_000;
  while (!out().includes('\n') && Date.now() < deadline && child.exitCode === null)
    await new Promise((r) => setTimeout(r, 50));
  const line = JSON.parse(out().split('\n')[0]);
  assert.equal(line.ready, true, err());
  assert.equal(line.service, 'api');
  assert.ok(line.port > 0);
  const health = await fetch(`http://127.0.0.1:${line.port}/healthz`);
  assert.deepEqual(await health.json(), { ok: true, nats: true, region: 'local' });
  const denied = await fetch(`http://127.0.0.1:${line.port}/v1/functions`);
  assert.equal(denied.status, 401);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0, err());
  assert.equal(out().trim().split('\n').length, 1);
});
