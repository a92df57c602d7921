// The worker's end of a client WebSocket (G12): a tunnel stream marked `x-switchyard-upgrade:
// websocket` becomes an HTTP/1.1 Upgrade request to the function container; once the container
// switches protocols, the raw bytes are piped both ways. Frames are never decoded here.

import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { HOP_BY_HOP_HEADERS, TunnelHeaders } from '@switchyard/protocol';
import { respondWithError } from '@switchyard/tunnel';

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

/** Relays client WebSockets to one container endpoint. */
export class WebSocketUpstream {
  readonly #target: URL;

  /** @param target the container's endpoint (`http://host:port`, see {@link webSocketTarget}). */
  constructor(target: URL) {
    this.#target = target;
  }

  /**
   * Sends the Upgrade request of `stream` (headers from the proxy) to the container. A container
   * that switches protocols: the stream is answered `:status 200` with the marker and the
   * container's 101 headers (`sec-websocket-accept`, the chosen `sec-websocket-protocol`...), then
   * bytes flow both ways with backpressure. A container that answers anything else: that answer is
   * relayed as is (no marker). Unreachable: 503 (G3 text). A closed tunnel stream aborts the request
   * or resets the container socket; a closed container socket ends the stream.
   */
  relay(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const out: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name.startsWith(':') || HOP_BY_HOP_HEADERS.has(name) || DROP_TO_CONTAINER.has(name) || value === undefined)
        continue;
      out[name] = value;
    }
    out.connection = 'Upgrade';
    out.upgrade = WEBSOCKET_UPGRADE;
    out.host = this.#target.host;
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
      splice(stream, socket, head);
    });
    req.on('response', (res) => {
      // The container did not switch protocols: its answer goes back as an ordinary response.
      settled = true;
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
 * Pipes the switched container socket and the tunnel stream into each other. A clean end of either
 * side (FIN, END_STREAM) is passed on as a clean end; a reset or error destroys the other side.
 */
function splice(stream: http2.ServerHttp2Stream, socket: net.Socket, head: Buffer): void {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  if (head.length > 0) stream.write(head);
  socket.pipe(stream);
  // A reset stream also ends its readable side, and its reset code is known only a moment later:
  // only a clean END_STREAM becomes the container's FIN; a reset destroys the socket on 'close'.
  stream.pipe(socket, { end: false });
  stream.once('end', () =>
    setImmediate(() => {
      if (!socket.destroyed && !(stream.closed && stream.rstCode !== NGHTTP2_NO_ERROR)) socket.end();
    }),
  );
  socket.once('close', (hadError) => {
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
