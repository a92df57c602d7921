// A framed tunnel (issue 12) against a raw peer that breaks the frame format or the call protocol: the
// mux ends (its HTTP/2 stream reset with PROTOCOL_ERROR), every open call closes as reset, the process
// and the tunnel carry on (a new mux stream on the same tunnel works).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import {
  MUX_FLAG_END_STREAM,
  MuxClient,
  type MuxClientStream,
  MuxFrameError,
  MuxFrameErrorCode,
  MuxFrameType,
  MuxFrameWriter,
  MuxServer,
  type MuxServerStream,
} from '../src/index.ts';
import { until } from './helpers.ts';
import { frameHead, grpcHeaders, startTunnelStreamPair, type TunnelStreamPair, takeBytes } from './mux-helpers.ts';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/** Frames made by `build`, as bytes. */
function frames(build: (w: MuxFrameWriter) => void): Buffer {
  const writer = new MuxFrameWriter();
  build(writer);
  return takeBytes(writer) ?? Buffer.alloc(0);
}

const REQUEST = ['content-type', 'application/grpc', ':path', '/x'];

/** Receive window of the worker ends under test (bytes): the smallest a mux accepts. */
const WINDOW_BYTES = 64 * 1024;

/** Raw bytes a client sends after opening call 1 (and what the server must make of them). */
const AGAINST_SERVER: [string, Buffer, MuxFrameErrorCode][] = [
  ['an unknown frame type', frameHead(1, 77, 0), MuxFrameErrorCode.UNKNOWN_TYPE],
  ['a frame over 1 MiB', frameHead(1, MuxFrameType.DATA, 1024 * 1024 + 1), MuxFrameErrorCode.TOO_LARGE],
  [
    'a bad header list',
    Buffer.concat([frameHead(3, MuxFrameType.HEADERS, 5), Buffer.from([0, 0, 0, 0, 9])]),
    MuxFrameErrorCode.BAD_HEADER_LIST,
  ],
  [
    'HEADERS for a call id in use',
    frames((w) => w.headers(1, MuxFrameType.HEADERS, 0, REQUEST)),
    MuxFrameErrorCode.PROTOCOL,
  ],
  [
    'HEADERS with an even call id',
    frames((w) => w.headers(4, MuxFrameType.HEADERS, 0, REQUEST)),
    MuxFrameErrorCode.PROTOCOL,
  ],
  ['DATA beyond the call window', frames((w) => w.data(1, Buffer.alloc(WINDOW_BYTES + 1))), MuxFrameErrorCode.PROTOCOL],
  ['DATA for a call never opened', frames((w) => w.data(9, Buffer.from('x'))), MuxFrameErrorCode.PROTOCOL],
  [
    'DATA after END',
    frames((w) => {
      w.end(1);
      w.data(1, Buffer.from('x'));
    }),
    MuxFrameErrorCode.PROTOCOL,
  ],
];

describe('framed tunnel: malformed frames from a raw peer', () => {
  let pair: TunnelStreamPair;
  before(async () => {
    pair = await startTunnelStreamPair();
  });
  after(async () => {
    await pair.close();
  });

  for (const [what, bytes, code] of AGAINST_SERVER) {
    test(`the worker end should drop the mux on ${what} (${code}) and reset its open calls`, async () => {
      const [proxyStream, workerStream] = await pair.another();
      proxyStream.on('error', () => {});
      // The smallest window a mux takes, so DATA one byte beyond it is a small frame.
      const server = new MuxServer(workerStream, { windowBytes: WINDOW_BYTES });
      const calls: MuxServerStream[] = [];
      server.on('stream', (call: MuxServerStream) => {
        call.on('error', () => {});
        calls.push(call);
      });
      const ended = once(server, 'close') as Promise<[Error | undefined]>;
      // A valid call first, then the bad bytes in a later chunk.
      proxyStream.write(frames((w) => w.headers(1, MuxFrameType.HEADERS, 0, REQUEST)));
      await until(() => calls.length === 1, 5000, 'the call');
      // (events.once would reject on the call's 'error'.)
      const closed = new Promise((resolve) => calls[0]?.once('close', resolve));
      proxyStream.write(bytes);
      const [reason] = await ended;
      assert.ok(reason instanceof MuxFrameError);
      assert.equal(reason.code, code);
      await closed;
      assert.equal(calls[0]?.rstCode, NGHTTP2_INTERNAL_ERROR);
      if (!proxyStream.destroyed) await new Promise((resolve) => proxyStream.once('close', resolve));
      assert.equal(proxyStream.rstCode, NGHTTP2_PROTOCOL_ERROR);
      assert.equal(pair.proxyTunnel.session.destroyed, false, 'the tunnel itself carries on');
    });
  }

  test('the proxy end should drop the mux on a bad frame, and its calls close as reset (a relay answers SY_TUNNEL_LOST)', async () => {
    const [proxyStream, workerStream] = await pair.another();
    workerStream.on('error', () => {});
    const client = new MuxClient(proxyStream);
    const call: MuxClientStream = client.request(grpcHeaders());
    call.on('error', () => {});
    const other: MuxClientStream = client.request(grpcHeaders());
    // The raw worker answers the first call, then sends garbage.
    await once(workerStream, 'data');
    workerStream.write(frames((w) => w.headers(1, MuxFrameType.HEADERS, 0, [':status', '200'])));
    await once(call, 'response');
    const ended = once(client, 'close') as Promise<[Error | undefined]>;
    workerStream.write(frameHead(1, 200, 0));
    const [reason] = await ended;
    assert.equal((reason as MuxFrameError).code, MuxFrameErrorCode.UNKNOWN_TYPE);
    await Promise.all([call, other].map((s) => new Promise((resolve) => s.once('close', resolve))));
    assert.equal(call.rstCode, NGHTTP2_INTERNAL_ERROR);
    assert.equal(other.rstCode, NGHTTP2_INTERNAL_ERROR);
    assert.equal(call.readableEnded, false, 'no clean end: the relay sees a lost upstream');
    assert.throws(() => client.request(grpcHeaders()), { code: 'ERR_HTTP2_INVALID_SESSION' });
  });

  test('frames for a call already closed should be ignored (a race with RESET)', async () => {
    const [proxyStream, workerStream] = await pair.another();
    const server = new MuxServer(workerStream);
    server.on('stream', (call: MuxServerStream) => call.close(NGHTTP2_INTERNAL_ERROR));
    proxyStream.write(
      frames((w) => {
        w.headers(1, MuxFrameType.HEADERS, 0, REQUEST);
        w.data(1, Buffer.from('late'));
        w.window(1, 100);
        w.end(1);
        w.headers(3, MuxFrameType.HEADERS, MUX_FLAG_END_STREAM, REQUEST);
      }),
    );
    await until(() => server.openCalls === 0 && !server.destroyed, 5000);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(server.destroyed, false);
    server.destroy();
  });
});
