import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  forwardHeaders,
  type ProxyTunnel,
  type RelayResult,
  relayStream,
  type TunnelListener,
  type WorkerTunnel,
} from '../src/index.ts';
import { attachWorker, startListener } from './helpers.ts';

/** An HTTP/2 "container" with one behaviour per path. */
function container(): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    switch (headers[':path']) {
      case '/body':
        stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-up': 'yes' });
        stream.end('a'.repeat(100_000));
        return;
      case '/trailers':
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': 'abc' }));
        stream.end('x');
        return;
      case '/reset':
        // waitForTrailers keeps END_STREAM back: node's close(code) would otherwise end the body
        // cleanly first, and a stream that has ended both ways can no longer be reset.
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
        stream.write('partial', () => setTimeout(() => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR), 20));
        return;
      case '/slow':
        stream.respond({ ':status': 200, 'content-type': 'text/plain' });
        stream.write('first');
        return;
      case '/echo':
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
        stream.pipe(stream);
        return;
      case '/get':
        stream.respond({ ':status': 204, 'x-end-after-headers': String(stream.endAfterHeaders) }, { endStream: true });
        return;
      default:
        stream.respond({ ':status': 404 }, { endStream: true });
    }
  });
  return server;
}

interface Response {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers?: http2.IncomingHttpHeaders;
  error?: string;
  rstCode?: number;
}

describe('H relay of plain HTTP through a tunnel (non-gRPC)', () => {
  let listener: TunnelListener;
  let proxyTunnel: ProxyTunnel;
  let workerTunnel: WorkerTunnel;
  let upstream: http2.Http2Server;
  let front: http2.Http2Server;
  let frontUrl: string;
  let containerSession: http2.ClientHttp2Session;
  const results: RelayResult[] = [];

  before(async () => {
    upstream = container();
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    containerSession = http2.connect(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    containerSession.on('error', () => {});
    let uri: string;
    ({ listener, uri } = await startListener());
    ({ proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-http', (stream, headers) => {
      relayStream(stream, containerSession, forwardHeaders(headers, new Set()), {
        upstreamErrorCode: 'SY_UPSTREAM_UNAVAILABLE',
      });
    }));
    front = http2.createServer();
    front.on('stream', (stream, headers) => {
      relayStream(stream, proxyTunnel.session, forwardHeaders(headers, new Set()), {
        onEnd: (r) => results.push(r),
      });
    });
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });
  after(async () => {
    workerTunnel.destroy();
    containerSession.destroy();
    await listener.close();
    await new Promise<void>((r) => upstream.close(() => r()));
    await new Promise<void>((r) => front.close(() => r()));
  });

  async function fetch(path: string, method = 'GET', body?: Buffer): Promise<Response> {
    const session = http2.connect(frontUrl);
    session.on('error', () => {});
    try {
      const req = session.request({ ':method': method, ':path': path }, { endStream: body === undefined });
      if (body) req.end(body);
      const response: Response = { status: 0, headers: {}, body: Buffer.alloc(0) };
      req.on('response', (headers) => {
        response.status = Number(headers[':status']);
        response.headers = headers;
      });
      req.on('trailers', (trailers) => {
        response.trailers = trailers;
      });
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of req) chunks.push(chunk as Buffer);
      } catch (err) {
        response.error = (err as NodeJS.ErrnoException).code;
      }
      response.body = Buffer.concat(chunks);
      response.rstCode = req.rstCode;
      return response;
    } finally {
      session.close();
    }
  }

  test('H: a plain response body and its headers should pass unchanged', async () => {
    const r = await fetch('/body');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-up'], 'yes');
    assert.equal(r.body.toString(), 'a'.repeat(100_000));
    assert.equal(r.error, undefined);
    assert.deepEqual(results.at(-1), { httpStatus: 200, grpcStatus: undefined });
  });

  test('H: HTTP trailers should pass through', async () => {
    const r = await fetch('/trailers');
    assert.equal(r.body.toString(), 'x');
    assert.equal(r.trailers?.['x-checksum'], 'abc');
  });

  test('H: a request body should stream upstream and back (8 MiB)', async () => {
    const body = Buffer.alloc(8 * 1024 * 1024, 7);
    const r = await fetch('/echo', 'POST', body);
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(body));
  });

  test('H: a request whose HEADERS end the stream should reach the container the same way', async () => {
    const r = await fetch('/get');
    assert.equal(r.status, 204);
    assert.equal(r.headers['x-end-after-headers'], 'true');
  });

  test('H: a container reset after the headers should reset the client stream, not end it cleanly', async () => {
    const r = await fetch('/reset');
    assert.equal(r.status, 200);
    assert.equal(r.error, 'ERR_HTTP2_STREAM_ERROR');
    assert.notEqual(r.rstCode, http2.constants.NGHTTP2_NO_ERROR);
  });

  test('H: a tunnel destroyed after the headers should reset the client stream, not end it cleanly', async () => {
    const count = results.length;
    const pending = fetch('/slow');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(results.length, count, 'still in flight');
    proxyTunnel.destroy();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'first');
    assert.equal(r.error, 'ERR_HTTP2_STREAM_ERROR', 'a truncated body must not look complete');
    assert.deepEqual(results.at(-1), { error: 'SY_TUNNEL_LOST', httpStatus: 200 });
  });

  test('G3: a request over a lost tunnel should get 503 text/plain', async () => {
    const r = await fetch('/body');
    assert.equal(r.status, 503);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.equal(r.body.toString(), 'tunnel to worker lost\n');
  });
});
