// Issue 11 item 2: resource bounds of the client listener. Thousands of sockets that send nothing, or
// trickle an HTTP/1.1 header, are all closed within the first-byte / headers timeouts while valid
// calls keep succeeding; a connection past maxConnections is closed at once; streams past
// maxConcurrentStreams are refused (RST_STREAM REFUSED_STREAM) and the connection keeps serving.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { codeOf, eventually, grpcFrame, grpcRequestHeaders, h2connect, rawH2, unary } from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

const FIRST_BYTE_MS = 1_000;
const HEADERS_MS = 2_000;
/** Sockets per kind (silent, trickling): 2 x 2,500 = 5,000 client sockets (10,000 fds in this process). */
const PER_KIND = 2_500;

/** Open file descriptors of this process (the proxy runs in it). */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Connects `n` sockets to `port`, a few hundred at a time (the accept queue is finite). */
async function connectMany(port: number, n: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += 250) {
    const batch = Array.from({ length: Math.min(250, n - i) }, () => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      return new Promise<net.Socket>((resolve) => s.once('connect', () => resolve(s)));
    });
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

describe('client listener bounds (issue 11 item 2)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let port: number;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({
      firstByteTimeoutMs: FIRST_BYTE_MS,
      headersTimeoutMs: HEADERS_MS,
      maxConcurrentStreams: 8,
      idleTimeoutMs: 60_000,
    });
    port = Number(proxy.address.split(':')[1]);
    await h.addWorker({ concurrency: 100 });
  });
  after(() => h.stop());

  test('should close 5,000 silent and trickling sockets within the timeouts while calls succeed', async () => {
    const baseline = openFds();
    const silent = await connectMany(port, PER_KIND);
    const trickling = await connectMany(port, PER_KIND);
    const request = Buffer.from('GET /v2/nvcf/health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    let sent = 0;
    const trickle = setInterval(() => {
      for (const s of trickling)
        if (!s.destroyed) s.write(request.subarray(sent % request.length, (sent % request.length) + 1));
      sent++;
    }, 300);
    const closedAt = (sockets: net.Socket[]) =>
      Promise.all(
        sockets.map((s) => (s.destroyed ? 0 : new Promise<number>((r) => s.once('close', () => r(Date.now()))))),
      );
    const started = Date.now();
    const silentClosed = closedAt(silent);
    const tricklingClosed = closedAt(trickling);
    try {
      // Valid calls keep succeeding while the sockets are held.
      const client = h.client(proxy);
      for (let i = 0; i < 3; i++) assert.equal(codeOf(await unary(client, {}, h.metadata())), 0);
      client.close();
      // Fails (rather than hangs) when a socket is never closed.
      let deadline: NodeJS.Timeout | undefined;
      const [s, t] = await Promise.race([
        Promise.all([silentClosed, tricklingClosed]),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => {
            const open = [...silent, ...trickling].filter((x) => !x.destroyed && !x.closed).length;
            reject(new Error(`${open} sockets still open after ${HEADERS_MS + 30_000} ms`));
          }, HEADERS_MS + 30_000);
        }),
      ]).finally(() => clearTimeout(deadline));
      // Generous margins (2 shared cores); the point is that they close, not when exactly.
      const lastSilent = Math.max(...s) - started;
      const lastTrickling = Math.max(...t) - started;
      assert.ok(lastSilent < FIRST_BYTE_MS + 20_000, `last silent socket closed after ${lastSilent} ms`);
      assert.ok(lastTrickling < HEADERS_MS + 20_000, `last trickling socket closed after ${lastTrickling} ms`);
    } finally {
      clearInterval(trickle);
      for (const s of [...silent, ...trickling]) s.destroy();
    }
    // The proxy's ends are gone too: the fd count is back near its baseline.
    let fds = openFds();
    for (let i = 0; i < 50 && fds > baseline + 50; i++) {
      await new Promise((r) => setTimeout(r, 100));
      fds = openFds();
    }
    assert.ok(fds <= baseline + 50, `fds ${fds}, baseline ${baseline}`);
    const client = h.client(proxy);
    assert.equal(codeOf(await unary(client, {}, h.metadata())), 0);
    client.close();
  });

  test('should advertise maxConcurrentStreams and serve the streams past it once earlier ones end', async () => {
    const session = h2connect(proxy.address);
    await once(session, 'remoteSettings');
    assert.equal(session.remoteSettings.maxConcurrentStreams, 8);
    assert.equal(session.remoteSettings.initialWindowSize, 1024 * 1024, 'SWITCHYARD_HTTP2_STREAM_WINDOW_BYTES');
    // 12 slow streams on a connection that allows 8: the client holds back the last 4 until earlier
    // ones end; every one completes and the connection keeps serving.
    const slow = Array.from({ length: 12 }, () =>
      rawH2(
        session,
        { ...grpcRequestHeaders(h.metadata()), ':path': '/switchyard.echo.v1.Echo/ServerStream' },
        grpcFrame({ payload: Buffer.from('slow'), repeat: 2, delay_ms: 300 }),
      ),
    );
    const results = await Promise.all(slow);
    for (const r of results) assert.equal(r.trailers?.['grpc-status'], '0');
    session.destroy();
  });

  test('should refuse a stream whose header list is larger than maxHeaderListBytes, the process serving on', async () => {
    const session = h2connect(proxy.address);
    const big = { ...grpcRequestHeaders(h.metadata()), 'x-big': 'a'.repeat(100_000) };
    const outcome = await rawH2(session, big, grpcFrame({ payload: Buffer.from('x') })).then(
      (r) => `status ${r.trailers?.['grpc-status'] ?? r.headers?.[':status']}`,
      (err: NodeJS.ErrnoException) => err.code ?? String(err),
    );
    assert.notEqual(outcome, 'status 0', 'an oversized header list is not served');
    session.destroy();
    const client = h.client(proxy);
    assert.equal(codeOf(await unary(client, {}, h.metadata())), 0);
    client.close();
  });
});

