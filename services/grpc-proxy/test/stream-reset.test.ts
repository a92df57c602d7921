// A client that opens a stream and resets it at once (HEADERS immediately followed by RST_STREAM, as
// a cancelled call or a fuzzer does) must cost the proxy nothing but that stream: no uncaught
// exception from answering a stream that is already gone, and the next call is served (G3, G4).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { grpcRequestHeaders, h2connect, newChannel, unary } from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

describe('streams reset right after their HEADERS', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);

  before(async () => {
    process.on('uncaughtExceptionMonitor', onUncaught);
    process.on('unhandledRejection', onUncaught);
    await h.start();
    proxy = await h.addProxy({ attachTimeoutMs: 2_000 });
    await h.addWorker({ concurrency: 50 });
  });
  after(async () => {
    await h.stop();
    process.off('uncaughtExceptionMonitor', onUncaught);
    process.off('unhandledRejection', onUncaught);
  });

  /** Opens `count` streams with `headers` on one connection, each reset right after its HEADERS. */
  async function resetStreams(headers: http2.OutgoingHttpHeaders, count: number): Promise<void> {
    const session = h2connect(proxy.address);
    await new Promise<void>((resolve) => session.once('connect', () => resolve()));
    for (let i = 0; i < count; i++) {
      const stream = session.request(headers, { endStream: false });
      stream.on('error', () => undefined);
      stream.close(http2.constants.NGHTTP2_CANCEL);
    }
    await new Promise((r) => setTimeout(r, 500));
    session.destroy();
  }

  const valid = () => grpcRequestHeaders(h.metadata());
  const cases: [string, () => http2.OutgoingHttpHeaders][] = [
    ['a new session call', valid],
    ['a resume of an unknown session', () => grpcRequestHeaders(h.metadata({ 'nvcf-reqid': randomUUID() }))],
    ['a call without authorization', () => grpcRequestHeaders({ 'function-id': h.functionId })],
    ['a call with an unknown key', () => grpcRequestHeaders({ ...h.metadata(), authorization: 'Bearer nope' })],
    ['an absorb POST (G13)', () => ({ ':method': 'POST', ':path': '/', 'x-nvcf-absorb': 'true', ...h.metadata() })],
    ['a non-gRPC GET', () => ({ ':method': 'GET', ':path': '/', ...h.metadata() })],
    ['an OPTIONS preflight (G14)', () => ({ ':method': 'OPTIONS', ':path': '/', origin: 'https://x.example' })],
    ['a /_switchyard/ path', () => ({ ...valid(), ':path': '/_switchyard/detach' })],
  ];

  for (const [name, headers] of cases)
    it(`should survive ${name} reset at once, and serve the next call`, async () => {
      uncaught.length = 0;
      await resetStreams(headers(), 40);
      assert.deepEqual(
        uncaught,
        [],
        `uncaught: ${uncaught.map((e) => (e instanceof Error ? e.stack : String(e))).join('; ')}`,
      );
      const client = newChannel(proxy.address);
      try {
        const r = await unary(client, { payload: Buffer.from('after reset') }, h.metadata());
        assert.equal(r.error, undefined, r.error?.message);
        assert.equal(r.response?.payload.toString(), 'after reset');
      } finally {
        client.close();
      }
    });
});
