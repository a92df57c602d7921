// G1, G2: authentication, authorization, request shape and rate limits of the gRPC proxy, against a
// real region (nats-server, control store, proxy, worker, echo container) and a real redis-server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { EchoClient } from '@switchyard/sample-functions';
import { type RedisHandle, startRedis } from '@switchyard/testkit';
import { Redis } from 'ioredis';
import { RateLimiter } from '../src/rate-limit.ts';
import {
  eventually,
  grpcFrame,
  grpcRequestHeaders,
  h2connect,
  newChannel,
  rawH2,
  reqIdOf,
  unary,
} from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, RegionHarness } from './region-harness.ts';

describe('authentication and authorization (G1, G2)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let other: HarnessFunction;
  let client: EchoClient;
  before(async () => {
    await h.start();
    proxy = await h.addProxy();
    await h.addWorker({ concurrency: 100 });
    other = await h.addFunction({ name: 'other' });
    client = newChannel(proxy.address);
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  test('G1: should accept `authorization: Bearer <key>` with function-id, with or without function-version-id', async () => {
    const plain = await unary(client, { payload: Buffer.from('a') }, h.metadata());
    assert.equal(plain.error, undefined);
    assert.equal(plain.response?.payload.toString(), 'a');
    const versioned = await unary(
      client,
      { payload: Buffer.from('b') },
      h.metadata({ 'function-version-id': h.versionId }),
    );
    assert.equal(versioned.error, undefined);
    assert.equal(versioned.response?.payload.toString(), 'b');
  });

  test('G1: should accept the authorization header produced by gRPC call credentials', async () => {
    const credentials = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${h.apiKey}`);
      callback(null, md);
    });
    const result = await unary(
      client,
      { payload: Buffer.from('creds') },
      { 'function-id': h.functionId },
      { credentials },
    );
    assert.equal(result.error, undefined, result.error?.message);
    assert.equal(result.response?.payload.toString(), 'creds');
  });

  test('G2: should answer UNAUTHENTICATED "no authorization was passed in the metadata" without authorization', async () => {
    const result = await unary(client, {}, { 'function-id': h.functionId });
    assert.equal(result.status.code, grpc.status.UNAUTHENTICATED);
    assert.equal(result.status.details, 'no authorization was passed in the metadata');
  });

  for (const value of ['Basic x', 'Bearer', 'Bearer ', 'Token abc']) {
    test(`G2: should answer UNAUTHENTICATED "no authorization was passed in the metadata" for a malformed authorization ${JSON.stringify(value)}`, async () => {
      const result = await unary(client, {}, { authorization: value, 'function-id': h.functionId });
      assert.equal(result.status.code, grpc.status.UNAUTHENTICATED);
      assert.equal(result.status.details, 'no authorization was passed in the metadata');
    });
  }

  test('G2: should answer UNAUTHENTICATED for an unknown API key', async () => {
    const result = await unary(client, {}, { authorization: 'Bearer sy_unknownkey', 'function-id': h.functionId });
    assert.equal(result.status.code, grpc.status.UNAUTHENTICATED);
    assert.doesNotMatch(result.status.details, /sy_unknownkey/);
  });

  test('G2: should answer UNAUTHENTICATED within 1 s of a revocation, also on a connection already pinned to a session', async () => {
    const { key, keyId } = await h.addApiKey();
    const md = { authorization: `Bearer ${key}`, 'function-id': h.functionId };
    const pinnedChannel = newChannel(proxy.address);
    try {
      const first = await unary(pinnedChannel, {}, md);
      assert.equal(first.error, undefined);
      const second = await unary(pinnedChannel, {}, md);
      assert.equal(reqIdOf(second), reqIdOf(first), 'the connection is pinned');
      // Revoke through a different NATS connection than the proxy's: the proxy learns it from its watch.
      const revokedAt = Date.now();
      await h.control.revokeApiKey(keyId);
      await eventually(
        async () => (await unary(pinnedChannel, {}, md)).status.code === grpc.status.UNAUTHENTICATED,
        1_000,
        'the pinned connection to refuse the revoked key',
      );
      assert.ok(Date.now() - revokedAt <= 1_100);
      const fresh = newChannel(proxy.address);
      const onNew = await unary(fresh, {}, md);
      fresh.close();
      assert.equal(onNew.status.code, grpc.status.UNAUTHENTICATED);
    } finally {
      pinnedChannel.close();
    }
  });

  test('G2: should answer PERMISSION_DENIED for a key scoped to another function', async () => {
    const { key } = await h.addApiKey({ functions: [other.functionId] });
    const result = await unary(client, {}, { authorization: `Bearer ${key}`, 'function-id': h.functionId });
    assert.equal(result.status.code, grpc.status.PERMISSION_DENIED);
  });

  test('G2: should answer INVALID_ARGUMENT "no function-id was passed in the metadata" without function-id', async () => {
    const result = await unary(client, {}, { authorization: `Bearer ${h.apiKey}` });
    assert.equal(result.status.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(result.status.details, 'no function-id was passed in the metadata');
  });

  test('G2: should answer INVALID_ARGUMENT for a function-id that is not a UUID', async () => {
    const result = await unary(client, {}, h.metadata({ 'function-id': 'echo' }));
    assert.equal(result.status.code, grpc.status.INVALID_ARGUMENT);
  });

  test('G2: should answer NOT_FOUND for an unknown function', async () => {
    const result = await unary(client, {}, h.metadata({ 'function-id': '2f1b3a8e-6b1c-4c55-9d2e-0c7c1f3a9b10' }));
    assert.equal(result.status.code, grpc.status.NOT_FOUND);
  });

  test('G2: should answer NOT_FOUND for an unknown version, and for a version of another function', async () => {
    const unknown = await unary(
      client,
      {},
      h.metadata({ 'function-version-id': '9d3c8f0e-1a2b-4c3d-8e4f-5a6b7c8d9e0f' }),
    );
    assert.equal(unknown.status.code, grpc.status.NOT_FOUND);
    const foreign = await unary(client, {}, h.metadata({ 'function-version-id': other.versionId }));
    assert.equal(foreign.status.code, grpc.status.NOT_FOUND);
  });

  test("G2: should answer NOT_FOUND for another account's function", async () => {
    const foreign = await h.addFunction({ accountId: 'acct-foreign' });
    const result = await unary(client, {}, h.metadata({}, foreign));
    assert.equal(result.status.code, grpc.status.NOT_FOUND);
  });
});

describe('rate limits (G2)', () => {
  const h = new RegionHarness();
  let redisServer: RedisHandle;
  let redis: Redis;
  let proxy: HarnessProxy;
  before(async () => {
    await h.start();
    redisServer = await startRedis();
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    redis.on('error', () => undefined);
    proxy = await h.addProxy({}, { rateLimiter: new RateLimiter(redis, 2) });
    await h.addWorker({ concurrency: 100 });
  });
  after(async () => {
    redis.disconnect();
    await redisServer.stop().catch(() => undefined);
    await h.stop();
  });

  test('G2: should answer RESOURCE_EXHAUSTED "exceeded rate limit" for the third new session of a key in a minute, and keep serving pinned calls', async () => {
    const { key } = await h.addApiKey();
    const md = { authorization: `Bearer ${key}`, 'function-id': h.functionId };
    const channels = [newChannel(proxy.address), newChannel(proxy.address), newChannel(proxy.address)];
    try {
      const first = await unary(channels[0], {}, md);
      const second = await unary(channels[1], {}, md);
      assert.equal(first.error, undefined);
      assert.equal(second.error, undefined);
      assert.notEqual(reqIdOf(first), reqIdOf(second));
      const third = await unary(channels[2], {}, md);
      assert.equal(third.status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.equal(third.status.details, 'exceeded rate limit');
      // Calls on an existing session are not new sessions.
      const pinned = await unary(channels[0], {}, md);
      assert.equal(pinned.error, undefined);
      assert.equal(reqIdOf(pinned), reqIdOf(first));
      // Another key has its own bucket.
      const others = await unary(channels[2], {}, h.metadata());
      assert.equal(others.error, undefined);
    } finally {
      for (const c of channels) c.close();
    }
  });

  test('S4: should count a new session against the queue bound before it waits for the rate limiter', async () => {
    const orphan = await h.addFunction({ name: 'orphan' });
    const bounded = await h.addProxy(
      { maxQueuePerVersion: 1, attachTimeoutMs: 500 },
      { rateLimiter: new RateLimiter(redis, 100) },
    );
    // Two pins of one version (with and without function-version-id) on one connection, sent together.
    const session = h2connect(bounded.address);
    try {
      const headers = grpcRequestHeaders({ authorization: `Bearer ${h.apiKey}`, 'function-id': orphan.functionId });
      const [a, b] = await Promise.all([
        rawH2(session, headers, grpcFrame({})),
        rawH2(session, { ...headers, 'function-version-id': orphan.versionId }, grpcFrame({})),
      ]);
      const codes = [a.headers['grpc-status'], b.headers['grpc-status']].sort();
      assert.deepEqual(codes, [String(grpc.status.DEADLINE_EXCEEDED), String(grpc.status.RESOURCE_EXHAUSTED)]);
    } finally {
      session.close();
    }
  });

  test('G2: should answer UNAVAILABLE (not crash, not allow) when Redis is down', async () => {
    await redisServer.stop();
    const channel = newChannel(proxy.address);
    try {
      const result = await unary(channel, {}, h.metadata(), { deadline: Date.now() + 5_000 });
      assert.equal(result.status.code, grpc.status.UNAVAILABLE);
      assert.equal(result.status.details, 'rate limiter unavailable');
      // The proxy still answers.
      const again = await unary(channel, {}, { 'function-id': h.functionId });
      assert.equal(again.status.code, grpc.status.UNAUTHENTICATED);
    } finally {
      channel.close();
    }
  });
});
