// `switchyard worker`: flags over dev.json, clear errors, and a real worker run in the foreground
// that stops with the CLI's SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { startEchoServer } from '@switchyard/sample-functions';
import { startNats, stopAll } from '@switchyard/testkit';
import { runCli, workerEnv } from '../src/index.ts';
import { recordingIo } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'switchyard-worker-cmd-'));
const F = '6f1c2a52-8d47-4b1e-9a0c-1f2e3d4c5b6a';
const V = '0b7e9d1c-3a2f-4e5d-8c6b-7a8f9e0d1c2b';

after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

function writeDevJson(stateDir: string, nats: string, region = 'devland') {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(
    join(stateDir, 'dev.json'),
    JSON.stringify({
      region,
      endpoints: {
        grpc: '127.0.0.1:1',
        callback: 'http://127.0.0.1:2',
        api: 'http://127.0.0.1:3',
        nats: [nats],
        redis: 'redis://127.0.0.1:4',
      },
      adminToken: 'x'.repeat(20),
      apiKey: 'sy_x',
      apiKeyId: F,
      callbackAllowList: ['http://127.0.0.1:'],
      functions: {},
      pids: {},
      startedAtMs: Date.now(),
    }),
  );
}

test('should take NATS, region and allow list from dev.json and let flags override them', () => {
  writeDevJson(join(dir, 'a'), 'nats://127.0.0.1:4999');
  const io = recordingIo({}, dir);
  const base = { functionId: F, versionId: V, upstream: 'grpc://127.0.0.1:50051', stateDir: 'a' };
  assert.deepEqual(workerEnv(base, io), {
    SWITCHYARD_REGION: 'devland',
    SWITCHYARD_NATS_SERVERS: 'nats://127.0.0.1:4999',
    SWITCHYARD_FUNCTION_ID: F,
    SWITCHYARD_VERSION_ID: V,
    SWITCHYARD_UPSTREAM: 'grpc://127.0.0.1:50051',
    SWITCHYARD_CALLBACK_ALLOW_LIST: 'http://127.0.0.1:',
  });
  const env = workerEnv(
    { ...base, nats: 'nats://h:1,nats://h:2', region: 'eu', concurrency: '3', workerId: 'w-1' },
    io,
  );
  assert.equal(env.SWITCHYARD_NATS_SERVERS, 'nats://h:1,nats://h:2');
  assert.equal(env.SWITCHYARD_REGION, 'eu');
  assert.equal(env.SWITCHYARD_CONCURRENCY, '3');
  assert.equal(env.SWITCHYARD_WORKER_ID, 'w-1');
});

test('should list every bad flag at once, and say what to do without dev.json', async () => {
  const io = recordingIo({}, dir);
  const code = await runCli(
    [
      'worker',
      '--function-id',
      'x',
      '--version-id',
      V,
      '--upstream',
      'tcp://h',
      '--concurrency',
      '0',
      '--state-dir',
      'none',
    ],
    io,
  );
  assert.equal(code, 2);
  assert.match(io.err, /--function-id must be a UUID/);
  assert.match(io.err, /--upstream must be grpc:\/\/HOST:PORT or http:\/\/HOST:PORT/);
  assert.match(io.err, /--concurrency must be an integer >= 1/);
  const noState = recordingIo({}, dir);
  assert.equal(
    await runCli(
      ['worker', '--function-id', F, '--version-id', V, '--upstream', 'grpc://127.0.0.1:1', '--state-dir', 'none'],
      noState,
    ),
    1,
  );
  assert.match(noState.err, /no \.switchyard\/dev\.json found: run `npm start` first or pass --nats and --region/);
});

test('should run a real worker in the foreground and stop it with SIGTERM', { timeout: 60_000 }, async () => {
  const nats = await startNats({});
  const nc = await connect({ servers: nats.url });
  const store = await ControlStore.open(nc);
  const { fn, version } = await store.createFunction({ accountId: 'default', name: 'echo', kind: 'grpc' });
  const echo = await startEchoServer({ port: 0, host: '127.0.0.1' });
  writeDevJson(join(dir, 'b'), nats.url, 'local');
  const child = spawn(
    process.execPath,
    [
      MAIN,
      'worker',
      '--function-id',
      fn.functionId,
      '--version-id',
      version.versionId,
      '--upstream',
      `grpc://127.0.0.1:${echo.port}`,
      '--worker-id',
      'cli-test-worker',
      '--state-dir',
      'b',
    ],
    { cwd: dir, env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  try {
    const deadline = Date.now() + 30_000;
    while (!out.includes('\n') && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 50));
    const ready = JSON.parse(out.split('\n')[0]);
    assert.equal(ready.ready, true, err);
    assert.equal(ready.service, 'worker');
    assert.equal(ready.workerId, 'cli-test-worker');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await echo.stop();
    await store.close();
    await nc.close();
  }
});
