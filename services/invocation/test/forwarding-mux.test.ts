// HTTP requests over framed tunnels (issue 12, SWITCHYARD_TUNNEL_MUX on the invocation service and the
// worker, the default): ticketed requests and warm offers (whole bodies, and streamed ones admitted by a
// framed 100) travel as frames on the mux streams of the worker's tunnel (a few, not a stream each); a
// tunnel lost mid-call still answers SY_TUNNEL_LOST. With the switch off on either side (an older
// release in a rolling upgrade), a stream per request as before.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TunnelFeatures } from '@switchyard/protocol';
import { DEFAULT_TUNNEL_MUX_STREAMS } from '@switchyard/tunnel';
import { request } from 'undici';
import { type HarnessInvocation, type HarnessWorker, InvocationHarness, patternBuffer } from './harness.ts';

/** HTTP/2 streams opened so far on the instance's tunnel to `worker` (stream ids of a client are odd). */
function tunnelStreamsOpened(inv: HarnessInvocation, worker: HarnessWorker): { streams: number; mux: boolean } {
  const tunnel = inv.service.tunnels.get(worker.worker.config.workerId, worker.worker.config.versionId);
  assert.ok(tunnel, 'the worker has a tunnel to the instance');
  const next = tunnel.session.state.nextStreamID ?? 1;
  return { streams: (next - 1) / 2, mux: tunnel.features.has(TunnelFeatures.httpMux) };
}

async function echo(h: InvocationHarness, inv: HarnessInvocation, body: string) {
  const res = await request(`${inv.url}/echo?n=${encodeURIComponent(body)}`, {
    method: 'POST',
    headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}`, 'content-type': 'text/plain' },
    body,
  });
  const json = (await res.body.json()) as { body: string; headers: Record<string, string> };
  return { status: res.statusCode, json };
}

async function upload(h: InvocationHarness, inv: HarnessInvocation, bytes: number) {
  const body = patternBuffer(bytes);
  const res = await request(`${inv.url}/upload`, {
    method: 'POST',
    headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}`, 'content-length': String(bytes) },
    body,
  });
  const json = (await res.body.json()) as { sha256: string; bytes: number };
  assert.equal(res.statusCode, 200);
  assert.equal(json.bytes, bytes);
  assert.equal(json.sha256, createHash('sha256').update(body).digest('hex'));
}

/**
 * Loses the instance's tunnel to `worker` under two requests: one waiting for its answer gets 503
 * SY_TUNNEL_LOST, one streaming SSE is cut (never ends cleanly).
 */
async function tunnelLost(h: InvocationHarness, inv: HarnessInvocation, worker: HarnessWorker): Promise<void> {
  const auth = { authorization: `Bearer ${h.apiKey}` };
  await echo(h, inv, 'warm');
  const waiting = request(`${inv.url}/hang`, { headers: { host: h.host(inv), ...auth } });
  const streaming = await request(`${inv.url}/sse?n=1000&intervalMs=20`, { headers: { host: h.host(inv), ...auth } });
  assert.equal(streaming.statusCode, 200);
  const reader = streaming.body[Symbol.asyncIterator]();
  await reader.next();
  await new Promise((r) => setTimeout(r, 100));
  inv.service.tunnels.get(worker.worker.config.workerId, worker.worker.config.versionId)?.destroy();
  const lost = await waiting;
  assert.equal(lost.statusCode, 503);
  const problem = (await lost.body.json()) as { code?: string };
  assert.equal(problem.code, 'SY_TUNNEL_LOST');
  await assert.rejects(async () => {
    for (;;) {
      const next = await reader.next();
      if (next.done) break;
    }
  }, 'a body cut mid-stream must not end cleanly');
}

describe('HTTP requests over framed tunnels (H2-H10, issue 12)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let worker: HarnessWorker;
  const auth = () => ({ authorization: `Bearer ${h.apiKey}` });

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    worker = await h.addWorker({ concurrency: 64 });
  });
  after(() => h.stop());

  it('should relay ticketed requests and warm offers (no body, whole body, streamed body) on the mux streams', async () => {
    const first = await echo(h, inv, 'first');
    assert.equal(first.status, 200);
    assert.equal(first.json.body, 'first');
    const before = tunnelStreamsOpened(inv, worker);
    assert.equal(before.mux, true, 'the worker announced http-mux');
    // 1 MiB bodies stream after the worker's framed 100 admission; small ones go whole with the offer.
    const results = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        if (i % 4 === 0) return upload(h, inv, 1024 * 1024 + i);
        if (i % 4 === 1) {
          const res = await request(`${inv.url}/status?code=204`, { headers: { host: h.host(inv), ...auth() } });
          await res.body.dump();
          assert.equal(res.statusCode, 204);
          return;
        }
        const r = await echo(h, inv, `req${i}`);
        assert.equal(r.status, 200);
        assert.equal(r.json.body, `req${i}`);
        assert.ok(r.json.headers.traceparent === undefined || /^00-/.test(r.json.headers.traceparent));
      }),
    );
    assert.equal(results.length, 40);
    const opened = tunnelStreamsOpened(inv, worker).streams - before.streams;
    assert.ok(
      opened < DEFAULT_TUNNEL_MUX_STREAMS,
      `${opened} more tunnel streams for 40 concurrent requests: the mux streams, not a stream per request`,
    );
  });

  it('SY_TUNNEL_LOST: a tunnel lost under framed requests should answer 503 before the answer, and cut one mid-body', () =>
    tunnelLost(h, inv, worker));
});

describe('a mux invocation instance and a worker without the switch', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let worker: HarnessWorker;

  before(async () => {
    await h.start();
    inv = await h.addInvocation({ tunnelMux: true });
    worker = await h.addWorker({ tunnelMux: false });
  });
  after(() => h.stop());

  it('should keep an HTTP/2 stream per request, ticketed or warm', async () => {
    assert.equal((await echo(h, inv, 'a')).json.body, 'a');
    const before = tunnelStreamsOpened(inv, worker);
    assert.equal(before.mux, false);
    assert.equal((await echo(h, inv, 'b')).json.body, 'b');
    await upload(h, inv, 256 * 1024);
    assert.equal(tunnelStreamsOpened(inv, worker).streams, before.streams + 2);
  });
});

describe('an invocation instance with the switch off and a worker with it on (the default)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let worker: HarnessWorker;

  before(async () => {
    await h.start();
    inv = await h.addInvocation({ tunnelMux: false });
    worker = await h.addWorker();
  });
  after(() => h.stop());

  it('should keep an HTTP/2 stream per request though the worker announced http-mux', async () => {
    assert.equal((await echo(h, inv, 'a')).json.body, 'a');
    const before = tunnelStreamsOpened(inv, worker);
    assert.equal(before.mux, true);
    assert.equal((await echo(h, inv, 'b')).json.body, 'b');
    await upload(h, inv, 256 * 1024);
    assert.equal(tunnelStreamsOpened(inv, worker).streams, before.streams + 2);
  });

  it('SY_TUNNEL_LOST: a tunnel lost under streams of their own should answer 503 before the answer, and cut one mid-body', () =>
    tunnelLost(h, inv, worker));
});
