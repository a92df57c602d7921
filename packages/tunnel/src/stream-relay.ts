// Forwards one HTTP/2 stream to another at the stream level: headers, DATA (with flow control, via
// pipe backpressure), trailers and resets pass through without decoding a message. The proxy relays
// client -> tunnel, the worker relays tunnel -> container, with the same code (G4, DESIGN flow 4).

import http2 from 'node:http2';
import { ErrorCatalogue, type ErrorCode, encodeGrpcMessage, httpStatusOf } from '@switchyard/protocol';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/**
 * The 'error' listener of both relayed streams, shared by every call (one closure less per stream):
 * errors are handled in 'close' (the client went away, or the upstream stream failed), and without a
 * listener an error would be thrown.
 */
function ignoreStreamError(): void {}

/** The `grpc-status` trailers of a relay that failed with `code` (G3 shape, after headers). */
function failTrailersOf(code: ErrorCode): http2.OutgoingHttpHeaders {
  return {
    'grpc-status': String(ErrorCatalogue[code].grpcStatus),
    'grpc-message': encodeGrpcMessage(ErrorCatalogue[code].message),
  };
}

/** Request headers that never cross a hop: HTTP/2 connection-specific fields (RFC 9113 8.2.2). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
]);

/**
 * Copies `headers` for forwarding: pseudo-headers `:method`, `:path`, `:scheme`, `:authority` kept,
 * hop-by-hop fields (and `te` other than `trailers`) and the names in `drop` (lower case) removed,
 * `set` applied last.
 */
export function forwardHeaders(
  headers: http2.IncomingHttpHeaders,
  drop: ReadonlySet<string>,
  set?: http2.OutgoingHttpHeaders,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name === ':status' || HOP_BY_HOP.has(name) || drop.has(name)) continue;
    // HTTP/2 allows only `te: trailers` (RFC 9113 8.2.2); anything else would make request() throw.
    if (name === 'te' && headers[name] !== 'trailers') continue;
    out[name] = headers[name];
  }
  if (set) Object.assign(out, set);
  return out;
}

