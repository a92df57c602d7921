// Token buckets against a real redis-server (H10, G2).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isSwitchyardError } from '@switchyard/protocol';
import { type RedisHandle, startRedis } from '@switchyard/testkit';
import { Redis } from 'ioredis';
import { bucketKey, TokenBuckets } from '../src/index.ts';

describe('TokenBuckets', () => {
  let server: RedisHandle;
  let redis: Redis;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
  });
  after(async () => {
    redis.disconnect();
    await server.stop();
  });

  it('H10: should take from every bucket or from none', async () => {
    const buckets = new TokenBuckets(redis);
    const key = { key: bucketKey('key', 'k1'), perMinute: 5 };
    const fn = { key: bucketKey('function', 'f1'), perMinute: 2 };
    await buckets.take([key, fn]);
    await buckets.take([key, fn]);
    await assert.rejects(buckets.take([key, fn]), (err) => isSwitchyardError(err, 'SY_RATE_LIMITED'));
    // The refused take spent nothing from the key's bucket: 3 tokens are left in it.
    for (let i = 0; i < 3; i++) await buckets.take([key]);
    await assert.rejects(buckets.take([key]), (err) => isSwitchyardError(err, 'SY_RATE_LIMITED'));
  });

  it('H10: should skip unlimited buckets and answer UNAVAILABLE when Redis fails', async () => {
    const buckets = new TokenBuckets(redis);
    await buckets.take([{ key: bucketKey('key', 'x'), perMinute: 0 }]);
    const dead = new Redis(`redis://127.0.0.1:1`, {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    dead.on('error', () => undefined);
    await assert.rejects(new TokenBuckets(dead).take([{ key: 'k', perMinute: 1 }]), (err) =>
      isSwitchyardError(err, 'SY_RATE_LIMIT_UNAVAILABLE'),
    );
    dead.disconnect();
  });
});
