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
  /** Streams node refuses (session memory) on one connection before closing it (GOAWAY ENHANCE_YOUR_CALM, {@link guardHttp2Flood}). */
  http2MaxRefusedStreams: number;
  /** Invalid frames (e.g. DATA on a refused stream) on one connection before it is closed (ENHANCE_YOUR_CALM). */
  http2MaxInvalidFrames: number;
}

/** HTTP/2 server options (settings, header list, session memory) that apply `limits`. */
export function h2ServerLimits(limits: SocketLimits): http2.ServerOptions {
  return {
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
  const timers = new WeakMap<net.Socket, NodeJS.Timeout>();
  const disarm = (socket: net.Socket) => {
    const timer = timers.get(socket);
    if (timer) clearTimeout(timer);
    timers.delete(socket);
  };
  const arm = (socket: net.Socket) => {
    disarm(socket);
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    timer.unref();
    timers.set(socket, timer);
  };
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    disarm(req.socket);
    res.once('finish', () => arm(req.socket));
  });
  // An upgraded socket (WebSocket) belongs to its handler from now on.
  server.on('upgrade', (req: http.IncomingMessage) => disarm(req.socket));
  return (socket) => {
    arm(socket);
    socket.once('close', () => disarm(socket));
  };
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

/** nghttp2's NGHTTP2_ERR_CALLBACK_FAILURE: node's callbacks return it for a flooding peer. */
const NGHTTP2_ERR_CALLBACK_FAILURE = -902;

/**
 * Makes the GOAWAY that ends a flooding connection say ENHANCE_YOUR_CALM (RFC 9113 §7: "the peer
 * might be generating excessive load"). node ends a session whose peer had more than
 * maxSessionRejectedStreams streams refused, or sent more than maxSessionInvalidFrames invalid
 * frames, by failing an nghttp2 callback and destroying the session with that error, which it
 * reports as INTERNAL_ERROR, a code that blames the server. Call once per server session.
 */
export function guardHttp2Flood(session: http2.ServerHttp2Session): void {
  const destroy = session.destroy.bind(session);
  session.destroy = ((error?: Error, code?: number) => {
    const flooded =
      code === undefined && (error as { errno?: unknown } | undefined)?.errno === NGHTTP2_ERR_CALLBACK_FAILURE;
    destroy(error, flooded ? http2.constants.NGHTTP2_ENHANCE_YOUR_CALM : code);
  }) as typeof session.destroy;
}
