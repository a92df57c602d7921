import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ErrorCatalogue } from '@switchyard/protocol';
import { type EchoResponse, REQUESTED_FAILURE_MESSAGE } from '@switchyard/sample-functions';
import { forwardHeaders, isGrpcContentType, respondWithError } from '../src/index.ts';
import { CHAIN_REQ_ID, type Chain, callWithMany, callWithOne, startChain, until } from './helpers.ts';

const { NGHTTP2_CANCEL } = http2.constants;

describe('G4 relay through a tunnel: grpc-js -> front -> tunnel -> worker -> echo', () => {
  let chain: Chain;

  before(async () => {
    chain = await startChain();
  });
  after(async () => {
    await chain.close();
  });

  test('G4: should pass a unary call with x-echo-* metadata and x-trailer-* trailers both ways', async () => {
    const { messages, headers, status } = await callWithOne<EchoResponse>(
      chain.client,
      'Unary',
      { payload: Buffer.from('hello') },
      { metadata: { 'x-echo-one': 'a', 'x-trailer-two': 'b', authorization: 'Bearer secret' } },
    );
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].payload.toString(), 'hello');
    assert.deepEqual(headers.get('x-echo-one'), ['a']);
    assert.deepEqual(headers.get('nvcf-reqid'), [CHAIN_REQ_ID], 'front-added response header');
    assert.deepEqual(status.metadata.get('x-trailer-two'), ['b']);
    assert.deepEqual(chain.frontResults.at(-1), { httpStatus: 200, grpcStatus: '0' });
  });

  test('G4: should pass binary metadata unchanged', async () => {
    const md = new grpc.Metadata();
    md.add('x-echo-data-bin', Buffer.from([0, 1, 2, 255]));
    md.add('x-trailer-data-bin', Buffer.from([9, 8, 7]));
    const { headers, status } = await new Promise<{ headers: grpc.Metadata; status: grpc.StatusObject }>((resolve) => {
      let headers = new grpc.Metadata();
      const call = chain.client.Unary({ payload: Buffer.from('x') }, md, () => {});
      call.on('metadata', (m: grpc.Metadata) => {
        headers = m;
      });
      call.on('status', (status: grpc.StatusObject) => resolve({ headers, status }));
    });
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(headers.get('x-echo-data-bin'), [Buffer.from([0, 1, 2, 255])]);
    assert.deepEqual(status.metadata.get('x-trailer-data-bin'), [Buffer.from([9, 8, 7])]);
  });

  test('G4: should pass a client-streaming call', async () => {
    const requests = [1, 2, 3].map((n) => ({ payload: Buffer.alloc(n * 1000, n) }));
    const { messages, status } = await callWithOne<EchoResponse>(chain.client, 'ClientStream', requests, {
      metadata: { 'x-trailer-t': 'cs' },
    });
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(messages[0].received_bytes, 6000);
    assert.equal(messages[0].payload.length, 6000);
    assert.deepEqual(status.metadata.get('x-trailer-t'), ['cs']);
  });

  test('G4: should pass a server-streaming call', async () => {
    const { result } = callWithMany<EchoResponse>(
      chain.client,
      'ServerStream',
      { payload: Buffer.from('s'), repeat: 5 },
      { metadata: { 'x-echo-h': 'ss', 'x-trailer-t': 'ss' } },
    );
    const { messages, headers, status } = await result;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(messages.length, 5);
    assert.deepEqual(headers.get('x-echo-h'), ['ss']);
    assert.deepEqual(status.metadata.get('x-trailer-t'), ['ss']);
  });

  test('G4: should pass a bidi-streaming call', async () => {
    const requests = ['a', 'b', 'c'].map((p) => ({ payload: Buffer.from(p), repeat: 2 }));
    const { result } = callWithMany<EchoResponse>(chain.client, 'Bidi', requests, {
      metadata: { 'x-trailer-t': 'bidi' },
    });
    const { messages, status } = await result;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.deepEqual(
      messages.map((m) => m.payload.toString()),
      ['a', 'a', 'b', 'b', 'c', 'c'],
    );
    assert.deepEqual(status.metadata.get('x-trailer-t'), ['bidi']);
  });

  test('G4: should pass a 64 MiB message both ways (no size limit)', async () => {
    const payload = Buffer.alloc(64 * 1024 * 1024, 0x5a);
    payload[payload.length - 1] = 0x01;
    const { messages, status } = await callWithOne<EchoResponse>(chain.client, 'Unary', { payload });
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(messages[0].received_bytes, payload.length);
    assert.ok(messages[0].payload.equals(payload));
  });

  test('G4: should give the status the function ended with (fail_code), with its trailers', async () => {
    const { status } = await callWithOne<EchoResponse>(
      chain.client,
      'Unary',
      { payload: Buffer.from('x'), fail_code: grpc.status.NOT_FOUND },
      { metadata: { 'x-trailer-t': 'failed' } },
    );
    assert.equal(status.code, grpc.status.NOT_FOUND);
    assert.equal(status.details, REQUESTED_FAILURE_MESSAGE);
    assert.deepEqual(status.metadata.get('x-trailer-t'), ['failed']);
  });

  test('G4: should pass a trailers-only answer of the function unchanged (unknown method)', async () => {
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      let headers: grpc.Metadata | undefined;
      const call = chain.client.makeUnaryRequest(
        '/switchyard.echo.v1.Echo/NoSuchMethod',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        () => {},
      );
      call.on('metadata', (m: grpc.Metadata) => {
        headers = m;
      });
      call.on('status', (s: grpc.StatusObject) => {
        // In a trailers-only answer the header metadata and the trailers arrive in one frame.
        assert.equal(headers?.get('nvcf-reqid')[0] ?? s.metadata.get('nvcf-reqid')[0], CHAIN_REQ_ID);
        resolve(s);
      });
    });
    assert.equal(status.code, grpc.status.UNIMPLEMENTED);
    assert.deepEqual(chain.frontResults.at(-1), { httpStatus: 200, grpcStatus: String(grpc.status.UNIMPLEMENTED) });
  });

  test('G4: should honour grpc-timeout: DEADLINE_EXCEEDED and the function call cancelled', async () => {
    const before = chain.upstreamStreams.length;
    const { status } = await callWithOne<EchoResponse>(
      chain.client,
      'Unary',
      { payload: Buffer.from('x'), delay_ms: 5000 },
      { deadlineMs: 200 },
    );
    assert.equal(status.code, grpc.status.DEADLINE_EXCEEDED);
    const upstream = chain.upstreamStreams[before];
    assert.ok(upstream, 'the call reached the container');
    await until(() => upstream.closed, 2000, 'upstream stream closed');
  });

  test('G4: a client cancel should reset the tunnel stream and the container stream with CANCEL', async () => {
    const before = chain.upstreamStreams.length;
    const { call, result } = callWithMany<EchoResponse>(chain.client, 'ServerStream', {
      payload: Buffer.from('x'),
      repeat: 1000,
      delay_ms: 20,
    });
    await once(call, 'data');
    call.cancel();
    const { status } = await result;
    assert.equal(status.code, grpc.status.CANCELLED);
    const upstream = chain.upstreamStreams[before];
    const tunnelStream = chain.tunnelStreams.at(-1)!;
    await until(() => upstream.closed && tunnelStream.closed, 2000, 'relayed streams closed');
    assert.equal(tunnelStream.rstCode, NGHTTP2_CANCEL);
    assert.equal(upstream.rstCode, NGHTTP2_CANCEL);
    assert.equal(chain.frontResults.at(-1)?.error, 'CLIENT_CANCELLED');
  });

  test('G4: 100 concurrent calls over one tunnel should all complete', async () => {
    const calls = Array.from({ length: 100 }, (_, i) =>
      callWithOne<EchoResponse>(chain.client, 'Unary', { payload: Buffer.from(`m${i}`), delay_ms: 20 }),
    );
    const results = await Promise.all(calls);
    for (const [i, r] of results.entries()) {
      assert.equal(r.status.code, grpc.status.OK, r.status.details);
      assert.equal(r.messages[0].payload.toString(), `m${i}`);
    }
    assert.equal(chain.listener.size, 1);
  });
});

