// Resource bounds applied by a sniffing client listener (issue 11 item 2): a time to first byte, a
// headers timeout for HTTP/1.1 sockets handed over by the sniffer (node's http.Server checks its
// headersTimeout only for sockets it accepted itself) and for HTTP/2 connections that open no
// stream, a connection cap (excess sockets are closed at once, as Envoy's overload manager does), and
// the HTTP/2 server options that bound streams, header lists and nghttp2 memory per connection.
import type http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { H2_SETTINGS } from './h2-settings.ts';

/** Listener bounds; the config fields and defaults are `listenerLimitsFields` in @switchyard/config. */
export interface SocketLimits {
  /** Close a connection that sends no byte within this (ms). */
  firstByteTimeoutMs: number;
  /** Close a connection whose HTTP/1.1 headers (or first HTTP/2 stream) take longer than this (ms). */
  headersTimeoutMs: number;
  /** Open connections per listener (net.Server.maxConnections: excess sockets are closed). */
  maxConnections: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (excess streams: RST_STREAM REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE and HTTP/1.1 maxHeaderSize (bytes). */
  maxHeaderListBytes: number;
  /** nghttp2 memory per connection (bytes; node takes whole MiB). */
  http2MaxSessionMemoryBytes: number;
  /** HTTP/2 stream receive window (SETTINGS_INITIAL_WINDOW_SIZE, bytes). */
  http2StreamWindowBytes: number;
  /** HTTP/2 connection-level receive window (bytes, `widenConnectionWindow`). */
  http2ConnectionWindowBytes: number;
  /** Streams node refuses (session memory) on one connection before closing it (GOAWAY ENHANCE_YOUR_CALM, {@link guardHttp2ErrorCodes}). */
  http2MaxRefusedStreams: number;
  /** Invalid frames (e.g. DATA on a refused stream) on one connection before it is closed (ENHANCE_YOUR_CALM). */
  http2MaxInvalidFrames: number;
}

/** HTTP/2 server options (settings, header list, session memory) that apply `limits`. */
export function h2ServerLimits(limits: SocketLimits): http2.ServerOptions {
  return {
    // nghttp2 drops a field whose value starts or ends with whitespace (RFC 9113 §8.2.1): a dropped
    // function-version-id sent the call to any version. Passed through, the routers reject it
    // (INVALID_ARGUMENT / 400: not a UUID) instead of acting as if it had not been sent.
    strictFieldWhitespaceValidation: false,
    settings: {
      ...H2_SETTINGS,
      initialWindowSize: limits.http2StreamWindowBytes,
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListBytes,
    },
    maxSessionMemory: Math.max(1, Math.floor(limits.http2MaxSessionMemoryBytes / (1024 * 1024))),
    // Pairs are bounded by the byte size above; count them generously (gRPC custom metadata).
    maxHeaderListPairs: 4096,
    // Streams node refuses (session memory) before the session is closed; nghttp2 refuses streams
    // past maxConcurrentStreams itself (not counted here), and the frames a flooding client sends on
    // them count as invalid frames.
    maxSessionRejectedStreams: limits.http2MaxRefusedStreams,
    maxSessionInvalidFrames: limits.http2MaxInvalidFrames,
  };
}

/** HTTP/1.1 server options that apply `limits` (maxHeaderSize: larger header blocks get 431). */
export function h1ServerLimits(limits: SocketLimits): http.ServerOptions {
  return { maxHeaderSize: limits.maxHeaderListBytes, headersTimeout: limits.headersTimeoutMs };
}

/** Applies the connection cap to the listening server. */
export function capConnections(server: net.Server, limits: SocketLimits): void {
  server.maxConnections = limits.maxConnections;
}

/**
 * Destroys `socket` unless `onFirstByte` runs within firstByteTimeoutMs. Call before the sniffer
 * reads; returns the function the sniffer calls when the first chunk arrives.
 */
export function guardFirstByte(socket: net.Socket, limits: SocketLimits): () => void {
  const timer = setTimeout(() => socket.destroy(), limits.firstByteTimeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  return () => clearTimeout(timer);
}

/**
 * Headers timeout of an HTTP/1.1 socket handed over by a sniffer: armed now and after every response,
 * disarmed while a request (its headers complete) is in flight. A socket with no request in flight
 * for headersTimeoutMs is destroyed (a trickling or silent client; idle keep-alive sockets too).
 */
export function guardHttp1Headers(server: http.Server, limits: SocketLimits): (socket: net.Socket) => void {
  // One timer per socket for its life, restarted with refresh() after each response (issue 12: a
  // setTimeout, a timer list and a closure per request were a few percent of the service's
  // allocations). While a request is in flight the timer may still fire: it finds the socket busy and
  // does nothing, and the response's end restarts it.
  const guards = new WeakMap<net.Socket, HeadersGuard>();
  const guard = (socket: net.Socket): HeadersGuard => {
    const added = new HeadersGuard(socket, limits.headersTimeoutMs);
    guards.set(socket, added);
    socket.once('close', () => {
      clearTimeout(added.timer);
      guards.delete(socket);
    });
    return added;
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    // A socket that reached the server some other way (TLS with ALPN http/1.1) is guarded from its
    // first response on.
    const socketGuard = guards.get(req.socket) ?? guard(req.socket);
    socketGuard.busy = true;
    // 'finish' comes once per response, and a response object serves one request: no once() wrapper.
    res.on('finish', socketGuard.rearm);
  });
  // An upgraded socket (WebSocket) belongs to its handler from now on.
  server.on('upgrade', (req: http.IncomingMessage) => {
    const socketGuard = guards.get(req.socket);
    if (socketGuard === undefined) return;
    clearTimeout(socketGuard.timer);
    guards.delete(req.socket);
  });
  return (socket) => {
    guard(socket);
  };
}

/** The headers timer of one HTTP/1.1 socket ({@link guardHttp1Headers}). */
class HeadersGuard {
  /** A request is in flight (its headers complete, its response not finished). */
  busy = false;
  /** Destroys the socket when it fires while not busy; unref'd. */
  readonly timer: NodeJS.Timeout;
  /** Restarts the timer (a response finished): shared by every request of the socket. */
  readonly rearm: () => void;

