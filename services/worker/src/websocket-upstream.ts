// The worker's end of a client WebSocket (G12): a tunnel stream marked `x-switchyard-upgrade:
// websocket` becomes an HTTP/1.1 Upgrade request to the function container; once the container
// switches protocols, the raw bytes are piped both ways. Frames are never decoded here (a traced
// WebSocket's frame headers are followed to learn its close code, payloads untouched).
// Observability: a container-call CLIENT span (a child of the proxy's tunnel-call span named by the
// stream's `traceparent`) whose context the container receives as `traceparent` on the Upgrade
// request; the container series with `switchyard.protocol="websocket"`.

import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { HOP_BY_HOP_HEADERS, Metadata, TunnelHeaders } from '@switchyard/protocol';
import { endHttpSpan, endRelaySpan, endWebSocketSpan, injectTraceHeaders, type Span } from '@switchyard/telemetry';
import { FrameBoundary, respondWithError } from '@switchyard/tunnel';
import { type ContainerErrorKind, recordWebSocketEnd, type WorkerRecorder } from './container-calls.ts';
import { startContainerSpan } from './container-span.ts';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** How long a container socket may take to flush its last bytes after the tunnel stream closed (ms). */
const CLOSE_GRACE_MS = 5_000;

/** The marker value of {@link TunnelHeaders.upgrade}. */
export const WEBSOCKET_UPGRADE = 'websocket';

/** Request headers the container never receives: Switchyard's own and the API key. */
const DROP_TO_CONTAINER: ReadonlySet<string> = new Set([...Object.values(TunnelHeaders), 'authorization']);

/** True when a tunnel stream carries a client WebSocket (G12). */
export function isWebSocketStream(headers: http2.IncomingHttpHeaders): boolean {
  return headers[TunnelHeaders.upgrade] === WEBSOCKET_UPGRADE;
}

/**
 * `host:port` of the container's WebSocket endpoint: `websocketUpstream` (ws:// or http://) when set,
 * else the host and port of `upstream` (grpc:// or http://).
 */
export function webSocketTarget(upstream: string, websocketUpstream: string | undefined): URL {
  return new URL((websocketUpstream ?? upstream).replace(/^[a-z]+:/, 'http:'));
}

/** How one relayed WebSocket went, for its metrics and span (filled in as it happens). */
interface WebSocketCall {
  /** Status of the container's answer to the Upgrade (101 once switched), else undefined. */
  status: number | undefined;
  /** Kind of a container-side failure: not reachable, or its socket failed after switching. */
  error: ContainerErrorKind | undefined;
  /** Code of the first close frame either side sent, and which side. */
  closeCode: number | undefined;
  closedBy: 'client' | 'container' | undefined;
}

/** Relays client WebSockets to one container endpoint. */
export class WebSocketUpstream {
  readonly #target: URL;
  readonly #recorder: WorkerRecorder | undefined;

  /**
   * @param target the container's endpoint (`http://host:port`, see {@link webSocketTarget}).
   * @param recorder container series (`switchyard.protocol="websocket"`); @default none
   */
  constructor(target: URL, recorder?: WorkerRecorder) {
    this.#target = target;
    this.#recorder = recorder;
  }

  /**
   * Sends the Upgrade request of `stream` (headers from the proxy) to the container. A container
   * that switches protocols: the stream is answered `:status 200` with the marker and the
   * container's 101 headers (`sec-websocket-accept`, the chosen `sec-websocket-protocol`...), then
   * bytes flow both ways with backpressure. A container that answers anything else: that answer is
   * relayed as is (no marker). Unreachable: 503 (G3 text). A closed tunnel stream aborts the request
   * or resets the container socket; a closed container socket ends the stream. Once the stream closed,
   * the call is recorded (metrics) and its span ended.
   */
  relay(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const startedAt = performance.now();
    const reqId = headers[Metadata.requestId];
    const span = startContainerSpan(headers, typeof reqId === 'string' ? reqId : undefined, 'websocket');
    const call: WebSocketCall = { status: undefined, error: undefined, closeCode: undefined, closedBy: undefined };
    const recorder = this.#recorder;
    if (recorder !== undefined || span !== undefined) {
      stream.once('close', () => {
        if (recorder !== undefined) recordWebSocketEnd(recorder, startedAt, call);
        if (span !== undefined) endCallSpan(span.span, call);
      });
    }
    const out: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(':') || HOP_BY_HOP_HEADERS.has(name) || DROP_TO_CONTAINER.has(name) || value === undefined)
        continue;
      out[name] = value;
    }
    out.connection = 'Upgrade';
    out.upgrade = WEBSOCKET_UPGRADE;
    out.host = this.#target.host;
    // The container's parent is this span; untraced, the front end's `traceparent` passes unchanged.
    if (span !== undefined) injectTraceHeaders(span.ctx, out);
    const req = http.request({
      host: this.#target.hostname.replace(/^\[|\]$/g, ''),
      port: Number(this.#target.port || 80),
      method: 'GET',
      path: typeof headers[':path'] === 'string' ? headers[':path'] : '/',
      headers: out,
      agent: false,
    });
    let settled = false;
    const abort = () => {
      if (!settled) req.destroy();
    };
    stream.once('close', abort);
    req.on('upgrade', (res, socket, head) => {
      settled = true;
      call.status = res.statusCode ?? 101;
      stream.off('close', abort);
      if (stream.closed || stream.destroyed) {
        socket.destroy();
        return;
      }
      try {
        stream.respond({ ...responseHeaders(res), ':status': 200, [TunnelHeaders.upgrade]: WEBSOCKET_UPGRADE });
      } catch {
        socket.destroy();
        return;
      }
      splice(stream, socket, head, call, span !== undefined);
    });
    req.on('response', (res) => {
      // The container did not switch protocols: its answer goes back as an ordinary response.
      settled = true;
      call.status = res.statusCode ?? 502;
      stream.off('close', abort);
      if (stream.closed || stream.destroyed) {
        res.destroy();
        return;
      }
      try {
        stream.respond({ ...responseHeaders(res), ':status': res.statusCode ?? 502 });
      } catch {
        res.destroy();
        return;
      }
      stream.resume(); // the client's bytes have nowhere to go
      res.pipe(stream);
      stream.once('close', () => res.destroy());
    });
    req.on('error', () => {
      if (settled) return;
      settled = true;
      if (!stream.closed && !stream.destroyed) call.error = 'unavailable';
      respondWithError(stream, false, 'SY_UPSTREAM_UNAVAILABLE');
    });
    req.end();
  }
}

