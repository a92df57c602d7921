// Issue 11 item 2: per-API-key caps with every part a process (nats-server, Redis, the gRPC proxy and
// the invocation service configured through SWITCHYARD_* variables, a worker per function, an echo
// and an HTTP sample container): a key's third session on the proxy gets RESOURCE_EXHAUSTED, its
// third invocation in flight gets 429 problem+json with Retry-After, and each place is free again
// once a session or request ends. (WebSocket caps: services/grpc-proxy/test/key-caps.test.ts.)

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { request } from 'undici';
import { echoClient, sleep, unary } from '../services/worker/test/helpers.ts';

const REGION = 'caps';
let launch: RegionsLaunch;
let stateDir: string;
let apiKey = '';
const fns = { echo: { functionId: '', versionId: '' }, http: { functionId: '', versionId: '' } };

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'switchyard-caps-'));
  launch = await launchRegions({
    regions: [{ name: REGION }],
    stateDir,
    logDir: join(stateDir, 'logs'),
    redis: true,
    services: ['grpc-proxy', 'invocation'],
    logLevel: 'warn',
    serviceEnv: {
      'grpc-proxy': { SWITCHYARD_MAX_SESSIONS_PER_KEY: '2' },
      invocation: { SWITCHYARD_MAX_CONCURRENT_REQUESTS_PER_KEY: '2' },
    },
    samples: () => [
      { name: 'echo', sample: 'echo', instanceId: 'echo' },
      { name: 'http', sample: 'http', instanceId: 'http' },
    ],
    prepare: async (nats) => {
      const nc = await connect({ servers: nats.urls(REGION) });
      try {
        const store = await ControlStore.open(nc);
        const echo = await store.createFunction({ accountId: 'caps', name: 'echo', kind: 'grpc' });
        fns.echo = { functionId: echo.fn.functionId, versionId: echo.version.versionId };
        const http = await store.createFunction({
          accountId: 'caps',
          name: 'http',
          kind: 'http',
          inferenceUrl: '/echo',
        });
        fns.http = { functionId: http.fn.functionId, versionId: http.version.versionId };
        apiKey = (await store.createApiKey({ accountId: 'caps' })).key;
        await store.close();
      } finally {
        await nc.close();
      }
    },
  });
  const region = launch.regions[REGION];
  await launch.waitReady(
    (['echo', 'http'] as const).map((name) =>
      launch.startWorker({
        region: REGION,
        name: `worker-${name}`,
        functionId: fns[name].functionId,
        versionId: fns[name].versionId,
        upstream: `${name === 'echo' ? 'grpc' : 'http'}://127.0.0.1:${region.samples[name].port}`,
        concurrency: 16,
        callbackAllowList: ['http://127.0.0.1:'],
      }),
    ),
  );
});

after(async () => {
  await launch?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
});

test('a key past SWITCHYARD_MAX_SESSIONS_PER_KEY gets RESOURCE_EXHAUSTED from the proxy until a session ends', async () => {
  const address = launch.regions[REGION].endpoints.grpc;
  const md = { authorization: `Bearer ${apiKey}`, 'function-id': fns.echo.functionId };
  // Each client is its own connection, so its first call starts a session.
  const [a, b, c] = [0, 1, 2].map(() => echoClient(address));
  try {
    await unary(a, {}, md);
    await unary(b, {}, md);
    await assert.rejects(unary(c, {}, md), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(err.details, /open sessions/);
      return true;
    });
    b.close();
    let served = false;
    for (const until = Date.now() + 10_000; !served && Date.now() < until; await sleep(100))
      served = await unary(c, {}, md).then(
        () => true,
        () => false,
      );
    assert.ok(served, 'a new session once one ended');
  } finally {
    for (const client of [a, b, c]) client.close();
  }
});

test('a key past SWITCHYARD_MAX_CONCURRENT_REQUESTS_PER_KEY gets 429 problem+json with Retry-After from the invocation service', async () => {
  const base = new URL(launch.regions[REGION].endpoints.http);
  // undici's request (fetch would drop the Host header that names the function).
  const send = (path: string) =>
    request(`${base.origin}${path}`, {
      headers: { host: `${fns.http.functionId}.invocation.${base.host}`, authorization: `Bearer ${apiKey}` },
    });
  const slow = [send('/sleep?ms=3000'), send('/sleep?ms=3000')];
  await sleep(700);
  const refused = await send('/echo');
  assert.equal(refused.statusCode, 429);
  assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
  assert.equal(refused.headers['retry-after'], '1');
  assert.equal(((await refused.body.json()) as { code: string }).code, 'SY_KEY_REQUESTS_EXCEEDED');
  for (const res of await Promise.all(slow)) {
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  const again = await send('/echo');
  assert.equal(again.statusCode, 200);
  await again.body.dump();
});
