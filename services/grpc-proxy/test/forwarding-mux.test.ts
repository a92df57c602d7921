// G4 over framed tunnels (issue 12, SWITCHYARD_TUNNEL_MUX on the proxy and the worker): the call
// shapes of forwarding.test.ts pass unchanged while the calls travel as frames on the mux streams of
// the worker's tunnel (a few, not a stream each); with the switch off on either side (an older release
// in a rolling upgrade), a stream per call as before.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ErrorCatalogue, isUuidV4, NatsNames, TunnelFeatures } from '@switchyard/protocol';
import type { EchoClient, EchoResponse } from '@switchyard/sample-functions';
import { DEFAULT_TUNNEL_MUX_STREAMS } from '@switchyard/tunnel';
import { clientStream, newChannel, reqIdOf, serverStream, toMetadata, unary } from './echo-calls.ts';
import { type HarnessProxy, type HarnessWorker, RegionHarness } from './region-harness.ts';

const MiB = 1024 * 1024;

/** HTTP/2 streams opened so far on the proxy's tunnel to `worker` (stream ids of a client are odd). */
function tunnelStreamsOpened(proxy: HarnessProxy, worker: HarnessWorker): { streams: number; mux: boolean } {
  const tunnel = proxy.proxy.tunnels.get(worker.worker.config.workerId, worker.worker.config.versionId);
  assert.ok(tunnel, 'the worker has a tunnel to the proxy');
  const next = tunnel.session.state.nextStreamID ?? 1;
  return { streams: (next - 1) / 2, mux: tunnel.features.has(TunnelFeatures.mux) };
}

describe('forwarding over framed tunnels (G4, issue 12)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let worker: HarnessWorker;
  let client: EchoClient;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ tunnelMux: true });
    worker = await h.addWorker({ concurrency: 64, tunnelMux: true });
    client = newChannel(proxy.address);
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  test('G4: should relay unary, client-, server- and bidi-streaming calls, on the mux streams of the tunnel', async () => {
    const first = await unary(client, { payload: Buffer.from('hello') }, h.metadata());
    assert.equal(first.error, undefined, first.error?.message);
    assert.equal(first.response?.payload.toString(), 'hello');
    assert.ok(isUuidV4(reqIdOf(first) ?? ''), 'nvcf-reqid in the initial metadata');
    const before = tunnelStreamsOpened(proxy, worker);
    assert.equal(before.mux, true, 'the worker announced the mux');

    const parts = Array.from({ length: 20 }, (_, i) => ({ payload: Buffer.from(`part${i};`) }));
    const cs = await clientStream(client, parts, h.metadata());
    assert.equal(cs.error, undefined);
    assert.equal(cs.response?.payload.toString(), parts.map((p) => p.payload.toString()).join(''));
    const ss = await serverStream(client, { payload: Buffer.from('s'), repeat: 100 }, h.metadata()).result;
    assert.equal(ss.error, undefined);
    assert.equal(ss.responses.length, 100);
    const call = client.Bidi(toMetadata(h.metadata()));
    const received: EchoResponse[] = [];
    call.on('data', (r: EchoResponse) => received.push(r));
    call.on('error', () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    for (let i = 0; i < 10; i++) call.write({ payload: Buffer.from(`m${i}`) });
    call.end();
    assert.equal((await status).code, grpc.status.OK);
    assert.deepEqual(
      received.map((r) => r.payload.toString()),
      Array.from({ length: 10 }, (_, i) => `m${i}`),
    );
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        unary(client, { payload: Buffer.from(String(i)), delay_ms: 5 }, h.metadata()),
      ),
    );
    for (const [i, r] of results.entries()) assert.equal(r.response?.payload.toString(), String(i), r.error?.message);
    const opened = tunnelStreamsOpened(proxy, worker).streams - before.streams;
    assert.ok(
      opened < DEFAULT_TUNNEL_MUX_STREAMS,
      `${opened} more tunnel streams for 50 concurrent calls: the mux streams, not a stream per call`,
    );
  });

  test('G4: should relay a 16 MiB message in each direction', async () => {
    const payload = Buffer.alloc(16 * MiB, 0x5a);
    payload.write('tail', payload.length - 4);
    const up = await unary(client, { payload, response_size: 1 }, h.metadata());
    assert.equal(up.error, undefined, up.error?.message);
    assert.equal(up.response?.received_bytes, 16 * MiB);
    const down = await unary(client, { payload: Buffer.from('x'), response_size: 16 * MiB }, h.metadata());
    assert.equal(down.error, undefined, down.error?.message);
    assert.equal(down.response?.payload.length, 16 * MiB);
  });

  test("G4: should pass the function's non-OK status through, and keep the channel after a cancel", async () => {
    const failed = await unary(client, { payload: Buffer.from('x'), fail_code: grpc.status.NOT_FOUND }, h.metadata());
    assert.equal(failed.status.code, grpc.status.NOT_FOUND);
    const { call, result } = serverStream(client, { repeat: 1_000, delay_ms: 5 }, h.metadata());
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    assert.equal((await result).status.code, grpc.status.CANCELLED);
    const next = await unary(client, { payload: Buffer.from('after') }, h.metadata());
    assert.equal(next.response?.payload.toString(), 'after');
  });

  // Last: the session ends.
  test('S3: an evicted session should end its framed calls in flight with UNAVAILABLE', async () => {
    const first = await unary(client, { payload: Buffer.from('x') }, h.metadata());
    const reqId = reqIdOf(first) ?? '';
    const { call, result } = serverStream(client, { repeat: 1_000, delay_ms: 5 }, h.metadata());
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    const { versionId, workerId } = worker.worker.config;
    const reply = await h.nc.request(NatsNames.workerEvict(versionId, workerId), JSON.stringify({ reqId }), {
      timeout: 3_000,
    });
    assert.deepEqual(JSON.parse(Buffer.from(reply.data).toString()), { ok: true });
    const r = await result;
    assert.equal(r.status.code, grpc.status.UNAVAILABLE, `${grpc.status[r.status.code]} ${r.status.details}`);
    assert.equal(r.status.details, ErrorCatalogue.SY_SESSION_EVICTED.message);
  });
});