/** The container's response headers that may cross to the tunnel (HTTP/2: no connection fields). */
function responseHeaders(res: http.IncomingMessage): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (HOP_BY_HOP_HEADERS.has(name) || value === undefined) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Ends the container-call span of `call`: a switched WebSocket with its close code (an error unless
 * 1000, 1001, 1005 or an application code; a failed container socket is an error `reset`), a refused
 * upgrade with the container's status, no answer with SY_UPSTREAM_UNAVAILABLE or `cancelled`.
 */
function endCallSpan(span: Span, call: WebSocketCall): void {
  if (call.status === 101) {
    endWebSocketSpan(span, { closeCode: call.closeCode, closedBy: call.closedBy, error: call.error }, false);
  } else if (call.status !== undefined) endHttpSpan(span, call.status, false);
  else if (call.error !== undefined) endRelaySpan(span, { error: 'SY_UPSTREAM_UNAVAILABLE' });
  else endHttpSpan(span, undefined, false);
}

/**
 * Pipes the switched container socket and the tunnel stream into each other. A clean end of either
 * side (FIN, END_STREAM) is passed on as a clean end; a reset or error destroys the other side. A
 * failed container socket marks `call` `reset`; with `watchFrames`, both directions' frame headers are
 * followed for the first close frame (`call.closeCode`, `call.closedBy`).
 */
function splice(
  stream: http2.ServerHttp2Stream,
  socket: net.Socket,
  head: Buffer,
  call: WebSocketCall,
  watchFrames: boolean,
): void {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  if (head.length > 0) stream.write(head);
  socket.pipe(stream);
  // A reset stream also ends its readable side, and its reset code is known only a moment later:
  // only a clean END_STREAM becomes the container's FIN; a reset destroys the socket on 'close'.
  stream.pipe(socket, { end: false });
  if (watchFrames) {
    const closed = (by: 'client' | 'container') => (code: number) => {
      if (call.closeCode !== undefined) return;
      call.closeCode = code;
      call.closedBy = by;
    };
    const fromContainer = new FrameBoundary(closed('container'));
    const fromClient = new FrameBoundary(closed('client'));
    fromContainer.push(head);
    socket.on('data', (chunk: Buffer) => fromContainer.push(chunk));
    stream.on('data', (chunk: Buffer) => fromClient.push(chunk));
  }
  stream.once('end', () =>
    setImmediate(() => {
      if (!socket.destroyed && !(stream.closed && stream.rstCode !== NGHTTP2_NO_ERROR)) socket.end();
    }),
  );
  socket.once('close', (hadError) => {
    if (hadError) call.error = 'reset';
    if (stream.closed || stream.destroyed) return;
    if (hadError) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    // The container is gone: nothing can reach it any more. Close once the relayed bytes are sent.
    if (!stream.writableEnded) stream.end();
    stream.close(NGHTTP2_NO_ERROR);
  });
  stream.once('close', () => {
    if (socket.destroyed) return;
    if (stream.rstCode !== NGHTTP2_NO_ERROR) {
      socket.destroy();
      return;
    }
    // FIN after the relayed bytes; a container that never reads them does not keep the socket.
    socket.end(() => socket.destroy());
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  });
}
