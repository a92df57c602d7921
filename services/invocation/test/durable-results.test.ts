// Durable 202 results (issue 11 item 4) against a real redis-server that the test stops and restarts
// at the same port: a poll while Redis is down answers an explicit error, never 404 or an endless 202;
// an answer that could not be kept is answered 500 SY_RESULT_LOST; a result handed to a poller that
// drops mid-body stays for the next poll; body and metadata expire together.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startRedis, waitFor } from '@switchyard/testkit';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { DEFAULT_CLAIM_LEASE_MS, ResultStore } from '../src/result-store.ts';
import { type HarnessInvocation, InvocationHarness, patternBuffer } from './harness.ts';

interface Problem {
  status: number;
  code: string;
}

describe('durable 202 results (H9, issue 11 item 4)', () => {
  const h = new InvocationHarness();
  let a: HarnessInvocation;
  const auth = () => ({ authorization: `Bearer ${h.apiKey}` });
  const status = (reqId: string, wait?: string) =>
    request(`${a.url}/v2/nvcf/pexec/status/${reqId}`, {
      headers: { ...auth(), ...(wait ? { 'nvcf-poll-seconds': wait } : {}) },
    });
  const accepted = async (path: string) => {
    const res = await request(`${a.url}${path}`, {
      headers: { host: h.host(a), ...auth(), 'nvcf-poll-seconds': '1' },
    });
    assert.equal(res.statusCode, 202);
    await res.body.dump();
    return String(res.headers['nvcf-reqid']);
  };
  const restartRedis = async (downMs: number) => {
    const port = h.redis.port;
    await h.redis.kill();
    await new Promise((r) => setTimeout(r, downMs));
    h.redis = await startRedis({ port });
  };

  before(async () => {
    await h.start();
    a = await h.addInvocation({ resultChunkBytes: 16 * 1024 });
    await h.addWorker();
  });
  after(() => h.stop());

  it('should answer 503 errored problem+json (not 404, not 202) while Redis is down, and the result once it is back', async () => {
    const reqId = await accepted('/download?bytes=50000&delayMs=1500');
    await new Promise((r) => setTimeout(r, 2_500)); // stored
    const port = h.redis.port;
    // Stop it for good first: a Redis that is down is a 503, whatever was stored.
    const probe = new Redis(h.redis.url, { maxRetriesPerRequest: 1 });
    const stored = await probe.hgetall(ResultStore.metaKey(reqId));
    assert.equal(stored.state, 'ready');
    const ttls = await Promise.all([probe.pttl(ResultStore.metaKey(reqId)), probe.pttl(ResultStore.bodyKey(reqId))]);
    assert.ok(Math.abs(ttls[0] - ttls[1]) < 1_000, `body and metadata expire together: ${ttls}`);
    probe.disconnect();
    await h.redis.kill();
    const down = await status(reqId);
    assert.equal(down.statusCode, 503);
    assert.equal(down.headers['nvcf-status'], 'errored');
    assert.equal(down.headers['content-type'], 'application/problem+json');
    assert.equal(((await down.body.json()) as Problem).code, 'SY_RESULT_STORE_UNAVAILABLE');
    h.redis = await startRedis({ port });
    // Restarted empty: that result is gone with it (a persistent Redis would still have it).
  });

  it('should answer 500 SY_RESULT_LOST (not pending forever, not 404) when Redis restarts empty while the answer is stored', async () => {
    const reqId = await accepted('/download?bytes=40000&delayMs=2500');
    // Redis goes away before the answer arrives and comes back empty after it did.
    await restartRedis(3_000);
    // The service reconnects (ioredis backs off up to 2 s) and puts back the records it holds.
    await new Promise((r) => setTimeout(r, 3_000));
    const res = await status(reqId, '30');
    const body = (await res.body.json()) as Problem;
    assert.equal(res.statusCode, 500, JSON.stringify(body));
    assert.equal(res.headers['nvcf-status'], 'errored');
    assert.equal(body.code, 'SY_RESULT_LOST');
  });

  it('should keep a result whose poller dropped mid-body, and hand it whole to the next poll, once', async () => {
    // Larger than what the loopback socket buffers and undici hold for a reader that stops: the
    // service is surely mid-body (waiting for the socket to drain) when this poller drops.
    const size = 8 * 1024 * 1024;
    const reqId = await accepted(`/download?bytes=${size}&delayMs=1200`);
    const first = await status(reqId, '30');
    assert.equal(first.statusCode, 200);
    // Read a little, stop reading until the service has stopped renewing its claim (it waits for the
    // socket), then drop the connection.
    const iterator = first.body[Symbol.asyncIterator]();
    assert.equal((await iterator.next()).done, false);
    const probe = new Redis(h.redis.url, { maxRetriesPerRequest: 1 });
    try {
      await waitFor(async () => (await probe.pttl(ResultStore.claimKey(reqId))) < DEFAULT_CLAIM_LEASE_MS - 1_000, {
        timeoutMs: 30_000,
        intervalMs: 100,
        what: 'the service blocked on a full socket',
      });
      first.body.destroy();
      // The claim is given back at once, not when its lease (30 s) runs out: the next poll, waiting
      // less than the lease, gets the result.
      const second = await status(reqId, '10');
      assert.equal(second.statusCode, 200);
      const got = Buffer.from(await second.body.arrayBuffer());
      assert.equal(got.length, size);
      assert.ok(got.equals(patternBuffer(size)), 'the bytes the container sent');
    } finally {
      probe.disconnect();
    }
    // Delivered, then gone. The poll waits: its claim is settled (the result deleted) just after the
    // last byte left, and a poll before that meets the claim and answers 202. A 503 is allowed only
    // within RESTART_GRACE_MS of the earlier restarts.
    for (let tries = 0; ; tries++) {
      const third = await status(reqId, '10');
      await third.body.dump();
      if (third.statusCode === 503 && tries < 30) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      assert.equal(third.statusCode, 404);
      break;
    }
  });

  it('should answer 500 SY_RESULT_LOST once the instance holding a pending result died (its lease ran out)', async () => {
    const owner = new Redis(h.redis.url, { maxRetriesPerRequest: 1 });
    const dead = new ResultStore(owner, { ttlMs: 60_000, maxBytes: 1024, chunkBytes: 1024, ownerLeaseMs: 1_000 });
    const reqId = '11111111-2222-4333-8444-555555555555';
    await dead.begin(reqId, h.accountId);
    const early = await status(reqId);
    assert.equal(early.statusCode, 202, 'pending while its owner lives');
    await early.body.dump();
    dead.close(); // the owner stops renewing: as if it was SIGKILLed
    owner.disconnect();
    const res = await status(reqId, '10');
    const body = (await res.body.json()) as Problem;
    assert.equal(res.statusCode, 500, JSON.stringify(body));
    assert.equal(res.headers['nvcf-status'], 'errored');
    assert.equal(body.code, 'SY_RESULT_LOST');
    const again = await status(reqId);
    assert.equal(again.statusCode, 500, 'every later poll says lost too');
    await again.body.dump();
  });

  it('should answer 503 (not 404) for a result that vanished with a Redis restart, while its owner puts it back', async () => {
    const reqId = await accepted('/slow?ms=6000');
    await restartRedis(500);
    // Before the service reconnects, or while it puts its records back: never a 404.
    const res = await status(reqId);
    assert.ok([202, 503].includes(res.statusCode), `got ${res.statusCode}`);
    await res.body.dump();
    const done = await status(reqId, '30');
    assert.equal(done.statusCode, 200);
    assert.deepEqual(await done.body.json(), { slept: 6000 });
  });
});