describe('G4 relay failures: lost container, lost tunnel', () => {
  let chain: Chain;

  afterEach(async () => {
    await chain.close();
  });

  test('G4: killing the function container mid-stream should give the client UNAVAILABLE', async () => {
    chain = await startChain();
    const { call, result } = callWithMany<EchoResponse>(chain.client, 'ServerStream', {
      payload: Buffer.from('x'),
      repeat: 1000,
      delay_ms: 10,
    });
    await once(call, 'data');
    chain.echo.kill();
    const { status, messages } = await result;
    assert.ok(messages.length >= 1);
    assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
    assert.equal(status.details, ErrorCatalogue.SY_UPSTREAM_UNAVAILABLE.message);
  });

  test('G4: a call to a dead function container should give the client UNAVAILABLE', async () => {
    chain = await startChain();
    chain.echo.kill();
    const { status } = await callWithOne<EchoResponse>(chain.client, 'Unary', { payload: Buffer.from('x') });
    assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
    assert.equal(status.details, ErrorCatalogue.SY_UPSTREAM_UNAVAILABLE.message);
  });

  test('G4: destroying the tunnel mid-call should give UNAVAILABLE "tunnel to worker lost"', async () => {
    chain = await startChain();
    const { call, result } = callWithMany<EchoResponse>(chain.client, 'ServerStream', {
      payload: Buffer.from('x'),
      repeat: 1000,
      delay_ms: 10,
    });
    await once(call, 'data');
    chain.proxyTunnel.destroy();
    const { status } = await result;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.equal(status.details, 'tunnel to worker lost');
    const upstream = chain.upstreamStreams.at(-1)!;
    await until(() => upstream.closed, 2000, 'container stream cancelled');
    assert.deepEqual(chain.frontResults.at(-1), { error: 'SY_TUNNEL_LOST', httpStatus: 200 });
  });

  test('G4: destroying the tunnel before the worker answers should give UNAVAILABLE "tunnel to worker lost"', async () => {
    chain = await startChain();
    // Stop the worker from answering: hold every stream it gets.
    chain.workerTunnel.session.removeAllListeners('stream');
    const { result } = callWithMany<EchoResponse>(chain.client, 'ServerStream', { payload: Buffer.from('x') });
    await until(() => chain.tunnelStreams.length === 1, 2000, 'tunnel stream');
    chain.proxyTunnel.destroy();
    const { status } = await result;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.equal(status.details, 'tunnel to worker lost');
  });

  test('G4: a call over a closed tunnel should get UNAVAILABLE at once', async () => {
    chain = await startChain();
    chain.proxyTunnel.destroy();
    const { status } = await callWithOne<EchoResponse>(chain.client, 'Unary', { payload: Buffer.from('x') });
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.equal(status.details, 'tunnel to worker lost');
  });
});