/** True when a request or response content type is gRPC (`application/grpc`, `+proto`, `+json`...). */
export function isGrpcContentType(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

/**
 * Answers `stream` with an error made by Switchyard itself (G3): a gRPC request gets HTTP 200
 * trailers-only (`grpc-status`, `grpc-message`); any other request gets text/plain with the HTTP status
 * mapped from the gRPC code. `extra` headers (CORS, set-cookie) are added; the request body is
 * discarded. No-op on a closed stream.
 */
export function respondWithError(
  stream: http2.ServerHttp2Stream,
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

/** Options of {@link relayStream}. */
export interface RelayOptions {
  /** Headers added to the upstream's response headers (`nvcf-reqid`, `set-cookie`, CORS). */
  responseHeaders?: http2.OutgoingHttpHeaders;
  /** Catalogue code used when the upstream stream fails before answering. @default 'SY_TUNNEL_LOST' */
  upstreamErrorCode?: ErrorCode;
  /** Called once when the relay is over. */
  onEnd?: (result: RelayResult) => void;
  /**
   * Ends the relay early when aborted; its reason, a catalogue code (e.g. SY_AUTH_INVALID for a key
   * revoked meanwhile), is what the client gets: the G3 answer before the upstream answered, else
   * `grpc-status` trailers after the data relayed so far (a non-gRPC response is reset). The upstream
   * stream is cancelled.
   */
  signal?: AbortSignal;
}

/**
 * Relays `inbound` (a stream received by our HTTP/2 server) to a new stream on `upstream` (an HTTP/2
 * client session) with `requestHeaders`, and the answer back. Bodies are piped, so HTTP/2 flow control
 * holds end to end and nothing buffers a whole message; trailers and trailers-only answers are kept;
 * a client cancel resets the upstream stream (the worker and container see CANCEL); an upstream
 * failure becomes UNAVAILABLE (G3 shape) or, after headers, `grpc-status: 14` trailers.
 * @returns the upstream stream, or undefined when the session could not open one (already answered).
 */
export function relayStream(
  inbound: http2.ServerHttp2Stream,
  upstream: http2.ClientHttp2Session,
  requestHeaders: http2.OutgoingHttpHeaders,
  options: RelayOptions = {},
): http2.ClientHttp2Stream | undefined {
  const grpcRequest = isGrpcContentType(requestHeaders['content-type'] as string | undefined);
  let failCode: ErrorCode = options.upstreamErrorCode ?? 'SY_TUNNEL_LOST';
  let finished = false;
  const finish = (result: RelayResult) => {
    if (finished) return;
    finished = true;
    options.onEnd?.(result);
  };
  // The client went away; 'close' cancels the upstream stream.
  inbound.on('error', ignoreStreamError);

  let out: http2.ClientHttp2Stream;
  try {
    // A request whose HEADERS carried END_STREAM (GET, empty body) goes upstream the same way.
    out = upstream.request(requestHeaders, { endStream: inbound.endAfterHeaders });
  } catch {
    // Session closed (GOAWAY) or destroyed: the tunnel or upstream is gone.
    respondWithError(inbound, grpcRequest, failCode, options.responseHeaders);
    finish({ error: failCode });
    return undefined;
  }
  out.on('error', ignoreStreamError);

  // Trailers of the upstream answer; `lost` once the upstream stream is known to have ended without
  // its END_STREAM (reset, or its session destroyed under it).
  let trailers: http2.OutgoingHttpHeaders | undefined;
  let lost = false;
  let grpcResponse = false;
  let httpStatus: number | undefined;

  out.on('response', (headers, flags) => {
    if (inbound.destroyed || inbound.closed) return;
    httpStatus = Number(headers[':status']);
    grpcResponse = isGrpcContentType(headers['content-type']);
    const responseHeaders = options.responseHeaders ? { ...headers, ...options.responseHeaders } : headers;
    try {
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        // Trailers-only answer (gRPC errors): one HEADERS frame with END_STREAM.
        inbound.respond(responseHeaders, { endStream: true });
        finish({ httpStatus, grpcStatus: headers['grpc-status'] as string | undefined });
        return;
      }
      // Always wait for trailers: gRPC needs them, and HTTP trailers pass through too (none: the
      // stream ends with an empty DATA frame).
      inbound.respond(responseHeaders, { waitForTrailers: true });
    } catch {
      // The client reset the stream in the meantime; its 'close' cancels the upstream stream.
      return;
    }
    out.pipe(inbound);
  });
  out.on('trailers', (headers) => {
    trailers = headers;
  });
  // Registered before the pipe's own 'end' listener, so it runs first. A session destroyed without an
  // error code (session.destroy()) ends its streams with 'end' and rstCode NO_ERROR, exactly like a
  // clean END_STREAM; only the missing trailers and the dead session tell them apart.
  out.on('end', () => {
    if (trailers === undefined && upstream.destroyed) lost = true;
  });
  inbound.on('wantTrailers', () => {
    if (lost && !grpcResponse) {
      finish({ error: failCode, httpStatus });
      inbound.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const t = lost ? failTrailersOf(failCode) : (trailers ?? (grpcResponse ? failTrailersOf(failCode) : {}));
    finish(lost ? { error: failCode, httpStatus } : { httpStatus, grpcStatus: t['grpc-status'] as string | undefined });
    try {
      inbound.sendTrailers(t);
    } catch {
      // The client reset the stream meanwhile.
    }
  });

  inbound.pipe(out);

  out.on('close', () => {
    if (inbound.destroyed || inbound.closed) return;
    if (!lost && out.readableEnded) {
      // Clean end: the pipe ends inbound and 'wantTrailers' forwards the trailers.
      if (httpStatus === undefined) {
        respondWithError(inbound, grpcRequest, failCode, options.responseHeaders);
        finish({ error: failCode });
      }
      return;
    }
    lost = true;
    if (!inbound.headersSent) {
      respondWithError(inbound, grpcRequest, failCode, options.responseHeaders);
      finish({ error: failCode });
      return;
    }
    if (inbound.writableEnded) {
      // Our answer is complete (trailers-only) or only its trailers are pending ('wantTrailers').
      finish({ error: failCode, httpStatus });
      return;
    }
    out.unpipe(inbound);
    if (grpcResponse) {
      // Headers went out: end with UNAVAILABLE trailers after whatever data was relayed.
      inbound.end();
    } else {
      finish({ error: failCode, httpStatus });
      inbound.close(out.rstCode === NGHTTP2_CANCEL ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
    }
  });

  const signal = options.signal;
  // One 'close' listener per call: cancels the upstream stream when the client went first, and
  // detaches from the signal.
  inbound.on('close', () => {
    if (signal && !signal.aborted) signal.removeEventListener('abort', stop);
    if (!out.closed && !out.destroyed) {
      finish({ error: 'CLIENT_CANCELLED', httpStatus });
      out.close(NGHTTP2_CANCEL);
    }
  });
  if (signal) {
    if (signal.aborted) stop();
    else signal.addEventListener('abort', stop, { once: true });
  }
  return out;

  function stop(): void {
    if (!signal) return;
    if (inbound.destroyed || inbound.closed || lost) return;
    failCode = isErrorCode(signal.reason) ? signal.reason : 'SY_INTERNAL';
    lost = true;
    out.unpipe(inbound);
    if (!out.closed && !out.destroyed) out.close(NGHTTP2_CANCEL);
    if (!inbound.headersSent) {
      respondWithError(inbound, grpcRequest, failCode, options.responseHeaders);
      finish({ error: failCode });
    } else if (inbound.writableEnded) {
      // Complete, or only its trailers pending: 'wantTrailers' sends ours.
    } else if (grpcResponse) {
      inbound.end(); // 'wantTrailers' then sends grpc-status of failCode
    } else {
      finish({ error: failCode, httpStatus });
      inbound.close(NGHTTP2_CANCEL);
    }
  }
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ErrorCatalogue, value);
}
