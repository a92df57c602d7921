// Issue 11 item 2: a per-API-key cap on invocations in flight on one invocation instance, driven past
// its limit against real servers (NATS, Redis, the service's listener, a worker, an HTTP container):
// one more request is answered 429 problem+json (SY_KEY_REQUESTS_EXCEEDED) with Retry-After, other
// keys and status polls are unaffected, and the place is free again once a request ends.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

describe('per-key cap on concurrent requests (issue 11 item 2)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  before(async () => {
    await h.start();
    inv = await h.addInvocation({ maxConcurrentRequestsPerKey: 2 });
    await h.addWorker({ concurrency: 8 });
  });
  after(() => h.stop());

  it('should answer 429 problem+json with Retry-After past maxConcurrentRequestsPerKey and serve again once one ends', async () => {
    const send = (path: string, key = h.apiKey, extra: Record<string, string> = {}) =>
      request(`${inv.url}${path}`, { headers: { host: h.host(inv), authorization: `Bearer ${key}`, ...extra } });
    // Two slow requests hold the key's two places.
    const slow = [send('/slow?ms=2500'), send('/slow?ms=2500')];
    await new Promise((resolve) => setTimeout(resolve, 500));
    const refused = await send('/echo');
    assert.equal(refused.statusCode, 429);
    assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.headers['nvcf-status'], 'errored');
    assert.equal(((await refused.body.json()) as { code: string }).code, 'SY_KEY_REQUESTS_EXCEEDED');
    // Another key is not affected.
    const other = await h.control.createApiKey({ accountId: h.accountId });
    const otherRes = await send('/echo', other.key);
    assert.equal(otherRes.statusCode, 200);
    await otherRes.body.dump();
    for (const res of await Promise.all(slow)) {
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }
    // The places are free again.
    const again = await send('/echo');
    assert.equal(again.statusCode, 200);
    await again.body.dump();
  });

  it('should count a 202 request only until its 202 is sent', async () => {
    // NVCF-POLL-SECONDS 1: each slow request is answered 202 after 1 s and stops counting.
    const accepted = await Promise.all(
      [0, 1, 2].map(() =>
        request(`${inv.url}/slow?ms=3000`, {
          headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}`, 'nvcf-poll-seconds': '1' },
        }),
      ),
    );
    const statuses = accepted.map((r) => r.statusCode).sort();
    for (const r of accepted) await r.body.dump();
    // Two were taken (202), the third refused at once.
    assert.deepEqual(statuses, [202, 202, 429]);
    const after202 = await request(`${inv.url}/echo`, {
      headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}` },
    });
    assert.equal(after202.statusCode, 200);
    await after202.body.dump();
  });
});
