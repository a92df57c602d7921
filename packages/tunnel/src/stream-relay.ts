// Forwards one HTTP/2 stream to another at the stream level: headers, DATA (with flow control:
// write() false pauses the source until 'drain'), trailers and resets pass through without decoding a
// message. The proxy relays client -> tunnel, the worker relays tunnel -> container, with the same code
// (G4, DESIGN flow 4). Hot path: one Relay object per call and listeners shared by every call (no
// pipe(), no closure per call); each stream finds its Relay through a symbol property. The streams are
// typed by what the relay uses of them (RelayInbound, RelayUpstream), so the calls of a framed tunnel
// (mux-client.ts, mux-server.ts) are relayed by the same code as node:http2 streams.

import http2 from 'node:http2';
import { ErrorCatalogue, type ErrorCode, encodeGrpcMessage, httpStatusOf } from '@switchyard/protocol';
import type { RelayInbound, RelayStreamBase, RelayUpstream, RelayUpstreamSession } from './relay-streams.ts';
import { isGrpcContentType, listValue, responseList } from './stream-headers.ts';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/**
 * The 'error' listener of both relayed streams, shared by every call (one closure less per stream):
 * errors are handled in 'close' (the client went away, or the upstream stream failed), and without a
 * listener an error would be thrown. Callers that take a stream before relaying it add this same
 * listener, and relayStream then adds none of its own.
 */
export function ignoreStreamError(): void {}

/** The `grpc-status` trailers of a relay that failed with `code` (G3 shape, after headers). */
function failTrailersOf(code: ErrorCode): http2.OutgoingHttpHeaders {
  return {
    'grpc-status': String(ErrorCatalogue[code].grpcStatus),
    'grpc-message': encodeGrpcMessage(ErrorCatalogue[code].message),
  };
}

/**
 * Answers `stream` with an error made by Switchyard itself (G3): a gRPC request gets HTTP 200
 * trailers-only (`grpc-status`, `grpc-message`); any other request gets text/plain with the HTTP status
 * mapped from the gRPC code. `extra` headers (CORS, set-cookie) are added; the request body is
 * discarded. No-op on a closed stream.
 */
export function respondWithError(
  stream: RelayInbound,
  grpc: boolean,
  code: ErrorCode,
  extra?: http2.OutgoingHttpHeaders,
  message?: string,
): void {
  if (stream.destroyed || stream.closed) return;
  // Discard the request body: a stream whose body nobody reads never closes, nor does its session.
  if (stream.readableFlowing !== true) stream.resume();
  const entry = ErrorCatalogue[code];
  const text = message ?? entry.message;
  if (stream.headersSent) {
    // Headers already went out: the call can only end with trailers (if still open) or a reset.
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  if (grpc) {
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(entry.grpcStatus),
        'grpc-message': encodeGrpcMessage(text),
        ...extra,
      },
      { endStream: true },
    );
  } else {
    const body = `${text}\n`;
    stream.respond({
      ':status': httpStatusOf(code),
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...extra,
    });
    stream.end(body);
  }
}

/** How a relayed call ended, for metrics and logs. */
export interface RelayResult {
  /** `grpc-status` the client received, when the response was gRPC. */
  grpcStatus?: string;
  /** HTTP status of the response, when headers were relayed. */
  httpStatus?: number;
  /** Set when Switchyard ended the call (tunnel/upstream lost, client cancelled). */
  error?: ErrorCode | 'CLIENT_CANCELLED';
}

/** What a relay ended early from outside is told: see {@link RelayEnding}. */
export interface RelayStopper {
  /** Ends the call with catalogue code `code` (called at most once, synchronously). */
  stop(code: ErrorCode): void;
}

/**
 * Ends a relay early from outside (a key revoked while the call runs, issue 8): a plain callback slot
 * instead of an AbortSignal, so watching a call allocates no EventTarget. The relay reads `code` when
 * it starts (already set: it ends at once) and otherwise sets `stopper` to itself; whoever owns the
 * handle calls `stopper.stop(code)` when the call must end. `OpenCalls.watch` of
 * @switchyard/control-store returns one.
 */
export interface RelayEnding {
  /** Catalogue code the call must end with, once it must; undefined while it may go on. */
  readonly code: ErrorCode | undefined;
  /** Told when the call must end; set by the relay. */
  stopper: RelayStopper | undefined;
}

