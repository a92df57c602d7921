// G11: idle client connections are closed with GOAWAY after idleTimeoutMs; a connection with a
// stream in progress is not.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  decodeGrpcBody,
  grpcFrame,
  grpcRequestHeaders,
  h2connect,
  newChannel,
  rawH2,
  reqIdOf,
  unary,
} from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

const IDLE_MS = 500;

/** Resolves with the time GOAWAY arrived on `session` (or it closed), measured from `since`. */
function goawayAfter(session: http2.ClientHttp2Session, since: number): Promise<{ ms: number; goaway: boolean }> {
  return new Promise((resolve) => {
    session.once('goaway', () => resolve({ ms: Date.now() - since, goaway: true }));
    session.once('close', () => resolve({ ms: Date.now() - since, goaway: false }));
  });
}

describe('idle connections (G11)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ idleTimeoutMs: IDLE_MS });
    await h.addWorker({ concurrency: 100 });
  });
  after(() => h.stop());

  test('G11: should close a connection that never opened a stream with GOAWAY after idleTimeoutMs', async () => {
    const session = h2connect(proxy.address);
    await once(session, 'connect');
    const started = Date.now();
    const { ms, goaway } = await goawayAfter(session, started);
    assert.equal(goaway, true, 'GOAWAY before the socket closed');
    assert.ok(ms >= IDLE_MS - 50 && ms < IDLE_MS + 1_000, `closed after ${ms} ms`);
    session.destroy();
  });

  test('G11: should close a connection idleTimeoutMs after its last stream ended, not before', async () => {
    const session = h2connect(proxy.address);
    const res = await rawH2(session, grpcRequestHeaders(h.metadata()), grpcFrame({ payload: Buffer.from('x') }));
    assert.equal(res.trailers?.['grpc-status'], '0');
    const ended = Date.now();
    const { ms, goaway } = await goawayAfter(session, ended);
    assert.equal(goaway, true);
    assert.ok(ms >= IDLE_MS - 50 && ms < IDLE_MS + 1_000, `closed ${ms} ms after the last stream`);
    session.destroy();
  });

  test('G11: should keep a connection with an open stream past idleTimeoutMs', async () => {
    const session = h2connect(proxy.address);
    let goawayAt: number | undefined;
    session.on('goaway', () => {
      goawayAt = Date.now();
    });
    const started = Date.now();
    // 4 responses 400 ms apart: 1.6 s of an open stream, three idle timeouts long.
    const res = await rawH2(
      session,
      { ...grpcRequestHeaders(h.metadata()), ':path': '/switchyard.echo.v1.Echo/ServerStream' },
      grpcFrame({ payload: Buffer.from('slow'), repeat: 4, delay_ms: 400 }),
    );
    const ended = Date.now();
    assert.ok(ended - started >= 1_500);
    assert.equal(goawayAt, undefined, 'no GOAWAY while the stream was open');
    assert.equal(res.trailers?.['grpc-status'], '0');
    assert.equal(decodeGrpcBody(res.body).length, 4);
    // And it is closed once idle.
    if (goawayAt === undefined) await once(session, 'goaway');
    assert.ok((goawayAt ?? Date.now()) - ended >= IDLE_MS - 50);
    session.destroy();
  });

  test('G11: should let a grpc-js client carry on after an idle GOAWAY (it reconnects; the session is resumable)', async () => {
    const client = newChannel(proxy.address);
    try {
      const first = await unary(client, {}, h.metadata());
      await new Promise((r) => setTimeout(r, IDLE_MS + 300));
      const second = await unary(client, {}, h.metadata({ 'nvcf-reqid': reqIdOf(first) }));
      assert.equal(second.status.code, grpc.status.OK);
      assert.equal(second.response?.request_id, first.response?.request_id);
      assert.equal(second.response?.session_calls, 2);
    } finally {
      client.close();
    }
  });
});
