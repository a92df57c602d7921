// What relayStream (stream-relay.ts) uses of the streams it relays: node:http2's server and client
// streams have all of it, and so do the calls of a framed tunnel (mux-server.ts, mux-client.ts), so one
// relay serves both.

import type http2 from 'node:http2';

/**
 * An event listener as the relay adds them (`this` is the stream); `any` as in node's own catch-all
 * `on()` signature, which the interfaces below must match.
 */
// biome-ignore lint/suspicious/noExplicitAny: node:http2's catch-all listener type
type StreamListener = (...args: any[]) => void;

/** What the relay uses of both its streams (node:http2 streams have all of it). */
export interface RelayStreamBase {
  /** The stream takes no more frames (closed or reset). */
  readonly closed: boolean;
  /** 'close' was emitted. */
  readonly destroyed: boolean;
  /** end() was called on the writable side. */
  readonly writableEnded: boolean;
  /** Sends a DATA chunk; false: wait for 'drain'. */
  write(chunk: Buffer): boolean;
  /** Stops 'data' (the peer is slowed by flow control). */
  pause(): unknown;
  /** Resumes 'data'. */
  resume(): unknown;
  /** Resets the stream with HTTP/2 error `code`. */
  close(code?: number): void;
  /** Adds an event listener. */
  on(event: string | symbol, listener: StreamListener): this;
  /** Number of listeners of `event`. */
  listenerCount(event: string): number;
}

/**
 * The stream a relay answers (an http2.ServerHttp2Stream, or a MuxServerStream): events 'data', 'end',
 * 'close', 'drain', 'wantTrailers', 'error'.
 */
export interface RelayInbound extends RelayStreamBase {
  /** The response headers went out. */
  readonly headersSent: boolean;
  /** The request's HEADERS carried END_STREAM. */
  readonly endAfterHeaders: boolean;
  /** null before anything read the request body; false while paused. */
  readonly readableFlowing: boolean | null;
  /** True while paused. */
  isPaused(): boolean;
  /** Sends the response headers (an object or a flat list). @throws when closed or already sent */
  respond(
    headers: http2.OutgoingHttpHeaders | readonly string[],
    options?: { endStream?: boolean; waitForTrailers?: boolean },
  ): void;
  /** Sends the trailers, after 'wantTrailers'. @throws when closed */
  sendTrailers(headers: http2.OutgoingHttpHeaders): void;
  /** Ends the response body (after `chunk`). */
  end(chunk?: string): unknown;
}

/**
 * The stream a relay opens upstream (an http2.ClientHttp2Stream, or a MuxClientStream): events
 * 'response' (headers, flags, raw list), 'trailers', 'data', 'end', 'close', 'drain', 'error'.
 */
export interface RelayUpstream extends RelayStreamBase {
  /** 'end' was emitted: the response body is all read. */
  readonly readableEnded: boolean;
  /** HTTP/2 error code the stream closed with. */
  readonly rstCode: number | undefined;
  /** Ends the request body. */
  end(): unknown;
}

/** Where a relay opens its upstream stream (an http2.ClientHttp2Session, or a MuxClient). */
export interface RelayUpstreamSession<S extends RelayUpstream = RelayUpstream> {
  /** The session is gone (its streams ended without their END_STREAM may have been cut). */
  readonly destroyed: boolean;
  /** Opens a stream with request headers (an object or a flat list). @throws when the session is closed */
  request(headers: http2.OutgoingHttpHeaders | readonly string[], options?: { endStream?: boolean }): S;
}