  constructor(socket: net.Socket, timeoutMs: number) {
    this.timer = setTimeout(() => {
      if (!this.busy) socket.destroy();
    }, timeoutMs);
    this.timer.unref();
    this.rearm = () => {
      this.busy = false;
      if (!socket.destroyed) this.timer.refresh();
    };
  }
}

/**
 * Destroys an HTTP/2 session that opens no stream within headersTimeoutMs, and one that has not
 * acknowledged our SETTINGS within headersTimeoutMs (GOAWAY SETTINGS_TIMEOUT, RFC 9113 §6.5.3): until
 * it does, nghttp2 refuses its streams past maxConcurrentStreams one by one instead of enforcing the
 * limit, so a client that never acknowledges could have streams refused forever.
 */
export function guardHttp2FirstStream(session: http2.ServerHttp2Session, limits: SocketLimits): void {
  const timer = setTimeout(() => session.destroy(), limits.headersTimeoutMs);
  timer.unref();
  session.once('stream', () => clearTimeout(timer));
  session.once('close', () => clearTimeout(timer));
  const ack = setTimeout(() => {
    if (!session.destroyed)
      session.destroy(new Error('SETTINGS not acknowledged'), http2.constants.NGHTTP2_SETTINGS_TIMEOUT);
  }, limits.headersTimeoutMs);
  ack.unref();
  session.once('localSettings', () => clearTimeout(ack));
  session.once('close', () => clearTimeout(ack));
}

/** The protocol a cleartext client connection speaks, as its first bytes tell. */
export const SniffedProtocol = { Http2: 'h2', Http1: 'http/1.1' } as const;
/** A {@link SniffedProtocol} value. */
export type SniffedProtocol = (typeof SniffedProtocol)[keyof typeof SniffedProtocol];

/** The first bytes of the HTTP/2 connection preface (RFC 9113 §3.4); no HTTP/1.1 method starts with them. */
const PREFACE_START = Buffer.from('PRI', 'latin1');

/**
 * Reads the first bytes of a cleartext client connection until they tell HTTP/2 prior knowledge
 * ("PRI * HTTP/2.0") from HTTP/1.1, then calls `route` with the socket paused and every byte read so
 * far unshifted back onto it. A first chunk that is a strict prefix of "PRI" ("P", "PR": also the
 * start of "POST", "PUT", "PATCH") waits for more bytes. The socket is destroyed unless the deciding
 * bytes arrive within firstByteTimeoutMs.
 */
export function sniffClientProtocol(
  socket: net.Socket,
  limits: SocketLimits,
  route: (protocol: SniffedProtocol) => void,
): void {
  const decided = guardFirstByte(socket, limits);
  let seen: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const n = Math.min(PREFACE_START.length, seen.length);
    const http2 = seen.subarray(0, n).equals(PREFACE_START.subarray(0, n));
    if (http2 && seen.length < PREFACE_START.length) return;
    decided();
    socket.off('data', onData);
    socket.pause();
    socket.unshift(seen);
    route(http2 ? SniffedProtocol.Http2 : SniffedProtocol.Http1);
  };
  socket.on('data', onData);
}

/** nghttp2 library errors (errno) a client causes, and the RFC 9113 code its GOAWAY must carry. */
const CLIENT_CAUSED_ERRORS: ReadonlyMap<number, number> = new Map([
  // NGHTTP2_ERR_CALLBACK_FAILURE: node fails a callback for a flooding peer (more than
  // maxSessionRejectedStreams refused streams or maxSessionInvalidFrames invalid frames; §7: ENHANCE_YOUR_CALM).
  [-902, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM],
  // NGHTTP2_ERR_BAD_CLIENT_MAGIC: not the connection preface (RFC 9113 §3.4: PROTOCOL_ERROR).
  [-903, http2.constants.NGHTTP2_PROTOCOL_ERROR],
  // NGHTTP2_ERR_TOO_MANY_CONTINUATIONS: a CONTINUATION flood (§10.5: ENHANCE_YOUR_CALM).
  [-905, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM],
]);

/**
 * Makes the GOAWAY that ends a client connection for a bad preface, a stream or invalid-frame flood,
 * or a CONTINUATION flood carry the code RFC 9113 names (PROTOCOL_ERROR, ENHANCE_YOUR_CALM): node destroys the session with
 * nghttp2's library error and reports it as INTERNAL_ERROR, a code that blames the server. Call once
 * per server session.
 */
export function guardHttp2ErrorCodes(session: http2.ServerHttp2Session): void {
  const destroy = session.destroy.bind(session);
  session.destroy = ((error?: Error, code?: number) => {
    const errno = (error as { errno?: unknown } | undefined)?.errno;
    const mapped = code === undefined && typeof errno === 'number' ? CLIENT_CAUSED_ERRORS.get(errno) : undefined;
    destroy(error, mapped ?? code);
  }) as typeof session.destroy;
}
