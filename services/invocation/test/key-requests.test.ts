// Issue 11 item 2: a per-API-key cap on invocations in flight on one invocation instance, driven past
// its limit against real servers (NATS, Redis, the service's listener, a worker, an HTTP container):
// one more request is answered 429 problem+json (SY_KEY_REQUESTS_EXCEEDED) with Retry-After, other
// keys and status polls are unaffected, and the place is free again once a request ends, also when
// its client left while the key was being authorized.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTcpRelay, waitFor } from '@switchyard/testkit';
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

  it('should give the place back when the client leaves while its key is being authorized', async () => {
    // A replica whose NATS link delays every chunk by 400 ms each way: a key created a moment ago is
    // not in its copy yet, so authorizeFresh waits for a catch-up (a stream info round trip, ~800 ms).
    const relay = await startTcpRelay({ targetPort: h.nats.port });
    const slow = await h.addInvocation(
      { maxConcurrentRequestsPerKey: 1 },
      { natsUrl: `nats://127.0.0.1:${relay.port}` },
    );
    try {
      relay.setDelay(400);
      const { key } = await h.control.createApiKey({ accountId: h.accountId });
      const send = (signal?: AbortSignal) =>
        request(`${slow.url}/echo`, {
          headers: { host: h.host(slow), authorization: `Bearer ${key}` },
          signal,
        });
      const leave = new AbortController();
      const left = send(leave.signal).then(
        () => assert.fail('the request whose client left was answered'),
        () => undefined,
      );
      // The key reaches the replica's watch (one delayed push) while the request's catch-up still
      // waits for its stream info reply: the client leaves during the authorization.
      await waitFor(() => slow.control.authenticate(key) !== undefined, { what: 'the key in the replica' });
      leave.abort();
      await left;
      // A catch-up asked for now runs after the request's one: once it is done, the request has taken
      // its place (and, with the client gone, must have given it back).
      assert.equal(await slow.control.catchUp(5_000), true);
      relay.setDelay(0);
      const again = await send();
      assert.equal(again.statusCode, 200, 'the only place of the key is free again');
      await again.body.dump();
    } finally {
      await slow.stop();
      h.invocations.splice(h.invocations.indexOf(slow), 1);
      await relay.stop();
    }
  });
});
