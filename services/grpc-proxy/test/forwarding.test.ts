// G4, G5: any call shape passes through the proxy unchanged (unary, client/server/bidi streaming,
// large messages, metadata, trailers, statuses, deadlines, cancellation, concurrency), and every
// proxied response names its session.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { isUuidV4 } from '@switchyard/protocol';
import { type EchoClient, type EchoResponse, REQUESTED_FAILURE_MESSAGE } from '@switchyard/sample-functions';
import {
  clientStream,
  eventually,
  grpcFrame,
  grpcRequestHeaders,
  newChannel,
  rawH2,
  reqIdOf,
  serverStream,
  setCookiesOf,
  toMetadata,
  unary,
} from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, RegionHarness } from './region-harness.ts';

const MiB = 1024 * 1024;

/**
 * A function container made of a bare node:http2 server: answers every call with response headers and
 * one message, then holds the stream open and records how it ended (to see a cancel arrive).
 */
async function startHoldingContainer(): Promise<{
  port: number;
  closes: Array<{ rstCode: number | undefined; probe: unknown }>;
  requests: http2.IncomingHttpHeaders[];
  stop(): Promise<void>;
}> {
  const closes: Array<{ rstCode: number | undefined; probe: unknown }> = [];
  const requests: http2.IncomingHttpHeaders[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    requests.push(headers);
    stream.on('error', () => undefined);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    // EchoRequest and EchoResponse share field 1 (payload): the client decodes this as a response.
    stream.write(grpcFrame({ payload: Buffer.from('first') }));
    stream.on('close', () => closes.push({ rstCode: stream.rstCode, probe: headers['x-probe'] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    closes,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sessions) s.destroy();
      }),
  };
}

