// Issue 11 item 2: per-API-key caps on a proxy, driven past their limits against real servers (NATS,
// the proxy's HTTP/2 and HTTP/1.1 listeners, a worker, echo and WebSocket containers): open sessions
// per key (RESOURCE_EXHAUSTED SY_KEY_SESSIONS_EXCEEDED; resumes never refused) and open WebSockets
// per key (429 problem+json SY_KEY_WEBSOCKETS_EXCEEDED with Retry-After). Other keys are unaffected
// and a place is free again once a session or WebSocket ends.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import {
  eventually,
  grpcFrame,
  grpcRequestHeaders,
  h2connect,
  rawH2,
  rawUpgradeRequest as upgrade,
} from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';
import { startWsContainer, type WsContainer } from './ws-container.ts';

/** gRPC status of a raw answer (trailers, or a trailers-only answer's headers). */
function statusOf(r: { headers: http2Headers; trailers?: http2Headers }): string | undefined {
  return (r.trailers?.['grpc-status'] ?? r.headers['grpc-status']) as string | undefined;
}
type http2Headers = Record<string, string | string[] | undefined>;

describe('per-key session cap (issue 11 item 2)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ maxSessionsPerKey: 2, maxConnectionsPerKey: 0 });
    await h.addWorker({ concurrency: 20 });
  });
  after(() => h.stop());

  test('should answer RESOURCE_EXHAUSTED past maxSessionsPerKey, never refuse a resume, and free the place when a session ends', async () => {
    const call = (session: ReturnType<typeof h2connect>, extra: Record<string, string> = {}) =>
      rawH2(session, grpcRequestHeaders(h.metadata(extra)), grpcFrame({ payload: Buffer.from('x') }));
    const [a, b, c, d] = [0, 1, 2, 3].map(() => h2connect(proxy.address));
    try {
      const first = await call(a);
      assert.equal(statusOf(first), '0');
      assert.equal(statusOf(await call(b)), '0');
      // A third session of the key: refused; the connection stays open.
      const refused = await call(c);
      assert.equal(statusOf(refused), '8', 'RESOURCE_EXHAUSTED');
      assert.match(String(refused.trailers?.['grpc-message'] ?? refused.headers['grpc-message']), /open sessions/);
      // Another key is not affected.
      const other = await h.addApiKey();
      const otherCall = await rawH2(
        c,
        grpcRequestHeaders({ ...h.metadata(), authorization: `Bearer ${other.key}` }),
        grpcFrame({ payload: Buffer.from('x') }),
      );
      assert.equal(statusOf(otherCall), '0');
      // Resuming one of the key's sessions on another connection is served (it starts none).
      const resumed = await call(d, { 'nvcf-reqid': String(first.headers['nvcf-reqid']) });
      assert.equal(statusOf(resumed), '0');
      assert.equal(resumed.headers['nvcf-reqid'], first.headers['nvcf-reqid']);
      // b closes: its session is released, so a new one may start.
      b.close();
      await once(b, 'close');
      await eventually(async () => statusOf(await call(c)) === '0', 10_000, 'a new session after one ended');
    } finally {
      for (const s of [a, b, c, d]) s.destroy();
    }
  });
});

describe('per-key WebSocket cap (issue 11 item 2)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let container: WsContainer;
  before(async () => {
    await h.start();
    container = await startWsContainer();
    proxy = await h.addProxy({ maxWebSocketsPerKey: 1 });
    await h.addWorker({ concurrency: 20, websocketUpstream: `ws://127.0.0.1:${container.port}` });
  });
  after(async () => {
    await h.stop();
    await container.stop();
  });

  test('should answer 429 problem+json with Retry-After past maxWebSocketsPerKey and free the place when one closes', async () => {
    const creds = (key: string) => ({ authorization: `Bearer ${key}`, 'function-id': h.functionId });
    const first = await upgrade(proxy.address, creds(h.apiKey));
    assert.equal(first.status, 101);
    try {
      const refused = await upgrade(proxy.address, creds(h.apiKey));
      assert.equal(refused.status, 429);
      assert.match(String(refused.headers['content-type']), /^application\/problem\+json/);
      assert.equal(refused.headers['retry-after'], '1');
      assert.equal(JSON.parse(refused.body).code, 'SY_KEY_WEBSOCKETS_EXCEEDED');
      // Another key is not affected.
      const other = await h.addApiKey();
      const otherWs = await upgrade(proxy.address, creds(other.key));
      assert.equal(otherWs.status, 101);
      otherWs.socket?.destroy();
    } finally {
      first.socket?.destroy();
    }
    await eventually(
      async () => {
        const next = await upgrade(proxy.address, creds(h.apiKey));
        next.socket?.destroy();
        return next.status === 101;
      },
      10_000,
      'an upgrade after the first WebSocket closed',
    );
  });
});
