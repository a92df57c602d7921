// The calls of a framed tunnel (issue 12) as stream objects: what they share with node:http2 streams
// (events, flags, errors thrown) beyond what the relay tests exercise, and the mux's own lifecycle.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { type MuxClientStream, type MuxServerStream, muxConfigOf } from '../src/index.ts';
import { until } from './helpers.ts';
import { grpcHeaders, type MuxPair, startMuxPair } from './mux-helpers.ts';

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_NO_ERROR, NGHTTP2_CANCEL } = http2.constants;

/** Opens a call and resolves with both of its ends. */
async function openCall(
  pair: MuxPair,
  headers: http2.OutgoingHttpHeaders | string[] = grpcHeaders(),
  endStream = false,
): Promise<{ call: MuxClientStream; served: MuxServerStream; headers: http2.IncomingHttpHeaders; flags: number }> {
  const next = once(pair.server, 'stream') as Promise<[MuxServerStream, http2.IncomingHttpHeaders, number]>;
  const call = pair.client.request(headers, { endStream });
  const [served, received, flags] = await next;
  return { call, served, headers: received, flags };
}

describe('framed tunnel calls as streams', () => {
  let pair: MuxPair;
  before(async () => {
    pair = await startMuxPair();
  });
  after(async () => {
    await pair.close();
  });

  test('request headers should arrive as node gives them (object and raw list), END_STREAM as a flag', async () => {
    const { served, headers, flags } = await openCall(
      pair,
      [':method', 'GET', ':path', '/p', 'x-many', 'a', 'x-many', 'b', 'x-ü', 'ünï'],
      true,
    );
    assert.equal(headers[':path'], '/p');
    assert.deepEqual(headers['x-many'], ['a', 'b']);
    assert.equal(headers['x-ü'], 'ünï');
    assert.equal(flags & NGHTTP2_FLAG_END_STREAM, NGHTTP2_FLAG_END_STREAM);
    assert.equal(served.endAfterHeaders, true);
    // (No body: 'end' follows on the next tick, before anyone could wait for it.)
    await until(() => served.readableEnded, 5000, 'end of the request');
    served.respond({ ':status': 204 }, { endStream: true });
    await once(served, 'close');
    assert.equal(served.rstCode, NGHTTP2_NO_ERROR);
  });

  test('respond() twice, and sendTrailers() before wantTrailers, should throw as node does', async () => {
    const { call, served } = await openCall(pair);
    served.respond([':status', '200'], { waitForTrailers: true });
    assert.throws(() => served.respond({ ':status': 200 }), { code: 'ERR_HTTP2_HEADERS_SENT' });
    assert.throws(() => served.sendTrailers({ a: 'b' }), { code: 'ERR_HTTP2_TRAILERS_NOT_READY' });
    const [response, responseFlags] = (await once(call, 'response')) as [http2.IncomingHttpHeaders, number];
    assert.equal(response[':status'], 200);
    assert.equal(responseFlags & NGHTTP2_FLAG_END_STREAM, 0);
    served.once('wantTrailers', () => served.sendTrailers({ 'grpc-status': '0' }));
    served.end('body');
    const body: Buffer[] = [];
    call.on('data', (c: Buffer) => body.push(c));
    const [trailers] = (await once(call, 'trailers')) as [http2.IncomingHttpHeaders];
    assert.equal(trailers['grpc-status'], '0');
    assert.equal(Buffer.concat(body).toString(), 'body');
    call.end();
    await once(call, 'close');
    assert.equal(call.readableEnded, true);
    assert.equal(call.rstCode, NGHTTP2_NO_ERROR);
    if (!served.destroyed) await once(served, 'close');
    assert.throws(() => served.respond(), { code: 'ERR_HTTP2_INVALID_STREAM' });
  });

  test("additionalHeaders() should send a 1xx the client sees as 'headers' before 'response', as node does", async () => {
    const { call, served } = await openCall(pair, { ':method': 'POST', ':path': '/upload' });
    const seen: string[] = [];
    call.on('headers', (h: http2.IncomingHttpHeaders) => seen.push(`headers ${h[':status']}`));
    call.on('response', (h: http2.IncomingHttpHeaders) => seen.push(`response ${h[':status']}`));
    assert.throws(() => served.additionalHeaders({ ':status': 200 }), RangeError);
    served.additionalHeaders({ ':status': 100 });
    await once(call, 'headers');
    assert.equal(call.responded, false);
    // The admitted body flows, then the answer.
    call.end(Buffer.from('body'));
    const [chunk] = (await once(served, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'body');
    served.respond({ ':status': 201 });
    assert.throws(() => served.additionalHeaders({ ':status': 100 }), { code: 'ERR_HTTP2_HEADERS_AFTER_RESPOND' });
    served.end();
    call.resume();
    await once(call, 'close');
    assert.deepEqual(seen, ['headers 100', 'response 201']);
    assert.equal(call.rstCode, NGHTTP2_NO_ERROR);
  });

  test('a paused call should hold its data until resume(), and emit end only after it', async () => {
    const { call, served } = await openCall(pair);
    served.respond();
    await once(call, 'response');
    call.pause();
    const seen: string[] = [];
    call.on('data', (c: Buffer) => seen.push(c.toString()));
    call.on('end', () => seen.push('end'));
    served.end('held');
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(seen, []);
    assert.equal(call.isPaused(), true);
    call.resume();
    await until(() => seen.length === 2);
    assert.deepEqual(seen, ['held', 'end']);
    call.close(NGHTTP2_CANCEL);
    const [code] = await Promise.all([
      new Promise((resolve) => served.once('close', () => resolve(served.rstCode))),
      once(call, 'close'),
    ]);
    assert.equal(code, NGHTTP2_CANCEL);
  });

  test('close() of the mux should refuse new calls and end its stream once the open calls are done', async () => {
    const other = await startMuxPair();
    const { call, served } = await openCall(other);
    other.client.close();
    assert.throws(() => other.client.request(grpcHeaders()), { code: 'ERR_HTTP2_INVALID_SESSION' });
    assert.equal(other.proxyStream.writableEnded, false);
    served.respond({ ':status': 200 }, { endStream: true });
    call.end();
    await once(call, 'close');
    await until(() => other.proxyStream.writableEnded, 5000, 'the mux stream ended');
    await until(() => other.server.destroyed, 5000, 'the worker end saw it end');
    await other.close();
  });

  test('options should be checked when the mux is built', () => {
    assert.throws(() => muxConfigOf({ windowBytes: 1024 }), RangeError);
    assert.throws(() => muxConfigOf({ maxFramePayloadBytes: 10 }), RangeError);
    assert.deepEqual(muxConfigOf({}), { windowBytes: 1024 * 1024, maxFramePayloadBytes: 1024 * 1024 });
  });
});
