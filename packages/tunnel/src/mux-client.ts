// The proxy's end of a framed tunnel (issue 12): opens calls on the mux as `session.request()` opens
// streams on an HTTP/2 client session, and each call answers as a ClientHttp2Stream does for what
// relayStream uses ('response' with flags and the raw header list, 'trailers', 'data', 'end', 'close'),
// plus 'headers' for an informational (1xx) answer before the response.

import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  MAX_MUX_CALL_ID,
  MUX_FLAG_END_STREAM,
  MuxFrameError,
  MuxFrameErrorCode,
  MuxFrameType,
  type MuxHeaders,
} from './mux-frames.ts';
import { headersObject, type MuxOptions, MuxSession } from './mux-session.ts';
import { MUX_INITIAL_WINDOW_BYTES, MuxStream, MuxStreamStateError } from './mux-stream.ts';
import type { RelayUpstream, RelayUpstreamSession } from './relay-streams.ts';

const { NGHTTP2_FLAG_END_HEADERS, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** True when a received header list has a 1xx `:status` (an informational answer, not the response). */
function isInformational(list: readonly string[]): boolean {
  for (let i = 0; i + 1 < list.length; i += 2) {
    if (list[i] === ':status') {
      const status = list[i + 1] as string;
      return status.length === 3 && status.charCodeAt(0) === 0x31; // '1xx'
    }
  }
  return false;
}

/** A call opened by {@link MuxClient.request}: the client side of one relayed stream. */
export class MuxClientStream extends MuxStream implements RelayUpstream {
  /** The response HEADERS arrived. */
  responded = false;

  /** DATA before the response headers is a protocol error. */
  override receiveData(chunk: Buffer): boolean {
    return this.responded && super.receiveData(chunk);
  }

  /** An END before the response headers is a protocol error. */
  override acceptsEnd(): boolean {
    return this.responded && super.acceptsEnd();
  }

  /** Informational (1xx) HEADERS before the response: 'headers' (headers object, flags, raw list), as node. */
  receiveInformational(list: string[]): void {
    this.emit('headers', headersObject(list), NGHTTP2_FLAG_END_HEADERS, list);
  }

  /** Response HEADERS: 'response' (headers object, HTTP/2 flags, raw list), then 'end' on END_STREAM. */
  receiveResponse(list: string[], flags: number): void {
    this.responded = true;
    const end = (flags & MUX_FLAG_END_STREAM) !== 0;
    this.emit(
      'response',
      headersObject(list),
      end ? NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM : NGHTTP2_FLAG_END_HEADERS,
      list,
    );
    if (end) this.receiveEnd();
  }

  /** TRAILERS: 'trailers' (headers object, flags, raw list), then 'end'. */
  receiveTrailers(list: string[]): void {
    this.emit('trailers', headersObject(list), NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, list);
    this.receiveEnd();
  }
}

/** Options of {@link MuxClient.request} (those of ClientHttp2Session.request that apply). */
export interface MuxRequestOptions {
  /** The request has no body: its HEADERS carry END_STREAM. @default false */
  endStream?: boolean;
}

/**
 * The client end of a mux over `duplex` (the proxy's; in production an HTTP/2 stream it opened on the
 * tunnel). Call ids are odd and increasing. Usable as relayStream's upstream session.
 */
export class MuxClient extends MuxSession implements RelayUpstreamSession<MuxClientStream> {
  #nextId = 1;

  /** @param duplex carries the frames; @param options per-call window and frame bound. */
  constructor(duplex: Duplex, options?: MuxOptions) {
    super(duplex, options);
  }

  /**
   * Opens a call with request `headers` (an object or a flat list).
   * @throws MuxStreamStateError `ERR_HTTP2_INVALID_SESSION` once the mux is closed or lost,
   *   `ERR_HTTP2_OUT_OF_STREAMS` when call ids ran out; RangeError for a header list over a frame.
   */
  request(headers: MuxHeaders, options?: MuxRequestOptions): MuxClientStream {
    if (this.closed) throw new MuxStreamStateError('ERR_HTTP2_INVALID_SESSION', 'the mux is closed');
    const id = this.#nextId;
    if (id > MAX_MUX_CALL_ID) throw new MuxStreamStateError('ERR_HTTP2_OUT_OF_STREAMS', 'mux call ids ran out');
    const endStream = options?.endStream === true;
    this.frames().headers(id, MuxFrameType.HEADERS, endStream ? MUX_FLAG_END_STREAM : 0, headers);
    this.#nextId = id + 2;
    const stream = new MuxClientStream(id, this);
    this.streams.set(id, stream);
    if (endStream) {
      stream.writableEnded = true;
      stream.localDone = true;
    }
    const extra = this.config.windowBytes - MUX_INITIAL_WINDOW_BYTES;
    if (extra > 0) stream.credit(extra);
    return stream;
  }

  protected wasOpened(id: number): boolean {
    return id % 2 === 1 && id < this.#nextId;
  }

  /**
   * MuxFrameHandler: informational HEADERS (1xx, without END_STREAM, any number before the response),
   * response HEADERS (once per call) or TRAILERS (after them).
   */
  onHeaders(
    id: number,
    type: typeof MuxFrameType.HEADERS | typeof MuxFrameType.TRAILERS,
    flags: number,
    list: string[],
  ): void {
    const stream = this.streams.get(id) as MuxClientStream | undefined;
    if (stream === undefined) {
      this.unknownCall(id);
      return;
    }
    if (type === MuxFrameType.HEADERS ? stream.responded : !stream.acceptsEnd()) {
      this.protocolError(new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux headers of call ${id} out of order`));
      return;
    }
    if (type === MuxFrameType.HEADERS && isInformational(list)) {
      if ((flags & MUX_FLAG_END_STREAM) !== 0) {
        this.protocolError(new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux 1xx headers of call ${id} end it`));
        return;
      }
      stream.receiveInformational(list);
    } else if (type === MuxFrameType.HEADERS) stream.receiveResponse(list, flags);
    else stream.receiveTrailers(list);
  }
}
