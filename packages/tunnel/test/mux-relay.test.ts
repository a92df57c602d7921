// The framed tunnel (issue 12) under the relay: client -> front (relayStream over a MuxClient) -> one
// HTTP/2 stream of a real tunnel -> worker (relayStream of each MuxServerStream) -> container. The same
// relay code as over per-call HTTP/2 streams; these tests redo the tunnel's G4 cases against the mux.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ErrorCatalogue, encodeGrpcMessage } from '@switchyard/protocol';
import {
  type EchoClient,
  type EchoResponse,
  loadEchoClient,
  REQUESTED_FAILURE_MESSAGE,
  type SampleServerHandle,
  startEchoServer,
} from '@switchyard/sample-functions';
import { callWithMany, callWithOne, until } from './helpers.ts';
import { grpcHeaders, listenLoopback, type MuxChain, rawCall, startMuxChain } from './mux-helpers.ts';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const LOST = encodeGrpcMessage(ErrorCatalogue.SY_TUNNEL_LOST.message);

describe('G4 over a framed tunnel: grpc-js -> front -> mux -> worker -> echo', () => {
  let echo: SampleServerHandle;
  let chain: MuxChain;
  let client: EchoClient;

  before(async () => {
    echo = await startEchoServer();
    chain = await startMuxChain(echo.address);
    client = loadEchoClient(`127.0.0.1:${chain.frontPort}`);
  });
  after(async () => {
    client.close();
    await chain.close();
    echo.kill();
  });

  test('should pass a unary call with metadata and trailers both ways', async () => {
    const { messages, headers, status } = await callWithOne<EchoResponse>(
      client,
      'Unary',
      { payload: Buffer.from('hello') },
      { metadata: { 'x-echo-one': 'a', 'x-trailer-two': 'b', authorization: 'Bearer secret' } },
    );
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(messages[0]?.payload.toString(), 'hello');
    assert.deepEqual(headers.get('x-echo-one'), ['a']);
    assert.deepEqual(headers.get('nvcf-reqid'), ['mux-req'], 'front-added response header');
    assert.deepEqual(status.metadata.get('x-trailer-two'), ['b']);
    await until(() => chain.frontResults.length > 0 && chain.workerResults.length > 0);
    assert.deepEqual(chain.frontResults.at(-1), { httpStatus: 200, grpcStatus: '0' });
    assert.deepEqual(chain.workerResults.at(-1), { httpStatus: 200, grpcStatus: '0' });
  });

  test('should pass client-streaming and server-streaming calls', async () => {
    const requests = [1, 2, 3].map((n) => ({ payload: Buffer.alloc(n * 1000, n) }));
    const cs = await callWithOne<EchoResponse>(client, 'ClientStream', requests);
    assert.equal(cs.status.code, grpc.status.OK, cs.status.details);
    assert.equal(cs.messages[0]?.received_bytes, 6000);
    const { result } = callWithMany<EchoResponse>(client, 'ServerStream', { payload: Buffer.from('s'), repeat: 5 });
    const ss = await result;
    assert.equal(ss.status.code, grpc.status.OK, ss.status.details);
    assert.equal(ss.messages.length, 5);
  });

  test('should give the status the function ended with (trailers-only answer)', async () => {
    const { status } = await callWithOne<EchoResponse>(client, 'Unary', {
      payload: Buffer.from('x'),
      fail_code: grpc.status.NOT_FOUND,
    });
    assert.equal(status.code, grpc.status.NOT_FOUND);
    assert.equal(status.details, REQUESTED_FAILURE_MESSAGE);
  });

  test('should carry 64 calls in flight on the one mux stream', async () => {
    const calls = Array.from({ length: 64 }, (_, i) =>
      callWithOne<EchoResponse>(client, 'Unary', { payload: Buffer.from(`call-${i}`) }),
    );
    const results = await Promise.all(calls);
    results.forEach(({ status, messages }, i) => {
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.equal(messages[0]?.payload.toString(), `call-${i}`);
    });
    await until(() => chain.client.openCalls === 0 && chain.server.openCalls === 0, 5000, 'calls forgotten');
    await until(() => chain.workerResults.length >= 64, 5000, 'worker results');
    assert.deepEqual(
      chain.workerResults.filter((r) => r.error !== undefined),
      [],
      'no call ended early on the worker',
    );
  });
});