describe('forwarding (G4, G5)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let client: EchoClient;
  before(async () => {
    await h.start();
    proxy = await h.addProxy();
    await h.addWorker({ concurrency: 64 });
    client = newChannel(proxy.address);
  });
  after(async () => {
    client.close();
    await h.stop();
  });

  test('G4: should relay a unary call', async () => {
    const result = await unary(client, { payload: Buffer.from('hello') }, h.metadata());
    assert.equal(result.error, undefined);
    assert.equal(result.response?.payload.toString(), 'hello');
    assert.equal(result.response?.received_bytes, 5);
  });

  test('G4: should relay a client-streaming call', async () => {
    const parts = Array.from({ length: 20 }, (_, i) => ({ payload: Buffer.from(`part${i};`) }));
    const result = await clientStream(client, parts, h.metadata());
    assert.equal(result.error, undefined);
    const expected = parts.map((p) => p.payload.toString()).join('');
    assert.equal(result.response?.payload.toString(), expected);
    assert.equal(result.response?.received_bytes, Buffer.byteLength(expected));
  });

  test('G4: should relay a server-streaming call of 100 messages', async () => {
    const { result } = serverStream(client, { payload: Buffer.from('s'), repeat: 100 }, h.metadata());
    const r = await result;
    assert.equal(r.error, undefined);
    assert.equal(r.responses.length, 100);
    assert.ok(r.responses.every((m) => m.payload.toString() === 's'));
  });

  test('G4: should relay a bidi-streaming call of 100 round trips', async () => {
    const call = client.Bidi(toMetadata(h.metadata()));
    const received: EchoResponse[] = [];
    let waiter: ((r: EchoResponse) => void) | undefined;
    call.on('data', (r: EchoResponse) => {
      received.push(r);
      waiter?.(r);
    });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => undefined);
    for (let i = 0; i < 100; i++) {
      const answer = new Promise<EchoResponse>((resolve) => {
        waiter = resolve;
      });
      call.write({ payload: Buffer.from(`m${i}`) });
      assert.equal((await answer).payload.toString(), `m${i}`, 'one answer per message, in order');
    }
    call.end();
    assert.equal((await status).code, grpc.status.OK);
    assert.equal(received.length, 100);
  });

  test('G4: should relay a 64 MiB message in each direction', async () => {
    const payload = Buffer.alloc(64 * MiB, 0x5a);
    payload.write('head', 0);
    payload.write('tail', payload.length - 4);
    const up = await unary(client, { payload, response_size: 1 }, h.metadata());
    assert.equal(up.error, undefined, up.error?.message);
    assert.equal(up.response?.received_bytes, 64 * MiB);
    const down = await unary(client, { payload: Buffer.from('x'), response_size: 64 * MiB }, h.metadata());
    assert.equal(down.error, undefined, down.error?.message);
    assert.equal(down.response?.payload.length, 64 * MiB);
  });

  test('G4: should relay custom metadata both ways: x-echo-* as response headers, x-trailer-* as trailers', async () => {
    const md = toMetadata(h.metadata({ 'x-echo-color': 'blue', 'x-trailer-shape': 'round' }));
    md.set('x-echo-raw-bin', Buffer.from([0, 1, 2, 255]));
    const result = await unary(client, { payload: Buffer.from('m') }, md);
    assert.equal(result.error, undefined);
    assert.deepEqual(result.headers.get('x-echo-color'), ['blue']);
    assert.deepEqual(result.headers.get('x-echo-raw-bin'), [Buffer.from([0, 1, 2, 255])]);
    assert.deepEqual(result.trailers.get('x-trailer-shape'), ['round']);
  });

  test("G4: should pass the function's non-OK status and message through unchanged, with its trailers", async () => {
    const result = await unary(client, { fail_code: 9 }, h.metadata({ 'x-trailer-why': 'because' }));
    assert.equal(result.status.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(result.status.details, REQUESTED_FAILURE_MESSAGE);
    assert.deepEqual(result.trailers.get('x-trailer-why'), ['because']);
    const streamed = await serverStream(client, { repeat: 3, fail_code: 11 }, h.metadata()).result;
    assert.equal(streamed.responses.length, 3);
    assert.equal(streamed.status.code, grpc.status.OUT_OF_RANGE);
  });

  test('G4: should end a call with DEADLINE_EXCEEDED when the function is slower than the deadline', async () => {
    const started = Date.now();
    const result = await unary(client, { delay_ms: 2_000 }, h.metadata(), { deadline: Date.now() + 300 });
    assert.equal(result.status.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - started < 1_500);
  });

  test('G4: should forward grpc-timeout to the function (it ends the call itself, without a client-side deadline)', async () => {
    const res = await rawH2(
      proxy.address,
      grpcRequestHeaders({ ...h.metadata(), 'grpc-timeout': '300m' }),
      grpcFrame({ delay_ms: 2_000 }),
    );
    const status = res.trailers?.['grpc-status'] ?? res.headers['grpc-status'];
    assert.equal(status, String(grpc.status.DEADLINE_EXCEEDED));
    assert.ok(res.elapsedMs < 1_500, `ended after ${res.elapsedMs} ms`);
  });

  test('G4: should keep a channel usable after the client cancels a server stream', async () => {
    const { call, result } = serverStream(client, { repeat: 1_000, delay_ms: 5 }, h.metadata());
    let seen = 0;
    await new Promise<void>((resolve) =>
      call.on('data', () => {
        if (++seen === 3) resolve();
      }),
    );
    call.cancel();
    const r = await result;
    assert.equal(r.status.code, grpc.status.CANCELLED);
    assert.ok(r.responses.length < 1_000);
    const next = await unary(client, { payload: Buffer.from('after') }, h.metadata());
    assert.equal(next.response?.payload.toString(), 'after');
  });

  test('G4: should carry 50 concurrent calls on one connection to one session', async () => {
    const channel = newChannel(proxy.address);
    try {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          unary(channel, { payload: Buffer.from(String(i)), delay_ms: 20 }, h.metadata()),
        ),
      );
      results.forEach((r, i) => {
        assert.equal(r.error, undefined, r.error?.message);
        assert.equal(r.response?.payload.toString(), String(i));
      });
      assert.equal(new Set(results.map((r) => r.response?.request_id)).size, 1, 'one session');
      assert.deepEqual(
        results.map((r) => r.response?.session_calls).sort((a, b) => (a ?? 0) - (b ?? 0)),
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
    } finally {
      channel.close();
    }
  });

  test('G5: should put a UUIDv4 nvcf-reqid in the initial metadata of every proxied response', async () => {
    const channel = newChannel(proxy.address);
    try {
      const first = await unary(channel, {}, h.metadata());
      const failed = await unary(channel, { fail_code: 5 }, h.metadata());
      const streamed = await serverStream(channel, { repeat: 2 }, h.metadata()).result;
      const reqId = reqIdOf(first);
      assert.ok(isUuidV4(reqId), reqId);
      assert.equal(first.response?.request_id, reqId, 'the function sees the same request ID');
      assert.equal(reqIdOf(failed), reqId);
      assert.equal(failed.status.code, grpc.status.NOT_FOUND, "the function's own NOT_FOUND");
      assert.equal(reqIdOf(streamed), reqId);
    } finally {
      channel.close();
    }
  });

  test('G5: should set the nvcf-request-id cookie on the first response of a new session only', async () => {
    const channel = newChannel(proxy.address);
    try {
      const first = await unary(channel, {}, h.metadata());
      const reqId = reqIdOf(first);
      const cookies = setCookiesOf(first);
      assert.equal(cookies.length, 1);
      assert.match(cookies[0], new RegExp(`^nvcf-request-id=${reqId}(;|$)`));
      const second = await unary(channel, {}, h.metadata());
      assert.equal(reqIdOf(second), reqId);
      assert.deepEqual(setCookiesOf(second), []);
      const other = newChannel(proxy.address);
      const resumed = await unary(other, {}, h.metadata({ 'nvcf-reqid': reqId }));
      other.close();
      assert.equal(reqIdOf(resumed), reqId);
      assert.deepEqual(setCookiesOf(resumed), [], 'a resume is not a new session');
    } finally {
      channel.close();
    }
  });
});