/** Options of {@link relayStream}. */
export interface RelayOptions {
  /** Headers added to the upstream's response headers (`nvcf-reqid`, `set-cookie`, CORS). */
  responseHeaders?: http2.OutgoingHttpHeaders;
  /** Catalogue code used when the upstream stream fails before answering. @default 'SY_TUNNEL_LOST' */
  upstreamErrorCode?: ErrorCode;
  /**
   * Called once when the relay is over, as a method of this options object (`options.onEnd(result)`):
   * a per-call options object may carry the call's state and end it without a closure.
   */
  onEnd?: (result: RelayResult) => void;
  /**
   * Ends the relay early when told; the code (e.g. SY_AUTH_INVALID for a key revoked meanwhile) is
   * what the client gets: the G3 answer before the upstream answered, else `grpc-status` trailers after
   * the data relayed so far (a non-gRPC response is reset). The upstream stream is cancelled.
   */
  ending?: RelayEnding;
}

/** The Relay of a stream, set on both streams of a call. */
const kRelay = Symbol('switchyard.relay');
type Carrying<T> = T & { [kRelay]: Relay };
type Inbound = Carrying<RelayInbound>;
type Upstream = Carrying<RelayUpstream>;

const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;
const END_STREAM = { endStream: true } as const;
const NO_END_STREAM = { endStream: false } as const;

/** One relayed call: the state the listeners below share (see relayStream). */
class Relay implements RelayStopper {
  readonly inbound: RelayInbound;
  readonly upstream: RelayUpstreamSession;
  readonly out: RelayUpstream;
  readonly grpcRequest: boolean;
  readonly responseHeaders: http2.OutgoingHttpHeaders | undefined;
  readonly options: RelayOptions;
  failCode: ErrorCode;
  finished = false;
  /** Trailers of the upstream answer. */
  trailers: http2.OutgoingHttpHeaders | undefined = undefined;
  /** The upstream stream is known to have ended without its END_STREAM (reset, session destroyed). */
  lost = false;
  grpcResponse = false;
  httpStatus: number | undefined = undefined;
  /** True while the response body flows upstream -> inbound (what pipe() did). */
  piping = false;
  /** The caller answers the inbound stream itself (detachResponse): response handling is off. */
  detached = false;
  outDrainHooked = false;
  inboundDrainHooked = false;

  constructor(
    inbound: RelayInbound,
    upstream: RelayUpstreamSession,
    out: RelayUpstream,
    grpcRequest: boolean,
    failCode: ErrorCode,
    options: RelayOptions,
  ) {
    this.inbound = inbound;
    this.upstream = upstream;
    this.out = out;
    this.grpcRequest = grpcRequest;
    this.failCode = failCode;
    this.responseHeaders = options.responseHeaders;
    this.options = options;
  }

  finish(result: RelayResult): void {
    if (this.finished) return;
    this.finished = true;
    this.options.onEnd?.(result);
  }

  /** Ends the call with `code` (RelayEnding): see RelayOptions.ending. */
  stop(code: ErrorCode): void {
    const { inbound, out } = this;
    if (inbound.destroyed || inbound.closed || this.lost) return;
    this.failCode = code;
    this.lost = true;
    this.piping = false;
    if (!out.closed && !out.destroyed) out.close(NGHTTP2_CANCEL);
    if (!inbound.headersSent) {
      respondWithError(inbound, this.grpcRequest, code, this.responseHeaders);
      this.finish({ error: code });
    } else if (inbound.writableEnded) {
      // Complete, or only its trailers pending: 'wantTrailers' sends ours.
    } else if (this.grpcResponse) {
      inbound.end(); // 'wantTrailers' then sends grpc-status of the code
    } else {
      this.finish({ error: code, httpStatus: this.httpStatus });
      inbound.close(NGHTTP2_CANCEL);
    }
  }
}

function isHeaderList(headers: http2.OutgoingHttpHeaders | readonly string[]): headers is readonly string[] {
  return Array.isArray(headers);
}

function relayOf(stream: RelayStreamBase): Relay {
  return (stream as Carrying<RelayStreamBase>)[kRelay];
}

// Request body, inbound -> upstream. Data after the upstream stream ended or failed is dropped.
function onInboundData(this: RelayInbound, chunk: Buffer): void {
  const relay = relayOf(this);
  const out = relay.out;
  if (out.writableEnded || out.destroyed) return;
  if (!out.write(chunk)) {
    if (!relay.outDrainHooked) {
      relay.outDrainHooked = true;
      out.on('drain', onOutDrain);
    }
    this.pause();
  }
}
function onOutDrain(this: RelayUpstream): void {
  relayOf(this).inbound.resume();
}
function onInboundEnd(this: RelayInbound): void {
  const out = relayOf(this).out;
  if (!out.writableEnded && !out.destroyed) out.end();
}

