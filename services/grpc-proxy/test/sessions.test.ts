// G6-G9, G15: sessions pinned to a connection, resumed by request ID (metadata, WebSocket protocol,
// cookie), refused when unknown or gone (with the cookie cleared), when of another function or
// account, and resumed through another proxy replica.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  type CallResult,
  eventually,
  grpcFrame,
  grpcRequestHeaders,
  newChannel,
  rawH1,
  rawH2,
  reqIdOf,
  serverStream,
  setCookiesOf,
  unary,
  withChannel,
} from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, type HarnessWorker, RegionHarness } from './region-harness.ts';
import { startSlowRelay } from './slow-relay.ts';

const UNKNOWN = '3c9a7b1e-52d4-4f0a-8b6c-1d2e3f4a5b6c';

/** Asserts `b` reached the same worker session as `a`, one call later. */
function assertSameSession(a: CallResult, b: CallResult): void {
  assert.equal(a.error, undefined, a.error?.message);
  assert.equal(b.error, undefined, b.error?.message);
  assert.equal(b.response?.request_id, a.response?.request_id);
  assert.equal(b.response?.instance_id, a.response?.instance_id);
  assert.equal(b.response?.session_calls, (a.response?.session_calls ?? 0) + 1);
  assert.equal(reqIdOf(b), reqIdOf(a));
}

/** Opens a channel, runs `fn` with it, closes it. */
/**
 * One call on a new channel that stays open 100 ms before closing. Tests that wait for a session to
 * end use it: a close right after the call races the worker's attach bookkeeping (see the S1 todo).
 */
async function lingeringCall(address: string, metadata: Record<string, string>): Promise<CallResult> {
  return withChannel(address, async (c) => {
    const result = await unary(c, {}, metadata);
    await new Promise((r) => setTimeout(r, 100));
    return result;
  });
}

