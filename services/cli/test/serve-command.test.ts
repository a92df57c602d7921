// `switchyard serve <service>`: the production entry point. Env files and --set over the environment,
// clear usage errors, a config problem listed with exit 1, and real services started through the CLI
// (in this process when it has the service's Node options, else as one child) that drain on SIGTERM
// and exit 0.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type NatsServerHandle, type RedisHandle, startNats, startRedis, stopAll } from '@switchyard/testkit';
import { runCli, serveEnv, variableOf } from '../src/index.ts';
import { recordingIo } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'switchyard-serve-'));

after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

test('--set takes a config field or its variable; env files come first and the environment wins over them', () => {
  assert.equal(variableOf('region'), 'SWITCHYARD_REGION');
  assert.equal(variableOf('callbackPort'), 'SWITCHYARD_CALLBACK_PORT');
  assert.equal(variableOf('SWITCHYARD_NATS_SERVERS'), 'SWITCHYARD_NATS_SERVERS');
  assert.equal(variableOf('PATH'), undefined);
  assert.equal(variableOf('bad-name'), undefined);
  const file = join(dir, 'svc.env');
  writeFileSync(
    file,
    'SWITCHYARD_REGION=from-file\nSWITCHYARD_PORT=1\n# a comment\nSWITCHYARD_ADMIN_TOKEN="quoted value"\n',
  );
  const env = serveEnv({ envFile: [file], set: ['port=2', 'SWITCHYARD_X=a=b'] }, { SWITCHYARD_REGION: 'from-env' });
  assert.equal(env.SWITCHYARD_REGION, 'from-env', 'the environment wins over an env file');
  assert.equal(env.SWITCHYARD_PORT, '2', '--set wins over everything');
  assert.equal(env.SWITCHYARD_ADMIN_TOKEN, 'quoted value');
  assert.equal(env.SWITCHYARD_X, 'a=b', 'only the first = splits');
});

test('usage errors are listed at once with exit 2; a config problem is the service’s own list with exit 1', async () => {
  const unknown = recordingIo({}, dir);
  assert.equal(await runCli(['serve', 'nginx'], unknown), 2);
  assert.match(unknown.err, /unknown service "nginx": one of grpc-proxy, invocation, api, worker, geodns/);
  const bad = recordingIo({}, dir);
  assert.equal(await runCli(['serve', 'api', '--env-file', join(dir, 'missing.env'), '--set', 'nope'], bad), 2);
  assert.match(bad.err, /--env-file .*missing\.env: ENOENT/);
  assert.match(bad.err, /--set must be <field>=<value>/);

  const child = spawn(process.execPath, [MAIN, 'serve', 'api'], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [out, err, code] = await collect(child);
  assert.equal(code, 1);
  assert.equal(out, '');
  assert.match(err, /SWITCHYARD_NATS_SERVERS \(natsServers\): required but not set/);
  assert.match(err, /SWITCHYARD_ADMIN_TOKEN \(adminToken\): required but not set/);
});

test('--version prints the package version', async () => {
  const io = recordingIo({}, dir);
  assert.equal(await runCli(['--version'], io), 0);
  assert.match(io.out, /^\d+\.\d+\.\d+/);
});

describe('real services through serve', () => {
  let nats: NatsServerHandle;
  let redis: RedisHandle;
  before(async () => {
    nats = await startNats({});
    redis = await startRedis();
  });

  test('api runs in the CLI’s own process (no Node options needed), answers, and drains on SIGTERM with exit 0', {
    timeout: 60_000,
  }, async () => {
    const file = join(dir, 'api.env');
    writeFileSync(file, `SWITCHYARD_NATS_SERVERS=${nats.url}\nSWITCHYARD_ADMIN_TOKEN=${'t'.repeat(24)}\n`);
    const child = spawn(process.execPath, [MAIN, 'serve', 'api', '--env-file', file, '--set', 'port=0'], {
      env: { PATH: process.env.PATH ?? '', SWITCHYARD_LOG_LEVEL: 'warn', SWITCHYARD_REGION: 'serve-test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const ready = await readyLine(child);
    assert.equal(ready.service, 'api');
    const res = await fetch(`http://127.0.0.1:${ready.port}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(await processCount(child.pid as number), 0, 'no child process: the api runs in the CLI process');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
  });

  test('invocation runs as one child with --expose-gc; SIGTERM to the CLI reaches it and both exit 0', {
    timeout: 60_000,
  }, async () => {
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'serve',
        'invocation',
        '--set',
        `natsServers=${nats.url}`,
        '--set',
        `redisUrl=${redis.url}`,
        '--set',
        'port=0',
        '--set',
        'callbackPort=0',
      ],
      { env: { PATH: process.env.PATH ?? '', SWITCHYARD_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const ready = await readyLine(child);
    assert.equal(ready.service, 'invocation');
    assert.equal(await processCount(child.pid as number), 1, 'one child: the service with its Node options');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, 'the drained service’s exit code is the CLI’s');
  });
});

/** Reads a child's stdout and stderr to its exit. */
async function collect(child: ChildProcess): Promise<[string, string, number | null]> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const [code] = await once(child, 'exit');
  return [out, err, code];
}

/** The `{"ready":true,...}` line a service prints on stdout once it listens. */
async function readyLine(child: ChildProcess): Promise<Record<string, unknown>> {
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 30 s: ${err}`)), 30_000);
    child.stdout?.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{"ready":true'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code} before ready: ${err}`)));
  });
}

/** Number of child processes of `pid` (from /proc). */
async function processCount(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim() === '' ? 0 : text.trim().split(/\s+/).length;
}