/** A container whose behaviour is picked by `:path`; it keeps every stream it got. */
async function startScriptedContainer(): Promise<{
  server: http2.Http2Server;
  address: string;
  streams: { path: string; stream: http2.ServerHttp2Stream }[];
}> {
  const streams: { path: string; stream: http2.ServerHttp2Stream }[] = [];
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    streams.push({ path, stream });
    stream.on('error', () => {});
    const grpcOk = { ':status': 200, 'content-type': 'application/grpc' };
    switch (path) {
      case '/t/trailers-only':
        stream.respond({ ...grpcOk, 'grpc-status': '5', 'grpc-message': 'nope' }, { endStream: true });
        return;
      case '/t/reset-before':
        stream.close(NGHTTP2_INTERNAL_ERROR);
        return;
      case '/t/reset-after':
        stream.respond(grpcOk);
        stream.write(Buffer.from('partial'));
        setTimeout(() => stream.close(NGHTTP2_INTERNAL_ERROR), 20);
        return;
      case '/t/hang-after-headers':
        stream.respond(grpcOk);
        stream.write(Buffer.from('partial'));
        return;
      case '/t/hang':
        return;
      default:
        stream.respond(grpcOk, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.pipe(stream);
    }
  });
  const port = await listenLoopback(server);
  return { server, address: `127.0.0.1:${port}`, streams };
}