describe('sessions (G6-G9, G15)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let replica: HarnessProxy;
  /** Same account, a function with its own worker. */
  let sibling: HarnessFunction;
  before(async () => {
    await h.start();
    proxy = await h.addProxy();
    replica = await h.addProxy();
    // Two workers: a new session may land on either, so "same instance_id" is not luck.
    await h.addWorker({ concurrency: 100 });
    await h.addWorker({ concurrency: 100 });
    sibling = await h.addFunction({ name: 'sibling', reconnectWindowMs: 300 });
    await h.addWorker({ functionId: sibling.functionId, versionId: sibling.versionId });
  });
  after(() => h.stop());

  test('G6: should route a second call on the same channel without nvcf-reqid to the same session', async () => {
    await withChannel(proxy.address, async (c) => {
      const first = await unary(c, {}, h.metadata());
      const second = await unary(c, {}, h.metadata());
      assertSameSession(first, second);
      assert.equal(first.response?.session_calls, 1);
    });
  });

  test('G6: should give a second channel a new session', async () => {
    const a = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const b = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    assert.notEqual(reqIdOf(a), '');
    assert.notEqual(reqIdOf(b), reqIdOf(a));
    assert.equal(b.response?.session_calls, 1);
  });

  test('G6: should pin a different function-version-id header on the same connection separately', async () => {
    await withChannel(proxy.address, async (c) => {
      const bare = await unary(c, {}, h.metadata());
      const versioned = await unary(c, {}, h.metadata({ 'function-version-id': h.versionId }));
      assert.notEqual(reqIdOf(versioned), reqIdOf(bare));
      assertSameSession(versioned, await unary(c, {}, h.metadata({ 'function-version-id': h.versionId })));
      assertSameSession(bare, await unary(c, {}, h.metadata()));
    });
  });

  test('G6: should pin each function-id on the same connection separately', async () => {
    await withChannel(proxy.address, async (c) => {
      const a = await unary(c, {}, h.metadata());
      const b = await unary(c, {}, h.metadata({}, sibling));
      assert.notEqual(reqIdOf(b), reqIdOf(a));
      assertSameSession(a, await unary(c, {}, h.metadata()));
      assertSameSession(b, await unary(c, {}, h.metadata({}, sibling)));
    });
  });

  test('G6 (G13 [ours]): should never share a pinned session between two API keys on one connection', async () => {
    const { key } = await h.addApiKey();
    await withChannel(proxy.address, async (c) => {
      const mine = await unary(c, {}, h.metadata());
      const theirs = await unary(c, {}, h.metadata({ authorization: `Bearer ${key}` }));
      assert.equal(theirs.error, undefined);
      assert.notEqual(reqIdOf(theirs), reqIdOf(mine));
      assert.equal(theirs.response?.session_calls, 1);
      assertSameSession(mine, await unary(c, {}, h.metadata()));
    });
  });

  test('G7: should resume a session from a new channel by nvcf-reqid metadata', async () => {
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const resumed = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) })));
    assertSameSession(first, resumed);
  });

  test('G7: should resume while the first channel is still open (two connections on one session)', async () => {
    await withChannel(proxy.address, async (a) => {
      const first = await unary(a, {}, h.metadata());
      const resumed = await withChannel(proxy.address, (b) =>
        unary(b, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) })),
      );
      assertSameSession(first, resumed);
      const again = await unary(a, {}, h.metadata());
      assertSameSession(resumed, again);
    });
  });

  test('G7: should resume a session by the nvcf-request-id cookie', async () => {
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const resumed = await withChannel(proxy.address, (c) =>
      unary(c, {}, h.metadata({ cookie: `theme=dark; nvcf-request-id=${reqIdOf(first)}; other=1` })),
    );
    assertSameSession(first, resumed);
  });

  test('G7: should resume a session by `nvcf-reqid.<id>` in sec-websocket-protocol metadata', async () => {
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const resumed = await withChannel(proxy.address, (c) =>
      unary(c, {}, h.metadata({ 'sec-websocket-protocol': `json, nvcf-reqid.${reqIdOf(first)}` })),
    );
    assertSameSession(first, resumed);
  });

  test('G7: should prefer metadata over sec-websocket-protocol over the cookie', async () => {
    const a = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const b = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const c1 = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const all = await withChannel(proxy.address, (c) =>
      unary(
        c,
        {},
        h.metadata({
          'nvcf-reqid': reqIdOf(a),
          'sec-websocket-protocol': `nvcf-reqid.${reqIdOf(b)}`,
          cookie: `nvcf-request-id=${reqIdOf(c1)}`,
        }),
      ),
    );
    assertSameSession(a, all);
    const noMetadata = await withChannel(proxy.address, (c) =>
      unary(
        c,
        {},
        h.metadata({ 'sec-websocket-protocol': `nvcf-reqid.${reqIdOf(b)}`, cookie: `nvcf-request-id=${reqIdOf(c1)}` }),
      ),
    );
    assertSameSession(b, noMetadata);
  });

  test('G7: should ignore a request ID that is not a UUID and start a new session', async () => {
    const cases: Record<string, string>[] = [
      { 'nvcf-reqid': 'not-a-uuid' },
      { cookie: 'nvcf-request-id=../../etc' },
      { 'sec-websocket-protocol': 'nvcf-reqid.12345' },
    ];
    for (const extra of cases) {
      const result = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata(extra)));
      assert.equal(result.error, undefined, JSON.stringify(extra));
      assert.equal(result.response?.session_calls, 1);
      assert.equal(setCookiesOf(result).length, 1, 'a new session sets its cookie');
    }
  });

  test('G8: should answer NOT_FOUND "no existing session found" with HTTP 200 and a cleared cookie for an unknown request ID', async () => {
    const viaGrpcJs = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata({ 'nvcf-reqid': UNKNOWN })));
    assert.equal(viaGrpcJs.status.code, grpc.status.NOT_FOUND);
    assert.match(viaGrpcJs.status.details, /no existing session found/);
    const raw = await rawH2(proxy.address, grpcRequestHeaders(h.metadata({ 'nvcf-reqid': UNKNOWN })), grpcFrame({}));
    assert.equal(raw.headers[':status'], 200);
    assert.equal(raw.headers['grpc-status'], String(grpc.status.NOT_FOUND));
    assert.match(String(raw.headers['grpc-message']), /no existing session found/);
    const cookies = [raw.headers['set-cookie'] ?? []].flat();
    assert.equal(cookies.length, 1);
    assert.match(cookies[0], /^nvcf-request-id=;/);
    assert.match(cookies[0], /Max-Age=0/);
  });

  test('G8: should answer 404 with a cleared cookie to a non-gRPC resume of an unknown request ID (HTTP/2 and HTTP/1.1)', async () => {
    const h2 = await rawH2(proxy.address, {
      ':method': 'GET',
      ':path': '/',
      ...h.metadata({ cookie: `nvcf-request-id=${UNKNOWN}` }),
    });
    assert.equal(h2.headers[':status'], 404);
    assert.match(String([h2.headers['set-cookie']].flat()[0]), /^nvcf-request-id=;.*Max-Age=0/);
    const h1 = await rawH1(proxy.address, 'GET', h.metadata({ 'nvcf-reqid': UNKNOWN }));
    assert.equal(h1.status, 404);
    assert.match(String(h1.headers['set-cookie']?.[0]), /^nvcf-request-id=;.*Max-Age=0/);
  });

  test('G8: should not clear the cookie of a live session on an HTTP/1.1 request (only a session not found is cleared)', async () => {
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    for (const p of [proxy, replica]) {
      const res = await rawH1(p.address, 'GET', h.metadata({ cookie: `nvcf-request-id=${reqIdOf(first)}` }));
      assert.notEqual(res.status, 404);
      assert.equal(res.headers['set-cookie'], undefined);
    }
    const stillThere = await withChannel(proxy.address, (c) =>
      unary(c, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) })),
    );
    assertSameSession(first, stillThere);
  });

  test('G8: should answer NOT_FOUND after the reconnect window of a session passed', async () => {
    const worker = h.workers[2] as HarnessWorker; // the sibling's worker (reconnectWindowMs 300)
    const first = await lingeringCall(proxy.address, h.metadata({}, sibling));
    assert.equal(first.error, undefined);
    assert.ok(worker.worker.sessionIds().includes(reqIdOf(first)));
    await eventually(() => !worker.worker.sessionIds().includes(reqIdOf(first)), 3_000, 'the session to end');
    const resumed = await withChannel(proxy.address, (c) =>
      unary(c, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) }, sibling)),
    );
    assert.equal(resumed.status.code, grpc.status.NOT_FOUND);
    assert.match(resumed.status.details, /no existing session found/);
  });

  test('S1: should free every session after its reconnect window, also when the client leaves at once', async () => {
    const racing = await h.addFunction({ name: 'racing', reconnectWindowMs: 300 });
    // The worker's NATS is 50 ms away, its tunnel is direct (NATS in another zone): the attach reply
    // reaches the worker after the client has already been answered and left.
    const slowNats = await startSlowRelay(h.nats.port, 50);
    const racingWorker = await h.addWorker({
      functionId: racing.functionId,
      versionId: racing.versionId,
      concurrency: 100,
      natsServers: [slowNats.url],
    });
    const { worker } = racingWorker;
    try {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        ids.push(reqIdOf(await withChannel(proxy.address, (c) => unary(c, {}, h.metadata({}, racing)))));
      }
      await eventually(
        () => ids.every((id) => !worker.sessionIds().includes(id)),
        2_000,
        'every session to end after its window',
      ).catch((err: Error) => {
        const left = ids.filter((id) => worker.sessionIds().includes(id)).length;
        throw new Error(`${err.message}; ${left} of ${ids.length} still held`);
      });
    } finally {
      await racingWorker.stop();
      await slowNats.close();
    }
  });

  test('G9: should answer INTERNAL naming the mismatch (not the IDs) for a session of another function of the account', async () => {
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    const reqId = reqIdOf(first);
    const mismatch = await withChannel(proxy.address, (c) =>
      unary(c, {}, h.metadata({ 'nvcf-reqid': reqId }, sibling)),
    );
    assert.equal(mismatch.status.code, grpc.status.INTERNAL);
    assert.match(mismatch.status.details, /different function/);
    for (const id of [reqId, h.functionId, sibling.functionId, h.versionId]) {
      assert.ok(!mismatch.status.details.includes(id), 'no IDs in the message');
    }
    // Through the replica too (the session is not held there).
    const viaReplica = await withChannel(replica.address, (c) =>
      unary(c, {}, h.metadata({ 'nvcf-reqid': reqId }, sibling)),
    );
    assert.equal(viaReplica.status.code, grpc.status.INTERNAL);
  });

  test('G9: should answer INTERNAL for a session of another version of the same function', async () => {
    const v2 = await h.control.createVersion(h.functionId);
    try {
      const first = await withChannel(proxy.address, (c) =>
        unary(c, {}, h.metadata({ 'function-version-id': h.versionId })),
      );
      const mismatch = await withChannel(replica.address, (c) =>
        unary(c, {}, h.metadata({ 'function-version-id': v2.versionId, 'nvcf-reqid': reqIdOf(first) })),
      );
      assert.equal(mismatch.status.code, grpc.status.INTERNAL);
      assert.match(mismatch.status.details, /version/);
      assert.ok(!mismatch.status.details.includes(reqIdOf(first)));
    } finally {
      await h.control.setVersionStatus(v2.versionId, 'inactive');
    }
  });

  test('G9: should answer NOT_FOUND for a session of another account (a request ID is not a bearer token)', async () => {
    const foreignFn = await h.addFunction({ accountId: 'acct-foreign', name: 'foreign' });
    const { key } = await h.addApiKey({ accountId: 'acct-foreign' });
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata()));
    for (const p of [proxy, replica]) {
      const stolen = await withChannel(p.address, (c) =>
        unary(
          c,
          {},
          { authorization: `Bearer ${key}`, 'function-id': foreignFn.functionId, 'nvcf-reqid': reqIdOf(first) },
        ),
      );
      assert.equal(stolen.status.code, grpc.status.NOT_FOUND);
      assert.match(stolen.status.details, /no existing session found/);
    }
  });

  test('G9 (S1): should not hold a session when a resume of it is refused', async () => {
    const worker = h.workers[2] as HarnessWorker; // sibling: reconnectWindowMs 300
    const first = await lingeringCall(proxy.address, h.metadata({}, sibling));
    const reqId = reqIdOf(first);
    // Refused resumes on open connections, through both replicas, inside the reconnect window.
    const open = [newChannel(proxy.address), newChannel(replica.address)];
    try {
      for (const c of open) {
        const refused = await unary(c, {}, h.metadata({ 'nvcf-reqid': reqId }));
        assert.equal(refused.status.code, grpc.status.INTERNAL);
      }
      await eventually(() => !worker.worker.sessionIds().includes(reqId), 3_000, 'the session to end on its window');
    } finally {
      for (const c of open) c.close();
    }
  });

  test('G15: should resume through a second proxy replica to the same worker session, and back', async () => {
    await withChannel(proxy.address, async (a) => {
      const first = await unary(a, {}, h.metadata());
      const viaReplica = await withChannel(replica.address, (b) =>
        unary(b, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) })),
      );
      assertSameSession(first, viaReplica);
      const back = await unary(a, {}, h.metadata());
      assertSameSession(viaReplica, back);
    });
    const closedFirst = await withChannel(replica.address, (c) => unary(c, {}, h.metadata()));
    const viaProxy = await withChannel(proxy.address, (c) =>
      unary(c, {}, h.metadata({ 'nvcf-reqid': reqIdOf(closedFirst) })),
    );
    assertSameSession(closedFirst, viaProxy);
  });

  test('G8: should answer NOT_FOUND after the worker of a session exited', async () => {
    const extra = await h.addFunction({ name: 'short-lived' });
    const worker = await h.addWorker({ functionId: extra.functionId, versionId: extra.versionId });
    const first = await withChannel(proxy.address, (c) => unary(c, {}, h.metadata({}, extra)));
    assert.equal(first.error, undefined);
    // A call in flight when the worker exits ends with UNAVAILABLE rather than hanging.
    const inFlight = newChannel(proxy.address);
    const { call, result } = serverStream(
      inFlight,
      { repeat: 100, delay_ms: 100 },
      h.metadata({ 'nvcf-reqid': reqIdOf(first) }, extra),
    );
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    await worker.stop();
    const ended = await result;
    inFlight.close();
    assert.equal(ended.status.code, grpc.status.UNAVAILABLE, `${ended.status.code} ${ended.status.details}`);
    for (const p of [proxy, replica]) {
      const resumed = await withChannel(p.address, (c) =>
        unary(c, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) }, extra)),
      );
      assert.equal(resumed.status.code, grpc.status.NOT_FOUND);
      assert.match(resumed.status.details, /no existing session found/);
    }
  });
});