function onOutResponse(
  this: RelayUpstream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  raw: string[] | undefined,
): void {
  const relay = relayOf(this);
  const inbound = relay.inbound;
  if (relay.detached || inbound.destroyed || inbound.closed) return;
  const httpStatus = Number(headers[':status']);
  relay.httpStatus = httpStatus;
  relay.grpcResponse = isGrpcContentType(headers['content-type']);
  // The received header list (or, without one, the object) is ours alone: extend it rather than copy
  // it. respond() takes a list as it is, and copies an object into one of its own.
  const responseHeaders =
    raw !== undefined
      ? responseList(raw, headers, relay.responseHeaders)
      : relay.responseHeaders
        ? Object.assign(headers, relay.responseHeaders)
        : headers;
  try {
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only answer (gRPC errors): one HEADERS frame with END_STREAM.
      inbound.respond(responseHeaders, END_STREAM);
      relay.finish({ httpStatus, grpcStatus: headers['grpc-status'] as string | undefined });
      return;
    }
    // Always wait for trailers: gRPC needs them, and HTTP trailers pass through too (none: the
    // stream ends with an empty DATA frame).
    inbound.respond(responseHeaders, WAIT_FOR_TRAILERS);
  } catch {
    // The client reset the stream in the meantime; its 'close' cancels the upstream stream.
    return;
  }
  relay.piping = true;
  this.on('data', onOutData);
}

// Response body, upstream -> inbound, while piping.
function onOutData(this: RelayUpstream, chunk: Buffer): void {
  const relay = relayOf(this);
  if (!relay.piping) return;
  const inbound = relay.inbound;
  if (!inbound.write(chunk)) {
    if (!relay.inboundDrainHooked) {
      relay.inboundDrainHooked = true;
      inbound.on('drain', onInboundDrain);
    }
    this.pause();
  }
}
function onInboundDrain(this: RelayInbound): void {
  const relay = relayOf(this);
  if (relay.piping) relay.out.resume();
}
function onOutTrailers(this: RelayUpstream, headers: http2.IncomingHttpHeaders): void {
  relayOf(this).trailers = headers;
}
// A session destroyed without an error code (session.destroy()) ends its streams with 'end' and rstCode
// NO_ERROR, exactly like a clean END_STREAM; only the missing trailers and the dead session tell them
// apart. Then the inbound answer ends and 'wantTrailers' sends the trailers.
function onOutEnd(this: RelayUpstream): void {
  const relay = relayOf(this);
  if (relay.trailers === undefined && relay.upstream.destroyed) relay.lost = true;
  if (!relay.piping) return;
  relay.piping = false;
  relay.inbound.end();
}