describe('per-key connection cap (issue 11 item 2)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ maxConnectionsPerKey: 2 });
    await h.addWorker({ concurrency: 100 });
  });
  after(() => h.stop());

  test('should answer RESOURCE_EXHAUSTED past maxConnectionsPerKey and free the place when one closes', async () => {
    const call = (session: ReturnType<typeof h2connect>) =>
      rawH2(session, grpcRequestHeaders(h.metadata()), grpcFrame({ payload: Buffer.from('x') }));
    const a = h2connect(proxy.address);
    const b = h2connect(proxy.address);
    const c = h2connect(proxy.address);
    try {
      assert.equal((await call(a)).trailers?.['grpc-status'], '0');
      assert.equal((await call(b)).trailers?.['grpc-status'], '0');
      const refused = await call(c);
      const status = refused.trailers?.['grpc-status'] ?? refused.headers['grpc-status'];
      assert.equal(status, '8', 'RESOURCE_EXHAUSTED');
      // The counted connections keep serving; another key is not affected.
      assert.equal((await call(a)).trailers?.['grpc-status'], '0');
      const other = await h.addApiKey();
      const otherCall = await rawH2(
        c,
        grpcRequestHeaders({ ...h.metadata(), authorization: `Bearer ${other.key}` }),
        grpcFrame({ payload: Buffer.from('x') }),
      );
      assert.equal(otherCall.trailers?.['grpc-status'], '0');
      // Closing one frees a place for the key.
      a.close();
      await once(a, 'close');
      await eventually(
        async () => {
          const r = await call(c);
          return (r.trailers?.['grpc-status'] ?? r.headers['grpc-status']) === '0';
        },
        10_000,
        'a call on the third connection after the first closed',
      );
    } finally {
      for (const s of [a, b, c]) s.destroy();
    }
  });
});
