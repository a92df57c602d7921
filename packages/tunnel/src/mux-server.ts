// The worker's end of a framed tunnel (issue 12): each HEADERS with a new call id becomes a 'stream'
// event, as an HTTP/2 server session emits one, and the call answers as a ServerHttp2Stream does for
// what relayStream uses: respond() with an object or a flat list, END_STREAM or 'wantTrailers' then
// sendTrailers(), headersSent, endAfterHeaders, close(code).

import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { MUX_FLAG_END_STREAM, MuxFrameError, MuxFrameErrorCode, MuxFrameType, type MuxHeaders } from './mux-frames.ts';
import { headersObject, type MuxOptions, MuxSession } from './mux-session.ts';
import { MUX_INITIAL_WINDOW_BYTES, MuxStream, MuxStreamStateError } from './mux-stream.ts';
import type { RelayInbound } from './relay-streams.ts';

const { NGHTTP2_FLAG_END_HEADERS, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Options of {@link MuxServerStream.respond} (those of ServerHttp2Stream.respond that apply). */
export interface MuxRespondOptions {
  /** The answer has no body: its HEADERS carry END_STREAM. @default false */
  endStream?: boolean;
  /** After end(), 'wantTrailers' is emitted and sendTrailers() sends the last frame. @default false */
  waitForTrailers?: boolean;
}

const DEFAULT_RESPONSE = { ':status': 200 } as const;

function emitEndOfHeaders(stream: MuxServerStream): void {
  stream.maybeEnd();
}

function isEmptyHeaders(headers: MuxHeaders): boolean {
  if (Array.isArray(headers)) return headers.length === 0;
  for (const _ in headers) return false;
  return true;
}

/** A call the peer opened: the server side of one relayed stream. */
export class MuxServerStream extends MuxStream implements RelayInbound {
  /** The request's HEADERS carried END_STREAM (no body). */
  readonly endAfterHeaders: boolean;
  /** respond() was called. */
  headersSent = false;
  /** The headers respond() sent. */
  sentHeaders: MuxHeaders | undefined = undefined;
  /** The trailers sendTrailers() sent. */
  sentTrailers: MuxHeaders | undefined = undefined;
  #waitForTrailers = false;
  #trailersReady = false;

  /** @param endAfterHeaders the request has no body. */
  constructor(id: number, owner: MuxServer, endAfterHeaders: boolean) {
    super(id, owner);
    this.endAfterHeaders = endAfterHeaders;
    if (endAfterHeaders) {
      this.remoteEnded = true;
      // 'end' once whoever took the 'stream' event had a chance to listen (as node emits it later).
      process.nextTick(emitEndOfHeaders, this);
    }
  }

  /**
   * Sends the response HEADERS (default `:status` 200); `endStream` ends the answer with them,
   * `waitForTrailers` makes end() emit 'wantTrailers'.
   * @throws MuxStreamStateError `ERR_HTTP2_INVALID_STREAM` when closed, `ERR_HTTP2_HEADERS_SENT` when
   *   already sent; RangeError for a header list over a frame.
   */
  respond(headers: MuxHeaders = DEFAULT_RESPONSE, options?: MuxRespondOptions): void {
    if (this.closed || this.destroyed)
      throw new MuxStreamStateError('ERR_HTTP2_INVALID_STREAM', 'the mux stream is closed');
    if (this.headersSent) throw new MuxStreamStateError('ERR_HTTP2_HEADERS_SENT', 'response headers already sent');
    const endStream = options?.endStream === true;
    this.owner.frames().headers(this.id, MuxFrameType.HEADERS, endStream ? MUX_FLAG_END_STREAM : 0, headers);
    this.headersSent = true;
    this.sentHeaders = headers;
    this.#waitForTrailers = !endStream && options?.waitForTrailers === true;
    if (endStream) {
      this.writableEnded = true;
      this.localDone = true;
      this.maybeClose();
    }
  }

  /**
   * Sends an informational answer (`headers` with a 1xx `:status`, e.g. the warm path's 100 admission)
   * before respond(), as ServerHttp2Stream.additionalHeaders does; the peer's call emits 'headers'.
   * @throws MuxStreamStateError `ERR_HTTP2_INVALID_STREAM` when closed, `ERR_HTTP2_HEADERS_AFTER_RESPOND`
   *   after respond(); RangeError when `:status` is not 1xx (or a header list over a frame).
   */
  additionalHeaders(headers: Readonly<Record<string, unknown>>): void {
    if (this.closed || this.destroyed)
      throw new MuxStreamStateError('ERR_HTTP2_INVALID_STREAM', 'the mux stream is closed');
    if (this.headersSent)
      throw new MuxStreamStateError('ERR_HTTP2_HEADERS_AFTER_RESPOND', 'informational headers after respond()');
    const status = Number(headers[':status']);
    if (!(status >= 100 && status < 200)) throw new RangeError('additionalHeaders() takes a 1xx :status');
    this.owner.frames().headers(this.id, MuxFrameType.HEADERS, 0, headers);
  }

  /** Data before respond() answers `:status` 200 first (as node does). */
  protected override beforeData(): void {
    if (!this.headersSent) this.respond();
  }

  /** All data went out: 'wantTrailers' when respond() asked for it (and someone listens), else END. */
  override finishWrite(): void {
    if (this.#waitForTrailers && this.listenerCount('wantTrailers') > 0) {
      this.#trailersReady = true;
      this.emit('wantTrailers');
      return;
    }
    this.sendLast(MuxFrameType.END, undefined);
  }

  /**
   * Sends `headers` as trailers (none: a plain END), after 'wantTrailers'.
   * @throws MuxStreamStateError `ERR_HTTP2_INVALID_STREAM` when closed, `ERR_HTTP2_TRAILERS_NOT_READY`
   *   before 'wantTrailers'.
   */
  sendTrailers(headers: MuxHeaders): void {
    if (this.closed || this.destroyed)
      throw new MuxStreamStateError('ERR_HTTP2_INVALID_STREAM', 'the mux stream is closed');
    if (!this.#trailersReady)
      throw new MuxStreamStateError('ERR_HTTP2_TRAILERS_NOT_READY', "trailers before 'wantTrailers'");
    this.#trailersReady = false;
    this.sentTrailers = headers;
    if (isEmptyHeaders(headers)) this.sendLast(MuxFrameType.END, undefined);
    else this.sendLast(MuxFrameType.TRAILERS, headers);
  }

  /** Request TRAILERS: 'trailers' (headers object, flags, raw list), then 'end'. */
  receiveTrailers(list: string[]): void {
    this.emit('trailers', headersObject(list), NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, list);
    this.receiveEnd();
  }
}

/**
 * The server end of a mux over `duplex` (the worker's; in production an HTTP/2 stream the proxy opened
 * on the tunnel). Emits 'stream' (call: MuxServerStream, headers object, HTTP/2 flags, raw header list)
 * for each new call, like Http2Session's 'stream'; 'close' as {@link MuxSession}.
 */
export class MuxServer extends MuxSession {
  #lastId = 0;

  /** @param duplex carries the frames; @param options per-call window and frame bound. */
  constructor(duplex: Duplex, options?: MuxOptions) {
    super(duplex, options);
  }

  protected wasOpened(id: number): boolean {
    return id % 2 === 1 && id <= this.#lastId;
  }

  /** MuxFrameHandler: HEADERS opens a call (a new odd id, above every earlier one); TRAILERS end its request. */
  onHeaders(
    id: number,
    type: typeof MuxFrameType.HEADERS | typeof MuxFrameType.TRAILERS,
    flags: number,
    list: string[],
  ): void {
    if (type === MuxFrameType.TRAILERS) {
      const stream = this.streams.get(id) as MuxServerStream | undefined;
      if (stream === undefined) this.unknownCall(id);
      else if (!stream.acceptsEnd()) {
        this.protocolError(
          new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux trailers of call ${id} out of order`),
        );
      } else stream.receiveTrailers(list);
      return;
    }
    if (id % 2 !== 1 || id <= this.#lastId) {
      this.protocolError(
        new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux HEADERS opening call ${id}: id in use or not new`),
      );
      return;
    }
    this.#lastId = id;
    if (this.closed) {
      // Closing: the call is refused (the proxy answers it as a lost tunnel).
      this.frames().reset(id, http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const endStream = (flags & MUX_FLAG_END_STREAM) !== 0;
    const stream = new MuxServerStream(id, this, endStream);
    this.streams.set(id, stream);
    const extra = this.config.windowBytes - MUX_INITIAL_WINDOW_BYTES;
    if (extra > 0) stream.credit(extra);
    this.emit(
      'stream',
      stream,
      headersObject(list),
      endStream ? NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_END_HEADERS,
      list,
    );
  }
}
