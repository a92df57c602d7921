// The tunnel's control namespace is not a client's (issue 8): a client request for
// `/_switchyard/v1/sessions/<its own reqId>/detach|attach` gets the G3 NOT_FOUND / 404 from the proxy and
// never reaches the worker, even with the control marker set; the worker treats a tunnel stream as a
// control request only with the marker a front end sets (`x-switchyard-control: 1`). A detach would
// start the session's reconnect window (S1) while its client is still connected: the window here is
// 600 ms, so a session that was detached is gone when the test calls again on the same connection.

import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { GrpcStatus, TunnelControlPaths, TunnelHeaders } from '@switchyard/protocol';
import { sendControl } from '@switchyard/worker-link';
import { RegionHarness } from './region-harness.ts';

const WINDOW_MS = 600;
const ECHO_PATH = '/switchyard.echo.v1.Echo/Unary';
/** An empty EchoRequest in a gRPC frame. */
const EMPTY_FRAME = Buffer.from([0, 0, 0, 0, 0]);

interface RawAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  grpcStatus: number | undefined;
}

/** One gRPC-shaped request on `session`; resolves when its stream closes. */
async function rawCall(
  session: http2.ClientHttp2Session,
  path: string,
  metadata: Record<string, string>,
  body: Buffer = EMPTY_FRAME,
): Promise<RawAnswer> {
  const stream = session.request({
    ':method': 'POST',
    ':path': path,
    'content-type': 'application/grpc',
    te: 'trailers',
    ...metadata,
  });
  stream.end(body);
  return new Promise((resolve) => {
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('error', () => undefined);
    stream.resume();
    stream.on('close', () => {
      const grpc = trailers?.['grpc-status'] ?? headers['grpc-status'];
      resolve({
        status: Number(headers[':status'] ?? 0),
        headers,
        trailers,
        grpcStatus: grpc === undefined ? undefined : Number(grpc),
      });
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('control paths are closed to clients (issue 8)', () => {
  const h = new RegionHarness();
  let workerId = '';

  before(async () => {
    await h.start({ reconnectWindowMs: WINDOW_MS });
    await h.addProxy({ attachTimeoutMs: 8_000 });
    const worker = await h.addWorker({ concurrency: 8 });
    workerId = worker.worker.config.workerId;
  });
  after(() => h.stop());

  /** A connection with a session on it: the first call's `nvcf-reqid`. */
  async function sessionOnNewConnection(): Promise<{ conn: http2.ClientHttp2Session; reqId: string }> {
    const conn = http2.connect(`http://${h.proxies[0].address}`);
    conn.on('error', () => undefined);
    const first = await rawCall(conn, ECHO_PATH, h.metadata());
    assert.equal(first.grpcStatus, GrpcStatus.OK, 'the first call is served');
    const reqId = String(first.headers['nvcf-reqid'] ?? '');
    assert.match(reqId, /^[0-9a-f-]{36}$/);
    return { conn, reqId };
  }

  test('should get NOT_FOUND from the proxy for /_switchyard/ paths naming the own session, and the session lives on', async () => {
    const { conn, reqId } = await sessionOnNewConnection();
    try {
      for (const path of [TunnelControlPaths.detach(reqId), TunnelControlPaths.attach(reqId), '/_switchyard/x']) {
        for (const marker of [{}, { [TunnelHeaders.control]: '1' }] as Record<string, string>[]) {
          const answer = await rawCall(conn, path, h.metadata({ 'nvcf-reqid': reqId, ...marker }));
          assert.equal(answer.status, 200, `${path}: gRPC errors are HTTP 200 (G3)`);
          assert.equal(answer.grpcStatus, GrpcStatus.NOT_FOUND, `${path}: NOT_FOUND`);
          assert.equal(answer.headers['grpc-message'], 'no such route', path);
          assert.equal(answer.headers['set-cookie'], undefined, `${path}: the session cookie is not cleared`);
        }
      }
      // Past the reconnect window a detached session would be over; this one is still served, pinned.
      await sleep(WINDOW_MS * 2);
      const again = await rawCall(conn, ECHO_PATH, h.metadata());
      assert.equal(again.grpcStatus, GrpcStatus.OK, 'the session is still served');
      assert.equal(again.headers['nvcf-reqid'], reqId, 'the same session');
    } finally {
      conn.close();
    }
  });

  test('should get 404 for /_switchyard/ paths over HTTP/1.1 and WebSocket', async () => {
    const path = TunnelControlPaths.detach('00000000-0000-4000-8000-000000000000');
    const plain = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: h.proxies[0].port, method: 'POST', path, headers: h.metadata() },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(plain.status, 404);
    assert.equal(plain.body, 'no such route\n');
    const upgrade = await new Promise<number>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: h.proxies[0].port,
        path,
        headers: {
          ...h.metadata(),
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    assert.equal(upgrade, 404);
  });

  test('should not detach a session for a tunnel stream with the control path but no marker; the marker does', async () => {
    const { conn, reqId } = await sessionOnNewConnection();
    try {
      const tunnel = h.proxies[0].proxy.tunnels.get(workerId);
      assert.ok(tunnel, 'the proxy has a tunnel to the worker');
      const unmarked = await rawCall(tunnel.session, TunnelControlPaths.detach(reqId), { 'nvcf-reqid': reqId });
      assert.notEqual(unmarked.status, 0, 'answered');
      await sleep(WINDOW_MS * 2);
      const kept = await rawCall(conn, ECHO_PATH, h.metadata());
      assert.equal(kept.grpcStatus, GrpcStatus.OK, 'an unmarked stream detached nothing');
      assert.equal(kept.headers['nvcf-reqid'], reqId);

      // The real thing, for contrast: a marked detach starts the reconnect window.
      assert.equal(await sendControl(tunnel, 'detach', reqId), 200);
      await sleep(WINDOW_MS * 3);
      const gone = await rawCall(conn, ECHO_PATH, h.metadata()).catch(() => undefined);
      assert.notEqual(gone?.headers['nvcf-reqid'] === reqId && gone?.grpcStatus === GrpcStatus.OK, true);
    } finally {
      conn.close();
    }
  });
});