describe('framed tunnel: resets, cancels and a lost mux', () => {
  let container: Awaited<ReturnType<typeof startScriptedContainer>>;
  let chain: MuxChain;
  let front: http2.ClientHttp2Session;

  before(async () => {
    container = await startScriptedContainer();
    chain = await startMuxChain(container.address, {
      workerCall: (call, headers) => {
        if (headers[':path'] !== '/w/reset-before' && headers[':path'] !== '/w/reset-after') return false;
        if (headers[':path'] === '/w/reset-after') {
          call.respond({ ':status': 200, 'content-type': 'application/grpc' });
          call.write(Buffer.from('partial'));
          setTimeout(() => call.close(NGHTTP2_INTERNAL_ERROR), 20);
        } else call.close(NGHTTP2_INTERNAL_ERROR);
        return true;
      },
    });
    front = http2.connect(`http://127.0.0.1:${chain.frontPort}`);
    front.on('error', () => {});
  });
  after(async () => {
    front.destroy();
    await chain.close();
    container.server.close();
    for (const { stream } of container.streams) stream.destroy();
  });

  test('should relay a request body and trailers over the mux (raw HTTP/2 client)', async () => {
    const { answer } = rawCall(front, grpcHeaders('/t/echo'), Buffer.from('ping'));
    const { headers, body, trailers } = await answer;
    assert.equal(headers?.[':status'], 200);
    assert.equal(body.toString(), 'ping');
    assert.equal(trailers?.['grpc-status'], '0');
  });

  test('should pass a trailers-only answer as one HEADERS with END_STREAM', async () => {
    const { answer } = rawCall(front, grpcHeaders('/t/trailers-only'), Buffer.from('x'));
    const { headers, trailers, body } = await answer;
    assert.equal(headers?.['grpc-status'], '5');
    assert.equal(headers?.['grpc-message'], 'nope');
    assert.equal(trailers, undefined);
    assert.equal(body.length, 0);
  });

  test('should cancel the container stream when the client cancels', async () => {
    const before = container.streams.length;
    const { stream, answer } = rawCall(front, grpcHeaders('/t/hang'), Buffer.from('x'));
    await until(() => container.streams.length > before, 5000, 'container stream');
    const upstream = container.streams.at(-1)?.stream as http2.ServerHttp2Stream;
    const upstreamClosed = new Promise<number>((resolve) => upstream.once('close', () => resolve(upstream.rstCode)));
    stream.close(NGHTTP2_CANCEL);
    await answer;
    assert.equal(await upstreamClosed, NGHTTP2_CANCEL);
    await until(() => chain.workerResults.some((r) => r.error === 'CLIENT_CANCELLED'), 5000, 'worker result');
  });

  test('should answer SY_UPSTREAM_UNAVAILABLE when the container resets before answering', async () => {
    const { answer } = rawCall(front, grpcHeaders('/t/reset-before'), Buffer.from('x'));
    const { headers } = await answer;
    assert.equal(headers?.['grpc-status'], String(grpc.status.UNAVAILABLE));
    assert.equal(headers?.['grpc-message'], encodeGrpcMessage(ErrorCatalogue.SY_UPSTREAM_UNAVAILABLE.message));
  });

  test('should end with grpc-status 14 trailers when the container resets after answering', async () => {
    const { answer } = rawCall(front, grpcHeaders('/t/reset-after'), Buffer.from('x'));
    const { headers, body, trailers } = await answer;
    assert.equal(headers?.[':status'], 200);
    assert.equal(body.toString(), 'partial');
    assert.equal(trailers?.['grpc-status'], String(grpc.status.UNAVAILABLE));
  });

  test('should answer SY_TUNNEL_LOST when the worker resets the mux call before answering', async () => {
    const { answer } = rawCall(front, grpcHeaders('/w/reset-before'), Buffer.from('x'));
    const { headers } = await answer;
    assert.equal(headers?.['grpc-status'], String(grpc.status.UNAVAILABLE));
    assert.equal(headers?.['grpc-message'], LOST);
  });

  test('should end with grpc-status 14 trailers when the worker resets the mux call after answering', async () => {
    const { answer } = rawCall(front, grpcHeaders('/w/reset-after'), Buffer.from('x'));
    const { body, trailers } = await answer;
    assert.equal(body.toString(), 'partial');
    assert.equal(trailers?.['grpc-status'], String(grpc.status.UNAVAILABLE));
    assert.equal(trailers?.['grpc-message'], LOST);
  });

  // Last: the mux is gone afterwards.
  test('should fail every call cleanly when the mux stream is lost mid-call', async () => {
    const before = container.streams.length;
    const calls = [
      rawCall(front, grpcHeaders('/t/hang-after-headers'), Buffer.from('a')),
      rawCall(front, grpcHeaders('/t/hang-after-headers'), Buffer.from('b')),
      rawCall(front, grpcHeaders('/t/hang'), Buffer.from('c')),
    ];
    await until(() => container.streams.length >= before + 3, 5000, 'container streams');
    await until(() => chain.client.openCalls === 3, 5000, 'open calls');
    // Let the headers and data of the first two reach the client.
    await new Promise((r) => setTimeout(r, 50));
    const upstreams = container.streams
      .slice(before)
      .map(({ stream }) => new Promise<number>((resolve) => stream.once('close', () => resolve(stream.rstCode))));
    chain.proxyStream.close(NGHTTP2_INTERNAL_ERROR);
    const answers = await Promise.all(calls.map((c) => c.answer));
    for (const a of answers.slice(0, 2)) {
      assert.equal(a.headers?.[':status'], 200);
      assert.equal(a.body.toString(), 'partial');
      assert.equal(a.trailers?.['grpc-status'], String(grpc.status.UNAVAILABLE));
      assert.equal(a.trailers?.['grpc-message'], LOST);
    }
    assert.equal(answers[2]?.headers?.['grpc-status'], String(grpc.status.UNAVAILABLE));
    assert.equal(answers[2]?.headers?.['grpc-message'], LOST);
    assert.deepEqual(await Promise.all(upstreams), [NGHTTP2_CANCEL, NGHTTP2_CANCEL, NGHTTP2_CANCEL]);
    assert.equal(chain.client.destroyed, true);
    await until(() => chain.server.destroyed, 5000, 'worker mux end');
    // A new call on the lost mux is answered at once.
    const late = await rawCall(front, grpcHeaders('/t/echo'), Buffer.from('late')).answer;
    assert.equal(late.headers?.['grpc-message'], LOST);
  });
});