function onInboundWantTrailers(this: RelayInbound): void {
  const relay = relayOf(this);
  if (relay.detached) return;
  const { lost, grpcResponse, httpStatus, failCode } = relay;
  if (lost && !grpcResponse) {
    relay.finish({ error: failCode, httpStatus });
    this.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const t = lost ? failTrailersOf(failCode) : (relay.trailers ?? (grpcResponse ? failTrailersOf(failCode) : {}));
  relay.finish(
    lost ? { error: failCode, httpStatus } : { httpStatus, grpcStatus: t['grpc-status'] as string | undefined },
  );
  try {
    this.sendTrailers(t);
  } catch {
    // The client reset the stream meanwhile.
  }
}

function onOutClose(this: RelayUpstream): void {
  const relay = relayOf(this);
  const inbound = relay.inbound;
  if (relay.detached || inbound.destroyed || inbound.closed) return;
  const { grpcRequest, failCode } = relay;
  if (!relay.lost && this.readableEnded) {
    // Clean end: onOutEnd ended inbound and 'wantTrailers' forwards the trailers.
    if (relay.httpStatus === undefined) {
      respondWithError(inbound, grpcRequest, failCode, relay.responseHeaders);
      relay.finish({ error: failCode });
    }
    return;
  }
  relay.lost = true;
  // Request data still coming is dropped (onInboundData), so a paused client stream may finish.
  if (inbound.isPaused()) inbound.resume();
  if (!inbound.headersSent) {
    respondWithError(inbound, grpcRequest, failCode, relay.responseHeaders);
    relay.finish({ error: failCode });
    return;
  }
  if (inbound.writableEnded) {
    // Our answer is complete (trailers-only) or only its trailers are pending ('wantTrailers').
    relay.finish({ error: failCode, httpStatus: relay.httpStatus });
    return;
  }
  relay.piping = false;
  if (relay.grpcResponse) {
    // Headers went out: end with UNAVAILABLE trailers after whatever data was relayed.
    inbound.end();
  } else {
    relay.finish({ error: failCode, httpStatus: relay.httpStatus });
    inbound.close(this.rstCode === NGHTTP2_CANCEL ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
  }
}

// The client went first (or the call is over): cancel the upstream stream if still open.
function onInboundClose(this: RelayInbound): void {
  const relay = relayOf(this);
  const out = relay.out;
  if (!out.closed && !out.destroyed) {
    relay.finish({ error: 'CLIENT_CANCELLED', httpStatus: relay.httpStatus });
    out.close(NGHTTP2_CANCEL);
  } else if (relay.detached) {
    relay.finish({ error: 'CLIENT_CANCELLED', httpStatus: relay.httpStatus });
  }
}

/**
 * Relays `inbound` (a stream received by our HTTP/2 server) to a new stream on `upstream` (an HTTP/2
 * client session) with `requestHeaders` (an object, or a flat list from forwardHeaderList that request()
 * takes without a copy), and the answer back. Bodies are relayed chunk by chunk with
 * backpressure (a write() that returns false pauses the source until 'drain'), so HTTP/2 flow control
 * holds end to end and nothing buffers a whole message; trailers and trailers-only answers are kept;
 * a client cancel resets the upstream stream (the worker and container see CANCEL); an upstream
 * failure becomes UNAVAILABLE (G3 shape) or, after headers, `grpc-status: 14` trailers.
 * @returns the upstream stream, or undefined when the session could not open one (already answered).
 */
export function relayStream<S extends RelayUpstream>(
  inbound: RelayInbound,
  upstream: RelayUpstreamSession<S>,
  requestHeaders: http2.OutgoingHttpHeaders | readonly string[],
  options: RelayOptions = {},
): S | undefined {
  const contentType = isHeaderList(requestHeaders)
    ? listValue(requestHeaders, 'content-type')
    : (requestHeaders['content-type'] as string | undefined);
  const grpcRequest = isGrpcContentType(contentType);
  const failCode: ErrorCode = options.upstreamErrorCode ?? 'SY_TUNNEL_LOST';
  // The client went away; 'close' cancels the upstream stream. (One listener is enough: skipped when
  // the caller already added one.)
  if (inbound.listenerCount('error') === 0) inbound.on('error', ignoreStreamError);
  const endAfterHeaders = inbound.endAfterHeaders;
  let out: S;
  try {
    // A request whose HEADERS carried END_STREAM (GET, empty body) goes upstream the same way.
    out = upstream.request(requestHeaders, endAfterHeaders ? END_STREAM : NO_END_STREAM);
  } catch {
    // Session closed (GOAWAY) or destroyed: the tunnel or upstream is gone.
    respondWithError(inbound, grpcRequest, failCode, options.responseHeaders);
    options.onEnd?.({ error: failCode });
    return undefined;
  }
  const relay = new Relay(inbound, upstream, out, grpcRequest, failCode, options);
  (inbound as Inbound)[kRelay] = relay;
  (out as RelayUpstream as Upstream)[kRelay] = relay;
  out.on('error', ignoreStreamError);
  out.on('response', onOutResponse);
  out.on('trailers', onOutTrailers);
  out.on('end', onOutEnd);
  out.on('close', onOutClose);
  inbound.on('wantTrailers', onInboundWantTrailers);
  inbound.on('close', onInboundClose);
  if (endAfterHeaders) {
    inbound.resume();
  } else {
    inbound.on('data', onInboundData);
    inbound.on('end', onInboundEnd);
  }
  const ending = options.ending;
  if (ending !== undefined) {
    if (ending.code !== undefined) relay.stop(ending.code);
    else ending.stopper = relay;
  }
  return out;
}

/**
 * Takes the response of the call relayed over upstream stream `out` away from its relay: no more
 * response headers, data, trailers or upstream failure handling; the caller answers the inbound stream
 * itself (the worker ending a call of an ended session with its own status, S3). The relay still
 * cancels `out` when the inbound stream closes first, and reports the call as CLIENT_CANCELLED. No-op
 * for a stream relayStream did not open.
 */
export function detachResponse(out: RelayUpstream): void {
  const relay = (out as Partial<Upstream>)[kRelay];
  if (relay === undefined) return;
  relay.detached = true;
  relay.piping = false;
}
