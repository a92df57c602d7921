// `switchyard dev` end to end: the whole local region as child processes on free ports, dev.json,
// an echo call through the gRPC proxy, reuse of functions and key on restart, and a clean stop in
// which every child goes away. Also: fail-fast on a taken port and on a child that does not start.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { loadEchoClient } from '@switchyard/sample-functions';
import { request } from 'undici';
import { type DevState, runCli } from '../src/index.ts';
import { recordingIo } from './helpers.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-dev-test-'));
const running = new Set<ChildProcess>();

after(() => {
  for (const child of running) child.kill('SIGKILL');
  rmSync(stateDir, { recursive: true, force: true });
});

function startDev(args: string[]) {
  const child = spawn(process.execPath, [MAIN, 'dev', '--state-dir', stateDir, ...args], {
    cwd: REPO,
    env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev did not become ready in 90 s:\n${err}`)), 90_000);
    child.stdout?.on('data', () => {
      if (/Switchyard dev region 'local' is ready \(\d+(\.\d+)?s\)/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`dev exited ${code} before ready:\n${err}`));
    });
  });
  ready.catch(() => {});
  return { child, ready, exited, out: () => out, err: () => err };
}

const FREE_PORTS = [
  '--grpc-port',
  '0',
  '--callback-port',
  '0',
  '--api-port',
  '0',
  '--http-port',
  '0',
  '--http-callback-port',
  '0',
];

function readState(): DevState {
  return JSON.parse(readFileSync(join(stateDir, 'dev.json'), 'utf8'));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function echoUnary(state: DevState, payload: string): Promise<{ payload: Buffer; request_id: string }> {
  const client = loadEchoClient(state.endpoints.grpc);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${state.apiKey}`);
  metadata.set('function-id', state.functions.echo.functionId);
  return new Promise((resolve, reject) => {
    client.Unary(
      { payload: Buffer.from(payload) },
      metadata,
      { deadline: Date.now() + 20_000 },
      (err: Error | null, res: { payload: Buffer; request_id: string }) => {
        client.close();
        if (err) reject(err);
        else resolve(res);
      },
    );
  });
}

test('should start a local region, serve echo through the proxy, and stop every child on SIGTERM', {
  timeout: 180_000,
}, async () => {
  const dev = startDev(FREE_PORTS);
  await dev.ready;
  const state = readState();
  assert.equal(state.region, 'local');
  for (const endpoint of [state.endpoints.api, state.endpoints.callback])
    assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(state.endpoints.grpc, /^127\.0\.0\.1:\d+$/);
  assert.notEqual(state.endpoints.grpc, '127.0.0.1:0');
  assert.match(state.endpoints.redis, /^redis:\/\/127\.0\.0\.1:\d+$/);
  assert.match(state.apiKey, /^sy_/);
  assert.deepEqual(Object.keys(state.functions).sort(), ['echo', 'http-echo', 'inference']);
  assert.match(state.functions['http-echo'].upstream, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(state.endpoints.http ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
  // The live status page (docs/observability.md): listed, and closed to a browser that has not signed in.
  assert.equal(state.endpoints.status, `${state.endpoints.api}/ui`);
  assert.equal((await fetch(state.endpoints.status ?? '')).status, 401);
  assert.match(state.functions.echo.upstream, /^grpc:\/\/127\.0\.0\.1:\d+$/);
  // Every service's metrics port, on by default on loopback, listed per region; each answers /readyz.
  const metrics = state.metrics?.local ?? {};
  assert.deepEqual(Object.keys(metrics).sort(), [
    'api',
    'grpc-proxy',
    'invocation',
    'worker-echo',
    'worker-http-echo',
    'worker-inference',
  ]);
  for (const url of Object.values(metrics)) {
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    assert.equal((await fetch(url.replace(/\/metrics$/, '/readyz'))).status, 200, url);
  }
  const names = [
    'nats',
    'redis',
    'api',
    'grpc-proxy',
    'invocation',
    'sample-echo',
    'sample-inference',
    'sample-http-echo',
    'worker-echo',
    'worker-inference',
    'worker-http-echo',
  ];
  for (const name of names) assert.ok(isAlive(state.pids[name]), `${name} is not running`);
  assert.equal(state.pids.dev, dev.child.pid);
  // The invocation service and the workers run with their Node options (docs/configuration.md).
  const argvOf = (name: string) => readFileSync(`/proc/${state.pids[name]}/cmdline`, 'utf8').split('\0');
  for (const [name, service] of [
    ['invocation', 'invocation'],
    ['worker-http-echo', 'worker'],
    ['worker-echo', 'worker'],
  ] as const)
    for (const option of SERVICE_NODE_OPTIONS[service])
      assert.ok(argvOf(name).includes(option), `${name}: ${argvOf(name).join(' ')}`);
  assert.match(dev.out(), /grpcurl -plaintext/);

  // H1: the product page's HTTP call, Host form, through the dev stack's invocation service.
  const gateway = (state.endpoints.http ?? '').replace('http://', '');
  const httpRes = await request(`${state.endpoints.http}/echo`, {
    method: 'POST',
    headers: {
      host: `${state.functions['http-echo'].functionId}.invocation.${gateway}`,
      authorization: `Bearer ${state.apiKey}`,
      'content-type': 'application/json',
    },
    body: '{"message": "hello"}',
  });
  assert.equal(httpRes.statusCode, 200);
  assert.equal(httpRes.headers['nvcf-status'], 'fulfilled');
  assert.equal(((await httpRes.body.json()) as { body: string }).body, '{"message": "hello"}');

  const res = await echoUnary(state, 'hello switchyard');
  assert.equal(res.payload.toString(), 'hello switchyard');
  assert.match(res.request_id, /^[0-9a-f-]{36}$/);
  // The proxy counted the call by function, version and outcome (gRPC OK), with a duration histogram.
  const exposition = await (await fetch(state.metrics?.local?.['grpc-proxy'] ?? '')).text();
  const echo = state.functions.echo;
  const callLabels = `switchyard_function_id="${echo.functionId}",switchyard_function_version_id="${echo.versionId}",switchyard_outcome="0"`;
  assert.ok(exposition.includes('switchyard_calls_total{') && exposition.includes(callLabels), exposition);
  assert.match(exposition, /^switchyard_call_duration_seconds_bucket\{[^}]*le="1800"/m);

  const io = recordingIo({}, REPO);
  assert.equal(await runCli(['functions', 'list', '--state-dir', stateDir], io), 0, io.err);
  assert.match(io.out, new RegExp(state.functions.inference.functionId));

  dev.child.kill('SIGTERM');
  const [code] = await dev.exited;
  assert.equal(code, 0, dev.err());
  for (const name of names) assert.ok(!isAlive(state.pids[name]), `${name} (pid ${state.pids[name]}) is still running`);
  assert.deepEqual(readState().pids, {});

  // A second run on the same state dir reuses the functions (NATS store in .switchyard/nats) and key.
  const again = startDev(FREE_PORTS);
  await again.ready;
  const second = readState();
  assert.equal(second.functions.echo.functionId, state.functions.echo.functionId);
  assert.equal(second.functions.inference.versionId, state.functions.inference.versionId);
  assert.equal(second.apiKey, state.apiKey);
  assert.equal((await echoUnary(second, 'again')).payload.toString(), 'again');
  again.child.kill('SIGINT');
  assert.equal((await again.exited)[0], 0, again.err());
  for (const name of names) assert.ok(!isAlive(second.pids[name]), `${name} is still running after SIGINT`);
});

test('should fail fast naming a taken port and the flag to change it', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    const dev = startDev(['--grpc-port', '0', '--callback-port', '0', '--api-port', String(port)]);
    const [code] = await dev.exited;
    assert.equal(code, 1);
    assert.match(dev.err(), new RegExp(`port ${port} \\(API\\) is already in use`));
    assert.match(dev.err(), /--api-port N or set SWITCHYARD_DEV_API_PORT=N/);
  } finally {
    blocker.close();
  }
});

test('should name a child that does not start in time, show its last lines and stop the others', async () => {
  const dev = startDev([...FREE_PORTS, '--ready-timeout-ms', '1']);
  const [code] = await dev.exited;
  assert.equal(code, 1);
  assert.match(dev.err(), /error: (nats|redis) did not start within 1 ms/);
  assert.match(dev.err(), /hint: see .*logs\/(nats|redis)\.log/);
});