describe('G3 respondWithError', () => {
  let server: http2.Http2Server;
  let port: number;

  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      respondWithError(stream, isGrpcContentType(headers['content-type']), 'SY_SESSION_NOT_FOUND', {
        'access-control-allow-origin': '*',
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('G3: a gRPC request should get HTTP 200 trailers-only with grpc-status and grpc-message', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const req = session.request({ ':method': 'POST', ':path': '/a.B/C', 'content-type': 'application/grpc' });
    req.end();
    const [headers, flags] = (await once(req, 'response')) as [http2.IncomingHttpHeaders, number];
    assert.equal(headers[':status'], 200);
    assert.equal(headers['grpc-status'], '5');
    assert.equal(headers['grpc-message'], 'no existing session found');
    assert.equal(headers['access-control-allow-origin'], '*');
    assert.ok(flags & http2.constants.NGHTTP2_FLAG_END_STREAM, 'trailers-only: END_STREAM on the headers');
    session.close();
  });

  test('G3: a gRPC client should see NOT_FOUND with the catalogue message', async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeUnaryRequest(
        '/a.B/C',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
        () => {},
      );
      call.on('status', resolve);
    });
    assert.equal(status.code, grpc.status.NOT_FOUND);
    assert.equal(status.details, 'no existing session found');
    client.close();
  });

  test('G3: a non-gRPC request should get text/plain with the mapped HTTP status (NOT_FOUND -> 404)', async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const req = session.request({ ':method': 'GET', ':path': '/x' });
    const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    req.setEncoding('utf8');
    for await (const chunk of req) body += chunk;
    assert.equal(headers[':status'], 404);
    assert.match(String(headers['content-type']), /^text\/plain/);
    assert.equal(body, 'no existing session found\n');
    session.close();
  });
});

describe('G4 forwardHeaders', () => {
  test('G4: should keep request pseudo-headers and metadata, and drop hop-by-hop fields and the drop list', () => {
    const out = forwardHeaders(
      {
        ':method': 'POST',
        ':path': '/a.B/C',
        ':scheme': 'http',
        ':authority': 'grpc.example',
        ':status': '200',
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: 'Bearer secret',
        connection: 'keep-alive',
        'keep-alive': '5',
        'transfer-encoding': 'chunked',
        upgrade: 'h2c',
        host: 'grpc.example',
        'x-custom': 'v',
        'x-bin-bin': 'AAE=',
      },
      new Set(['authorization']),
      { 'nvcf-reqid': CHAIN_REQ_ID },
    );
    assert.deepEqual(out, {
      ':method': 'POST',
      ':path': '/a.B/C',
      ':scheme': 'http',
      ':authority': 'grpc.example',
      'content-type': 'application/grpc',
      te: 'trailers',
      'x-custom': 'v',
      'x-bin-bin': 'AAE=',
      'nvcf-reqid': CHAIN_REQ_ID,
    });
  });

  test('G4: should drop a te header other than trailers, which HTTP/2 forbids', () => {
    assert.deepEqual(forwardHeaders({ ':path': '/', te: 'gzip' }, new Set()), { ':path': '/' });
  });
});
