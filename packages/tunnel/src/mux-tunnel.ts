// The framed tunnel on a worker tunnel (issue 12): the front end opens one control-marked stream
// (`POST /_switchyard/v1/mux`) on the tunnel session and frames calls on it; the worker recognises that
// stream before dispatching, answers 200 and serves the calls framed on it. Used only with a worker
// that announced TunnelFeatures.mux (one that did not answers the stream 404, which fails its calls).

import type http2 from 'node:http2';
import { TunnelControlPaths, TunnelHeaders } from '@switchyard/protocol';
import { MuxClient } from './mux-client.ts';
import { MuxServer, type MuxServerStream } from './mux-server.ts';
import type { MuxOptions } from './mux-session.ts';

/** Control marker value (TunnelHeaders.control) of the mux stream, as of every control request. */
const CONTROL_MARKER = '1';

/** Request headers of the mux stream. */
const MUX_REQUEST_HEADERS: http2.OutgoingHttpHeaders = {
  ':method': 'POST',
  ':path': TunnelControlPaths.mux,
  [TunnelHeaders.control]: CONTROL_MARKER,
};

/**
 * Opens the mux stream on `session` (the front end's tunnel session) and returns its client end: calls
 * opened on it (`request()`, or relayStream with it as the upstream session) may start at once.
 * @throws like `session.request()` when the session takes no new streams (closed, GOAWAY).
 */
export function openTunnelMux(session: http2.ClientHttp2Session, options?: MuxOptions): MuxClient {
  return new MuxClient(session.request(MUX_REQUEST_HEADERS), options);
}

/** True when a stream the worker got over a tunnel is the mux stream (control-marked, mux path). */
export function isTunnelMuxStream(headers: http2.IncomingHttpHeaders): boolean {
  return headers[':path'] === TunnelControlPaths.mux && headers[TunnelHeaders.control] === CONTROL_MARKER;
}

/** Handler of a call framed on a mux: the call, its request headers, HTTP/2 flags and raw header list. */
export type MuxCallHandler = (
  call: MuxServerStream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  raw: string[],
) => void;

/**
 * Serves the mux stream `stream` (see isTunnelMuxStream) on the worker: answers it 200 and hands each
 * call framed on it to `onCall`. The mux ends with the stream (every open call then closes as reset);
 * a stream already reset gives a mux already ended. Never throws.
 */
export function serveTunnelMux(
  stream: http2.ServerHttp2Stream,
  onCall: MuxCallHandler,
  options?: MuxOptions,
): MuxServer {
  const server = new MuxServer(stream, options);
  server.on('stream', onCall);
  // A stream reset in the same read as its HEADERS arrives closed: respond() would throw (and its
  // 'close' may be gone already), so the mux ends at once.
  if (stream.destroyed || stream.closed) {
    server.destroy();
    return server;
  }
  try {
    stream.respond({ ':status': 200 });
  } catch {
    server.destroy();
  }
  return server;
}
