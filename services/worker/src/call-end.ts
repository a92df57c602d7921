// Ending an in-flight call of an ended session (S3): the client sees a gRPC status (UNAVAILABLE for an
// eviction, a shutdown code when the worker exits), not a bare stream reset; non-gRPC calls are reset.

import http2 from 'node:http2';
import { ErrorCatalogue, type ErrorCode, encodeGrpcMessage } from '@switchyard/protocol';
import { detachResponse, type RelayInbound, respondWithError } from '@switchyard/tunnel';

const { NGHTTP2_CANCEL } = http2.constants;

/**
 * The tunnel end of a call: an HTTP/2 stream of the tunnel, or a call framed on its mux stream
 * (MuxServerStream, issue 12); both are relayed and ended alike.
 */
export type TunnelCall = RelayInbound & {
  /** Adds a one-time listener (EventEmitter). */
  once(event: 'wantTrailers', listener: () => void): unknown;
  /** Removes every listener of `event` (EventEmitter). */
  removeAllListeners(event: 'wantTrailers'): unknown;
};

/** An in-flight call: whether it is gRPC, and the container stream the relay opened for it. */
export interface InFlightCall {
  /** True for a gRPC call (ended with a status), false for HTTP or a WebSocket (reset). */
  readonly grpc: boolean;
  /** The container stream; undefined for WebSockets (G12) and when the relay could not open one. */
  out: http2.ClientHttp2Stream | undefined;
}

/**
 * Ends an in-flight call of an ended session with `code` (UNAVAILABLE) as a gRPC status the client
 * sees (S3), not a bare stream reset: the proxy's relay turns a reset after response headers into a
 * reset of the client's stream, which grpc-js reports as CANCELLED. Trailers when the response has
 * started, trailers-only when not. The relay's response handling is detached (detachResponse) and
 * this answers instead; the relay still cancels the container stream when the tunnel stream closes.
 * Non-gRPC calls are reset, as a truncated HTTP body must not look complete.
 * A stream already closed is left alone.
 */
export function endCall(stream: TunnelCall, call: InFlightCall, code: ErrorCode): void {
  if (stream.closed || stream.destroyed) return;
  const { out } = call;
  if (!call.grpc) {
    stream.close(NGHTTP2_CANCEL);
    return;
  }
  if (stream.headersSent) {
    if (stream.writableEnded) return; // the container's answer is complete and finishes on its own
    const entry = ErrorCatalogue[code];
    const trailers = { 'grpc-status': String(entry.grpcStatus), 'grpc-message': encodeGrpcMessage(entry.message) };
    if (out) detachResponse(out);
    stream.removeAllListeners('wantTrailers');
    stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    stream.end();
    return;
  }
  // No answer yet: silence the relay's response/close handling of the container stream, then answer.
  if (out) {
    detachResponse(out);
    out.close(NGHTTP2_CANCEL);
  }
  respondWithError(stream, true, code);
}
