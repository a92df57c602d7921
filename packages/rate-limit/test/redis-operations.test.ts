// recordRedisOperations against a real redis-server: plain commands, a script (EVALSHA, and the
// NOSCRIPT reply before ioredis falls back to EVAL, which is a reply, not an error) and the commands
// of a MULTI are timed under bounded names; a command that gets no reply (server gone, offline queue
// off) and one past its commandTimeout are counted by kind.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type RedisHandle, startRedis } from '@switchyard/testkit';
import { Redis } from 'ioredis';
import { type RedisErrorKind, recordRedisOperations, TokenBuckets } from '../src/index.ts';

function collector() {
  const records: { operation: string; seconds: number; error: RedisErrorKind | undefined }[] = [];
  return {
    records,
    operation(operation: string, seconds: number, error: RedisErrorKind | undefined) {
      records.push({ operation, seconds, error });
    },
    ops: () => records.map((r) => (r.error ? `${r.operation}:${r.error}` : r.operation)),
  };
}

describe('recordRedisOperations', () => {
  let server: RedisHandle;
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server.stop();
  });

  it('should time commands, scripts and MULTI under bounded names', async () => {
    const redis = new Redis(server.url, { lazyConnect: true });
    const rec = collector();
    recordRedisOperations(redis, rec);
    try {
      await redis.connect();
      await redis.set('k', 'v');
      assert.equal(await redis.get('k'), 'v');
      await redis.multi().set('m', '1').pexpire('m', 1_000).exec();
      await redis.sendCommand(new Redis.Command('dbsize', []));
      await new TokenBuckets(redis).take([{ key: 'rl:test', perMinute: 5 }]);
      const ops = rec.ops();
      for (const op of ['set', 'get', 'multi', 'pexpire', 'exec', 'other'])
        assert.ok(ops.includes(op), `${op} in ${ops.join(', ')}`);
      assert.ok(ops.includes('evalsha') || ops.includes('eval'), `a script in ${ops.join(', ')}`);
      assert.ok(!ops.some((o) => o.includes(':')), `no errors: ${ops.join(', ')}`);
      assert.ok(!ops.includes('dbsize'), 'unknown commands are "other"');
    } finally {
      redis.disconnect();
    }
  });

  it('should count a command without a reply as other, and one past commandTimeout as timeout', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    const rec = collector();
    recordRedisOperations(dead, rec);
    await assert.rejects(dead.get('x'));
    dead.disconnect();
    assert.deepEqual(rec.ops(), ['get:other']);

    const slow = new Redis(server.url, { commandTimeout: 100 });
    const rec2 = collector();
    recordRedisOperations(slow, rec2);
    try {
      await assert.rejects(slow.blpop('never', 5));
      // The connection handshake (HELLO, CLIENT SETINFO, INFO) answers; BLPOP, sent from the offline
      // queue, is recorded once.
      assert.deepEqual(
        rec2.ops().filter((o) => o.includes(':')),
        ['other:timeout'],
      );
    } finally {
      slow.disconnect();
    }
  });
});