describe('cancellation reaches the function (G4)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let fn: HarnessFunction;
  let container: Awaited<ReturnType<typeof startHoldingContainer>>;
  before(async () => {
    await h.start();
    proxy = await h.addProxy();
    fn = await h.addFunction({ name: 'holding' });
    container = await startHoldingContainer();
    await h.addWorker({
      functionId: fn.functionId,
      versionId: fn.versionId,
      upstream: `grpc://127.0.0.1:${container.port}`,
    });
  });
  after(async () => {
    await h.stop();
    await container.stop();
  });

  test('G1: should not forward the API key to the function, and should replace a client-sent nvcf-reqid with the session ID', async () => {
    const client = newChannel(proxy.address);
    try {
      const before = container.requests.length;
      const { call, result } = serverStream(
        client,
        {},
        h.metadata({ 'nvcf-reqid': 'forged', 'x-switchyard-reqid': 'forged', 'x-custom': 'kept' }, fn),
      );
      await new Promise<void>((resolve) => call.once('data', () => resolve()));
      call.cancel();
      const r = await result;
      const seen = container.requests[before];
      assert.equal(seen.authorization, undefined);
      assert.equal(seen['x-switchyard-reqid'], undefined);
      assert.equal(seen['nvcf-reqid'], reqIdOf(r));
      assert.equal(seen['function-id'], fn.functionId);
      assert.equal(seen['x-custom'], 'kept');
      assert.equal(seen[':path'], '/switchyard.echo.v1.Echo/ServerStream');
    } finally {
      client.close();
    }
  });

  test('G4: should reset the function stream with CANCEL when the client cancels a server stream', async () => {
    const client = newChannel(proxy.address);
    try {
      const { call, result } = serverStream(client, {}, h.metadata({ 'x-probe': 'cancel' }, fn));
      await new Promise<void>((resolve) => call.once('data', () => resolve()));
      const closed = () => container.closes.find((c) => c.probe === 'cancel');
      assert.equal(closed(), undefined, 'the function stream is open');
      call.cancel();
      assert.equal((await result).status.code, grpc.status.CANCELLED);
      await eventually(() => closed() !== undefined, 2_000, 'the function stream to close');
      assert.equal(closed()?.rstCode, http2.constants.NGHTTP2_CANCEL);
    } finally {
      client.close();
    }
  });
});