describe('a lost tunnel under framed calls (G8, issue 12)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let worker: HarnessWorker;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ tunnelMux: true });
    worker = await h.addWorker({ tunnelMux: true });
  });
  after(async () => {
    await h.stop();
  });

  test('G8: calls in flight on the mux should end UNAVAILABLE (tunnel lost) when the tunnel drops', async () => {
    const client = newChannel(proxy.address);
    try {
      const calls = [1, 2, 3].map(() => serverStream(client, { repeat: 1_000, delay_ms: 5 }, h.metadata()));
      await Promise.all(calls.map(({ call }) => new Promise<void>((resolve) => call.once('data', () => resolve()))));
      assert.equal(tunnelStreamsOpened(proxy, worker).mux, true);
      proxy.proxy.tunnels.get(worker.worker.config.workerId, worker.worker.config.versionId)?.destroy();
      for (const { result } of calls) {
        const r = await result;
        assert.equal(r.status.code, grpc.status.UNAVAILABLE);
        assert.equal(r.status.details, ErrorCatalogue.SY_TUNNEL_LOST.message);
        assert.ok(r.responses.length > 0 && r.responses.length < 1_000);
      }
    } finally {
      client.close();
    }
  });
});

describe('a mux proxy and a worker without the switch', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let worker: HarnessWorker;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ tunnelMux: true });
    worker = await h.addWorker({ tunnelMux: false });
  });
  after(async () => {
    await h.stop();
  });

  test('should keep an HTTP/2 stream per call', async () => {
    const client = newChannel(proxy.address);
    try {
      const first = await unary(client, { payload: Buffer.from('a') }, h.metadata());
      assert.equal(first.error, undefined, first.error?.message);
      const before = tunnelStreamsOpened(proxy, worker);
      assert.equal(before.mux, false);
      const second = await unary(client, { payload: Buffer.from('b') }, h.metadata());
      assert.equal(second.response?.payload.toString(), 'b');
      assert.equal(tunnelStreamsOpened(proxy, worker).streams, before.streams + 1);
    } finally {
      client.close();
    }
  });
});

describe('a proxy with the switch off and a worker with it on (the default)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let worker: HarnessWorker;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ tunnelMux: false });
    worker = await h.addWorker();
  });
  after(async () => {
    await h.stop();
  });

  test('should keep an HTTP/2 stream per call though the worker announced the mux', async () => {
    const client = newChannel(proxy.address);
    try {
      const first = await unary(client, { payload: Buffer.from('a') }, h.metadata());
      assert.equal(first.error, undefined, first.error?.message);
      const before = tunnelStreamsOpened(proxy, worker);
      assert.equal(before.mux, true);
      const second = await unary(client, { payload: Buffer.from('b') }, h.metadata());
      assert.equal(second.response?.payload.toString(), 'b');
      assert.equal(tunnelStreamsOpened(proxy, worker).streams, before.streams + 1);
    } finally {
      client.close();
    }
  });
});
