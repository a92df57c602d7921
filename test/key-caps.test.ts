// Issue 11 item 2: per-API-key caps with every part a process (nats-server, Redis, the gRPC proxy and
// the invocation service configured through SWITCHYARD_* variables, a worker per function, an echo
// and an HTTP sample container): a key's third session on the proxy gets RESOURCE_EXHAUSTED, its
// third invocation in flight gets 429 problem+json with Retry-After, and each place is free again
// once a session or request ends. (WebSocket caps: services/grpc-proxy/test/key-caps.test.ts.)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { echoClient, sleep, unary } from '../services/worker/test/helpers.ts';
import { launchProcessRegion, type ProcessRegion } from './process-region.ts';

const REGION = 'caps';
let region: ProcessRegion;

before(async () => {
  region = await launchProcessRegion({
    region: REGION,
    redis: true,
    services: ['grpc-proxy', 'invocation'],
    serviceEnv: {
      'grpc-proxy': { SWITCHYARD_MAX_SESSIONS_PER_KEY: '2' },
      invocation: { SWITCHYARD_MAX_CONCURRENT_REQUESTS_PER_KEY: '2' },
    },
    functions: [
      { name: 'echo', kind: 'grpc', sample: 'echo' },
      { name: 'http', kind: 'http', sample: 'http', inferenceUrl: '/echo' },
    ],
    concurrency: 16,
  });
});

after(() => region?.stop());

test('a key past SWITCHYARD_MAX_SESSIONS_PER_KEY gets RESOURCE_EXHAUSTED from the proxy until a session ends', async () => {
  const address = region.launch.regions[REGION].endpoints.grpc;
  const md = { authorization: `Bearer ${region.apiKey}`, 'function-id': region.fns.echo.functionId };
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
  const base = new URL(region.launch.regions[REGION].endpoints.http);
  // undici's request (fetch would drop the Host header that names the function).
  const send = (path: string) =>
    request(`${base.origin}${path}`, {
      headers: {
        host: `${region.fns.http.functionId}.invocation.${base.host}`,
        authorization: `Bearer ${region.apiKey}`,
      },
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
