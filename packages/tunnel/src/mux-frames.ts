// Frames of a framed tunnel (issue 12): many calls multiplexed over one long-lived HTTP/2 stream.
// Each frame is `[u32 call id][u8 type][u32 payload length][payload]` (big endian). The writer appends
// frames to one batch buffer, large DATA payloads passed on uncopied (one writev of the mux stream per
// tick); the decoder takes the mux stream's chunks as they come, split anywhere, and hands DATA on as
// views of them (no copy).

/** Frame types of the mux (the `u8 type` field). */
export const MuxFrameType = {
  /** Request headers (proxy -> worker, opens a call) or response headers: `[u8 flags]` + header list. */
  HEADERS: 0,
  /** A piece of the call's body. */
  DATA: 1,
  /** End of data from this side (END_STREAM without trailers); empty payload. */
  END: 2,
  /** Trailers (ends data from this side): `[u8 flags]` + header list. */
  TRAILERS: 3,
  /** Resets the call: `[u32 HTTP/2 error code]`. */
  RESET: 4,
  /** Returns send credit to the peer: `[u32 bytes]`. */
  WINDOW: 5,
} as const;
/** One of {@link MuxFrameType}. */
export type MuxFrameType = (typeof MuxFrameType)[keyof typeof MuxFrameType];

/** HEADERS flag: no DATA follows from this side (END_STREAM). */
export const MUX_FLAG_END_STREAM = 0x1;
/** Bytes of a frame header: call id, type, payload length. */
export const MUX_FRAME_HEADER_BYTES = 9;
/** Largest frame payload (bytes) a decoder accepts by default; the writer splits larger DATA. */
export const DEFAULT_MAX_MUX_FRAME_PAYLOAD_BYTES = 1024 * 1024;
/** Highest call id (u32). */
export const MAX_MUX_CALL_ID = 0xffff_ffff;

/** Codes of {@link MuxFrameError}. */
export const MuxFrameErrorCode = {
  UNKNOWN_TYPE: 'MUX_FRAME_UNKNOWN_TYPE',
  TOO_LARGE: 'MUX_FRAME_TOO_LARGE',
  BAD_LENGTH: 'MUX_FRAME_BAD_LENGTH',
  BAD_HEADER_LIST: 'MUX_FRAME_BAD_HEADER_LIST',
  /** A well-formed frame that breaks the call protocol (reused id, DATA beyond the window...). */
  PROTOCOL: 'MUX_PROTOCOL_ERROR',
} as const;
/** One of {@link MuxFrameErrorCode}. */
export type MuxFrameErrorCode = (typeof MuxFrameErrorCode)[keyof typeof MuxFrameErrorCode];

/** A malformed frame, or one that breaks the mux protocol: the whole mux ends. */
export class MuxFrameError extends Error {
  /** Stable code; compare this, never the message. */
  readonly code: MuxFrameErrorCode;
  /** Call id of the offending frame. */
  readonly callId: number;

  constructor(code: MuxFrameErrorCode, callId: number, message: string) {
    super(message);
    this.name = 'MuxFrameError';
    this.code = code;
    this.callId = callId;
  }
}

/** Headers as relayStream passes them: an object (node:http2's shape) or a flat `[name, value, ...]`. */
export type MuxHeaders = Readonly<Record<string, unknown>> | readonly string[];

const EMPTY = Buffer.alloc(0);
/**
 * Least capacity of a new batch buffer (bytes): small enough that Buffer.allocUnsafe takes it from
 * node's shared pool (no ArrayBuffer per tick for a few small frames); larger batches grow by doubling.
 */
const MIN_BATCH_BYTES = 2 * 1024;
/**
 * DATA payloads of at least this many bytes are not copied into the batch: the batch so far (ending
 * with the frame's head) and the payload itself go to the mux stream as chunks of one writev. Smaller
 * ones are copied, so a tick of small frames stays one buffer.
 */
export const MUX_DIRECT_DATA_BYTES = 4 * 1024;

/**
 * Appends frames to a batch, taken by {@link MuxFrameWriter.takeChunks} as one or more chunks in frame
 * order: small frames are copied into one buffer, grown as needed; a large DATA payload
 * (MUX_DIRECT_DATA_BYTES or more) is passed on as it is, after its head (the caller must not modify it
 * afterwards, as with a Writable). A taken buffer belongs to the mux stream's write(): frames after it
 * start a new one.
 */
export class MuxFrameWriter {
  #buf: Buffer = EMPTY;
  /** Start of the frames in #buf not yet cut into #chunks. */
  #from = 0;
  #len = 0;
  /** Chunks cut so far, in order (segments of batch buffers and large payloads). */
  #chunks: Buffer[] = [];
  #chunkBytes = 0;
  readonly #maxPayloadBytes: number;
  readonly #directBytes: number;

  /**
   * @param maxPayloadBytes largest payload of a frame (DATA is split). @default 1 MiB
   * @param directBytes DATA payloads this large or larger are not copied. @default MUX_DIRECT_DATA_BYTES
   */
  constructor(maxPayloadBytes = DEFAULT_MAX_MUX_FRAME_PAYLOAD_BYTES, directBytes = MUX_DIRECT_DATA_BYTES) {
    this.#maxPayloadBytes = maxPayloadBytes;
    this.#directBytes = directBytes;
  }

  /** Bytes batched and not taken yet. */
  get length(): number {
    return this.#chunkBytes + this.#len - this.#from;
  }

  /**
   * Makes room for `bytes` more; returns the offset to write at. A new buffer takes only the frames
   * not cut yet (they move to its start: offsets taken before are stale, relative ones are not).
   */
  #reserve(bytes: number): number {
    const pending = this.#len - this.#from;
    if (this.#len + bytes > this.#buf.length) {
      const next = Buffer.allocUnsafe(Math.max(MIN_BATCH_BYTES, 2 * pending, pending + bytes));
      if (pending > 0) this.#buf.copy(next, 0, this.#from, this.#len);
      this.#buf = next;
      this.#from = 0;
      this.#len = pending;
    }
    return this.#len;
  }

  #head(id: number, type: MuxFrameType, length: number, payloadBytes = length): number {
    const at = this.#reserve(MUX_FRAME_HEADER_BYTES + payloadBytes);
    const buf = this.#buf;
    buf.writeUInt32BE(id, at);
    buf[at + 4] = type;
    buf.writeUInt32BE(length, at + 5);
    this.#len = at + MUX_FRAME_HEADER_BYTES + payloadBytes;
    return at + MUX_FRAME_HEADER_BYTES;
  }

  /** Cuts the frames batched in #buf since the last cut into a chunk (the buffer goes on after it). */
  #cut(): void {
    if (this.#len === this.#from) return;
    this.#push(this.#buf.subarray(this.#from, this.#len));
    this.#from = this.#len;
  }

  #push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#chunkBytes += chunk.length;
  }

  /**
   * HEADERS or TRAILERS of call `id`: `flags` (MUX_FLAG_END_STREAM) and the header list. Object values
   * that are arrays give one entry each; undefined values are skipped; others are converted with String.
   * @throws RangeError when the list's payload is larger than the largest frame payload.
   */
  headers(
    id: number,
    type: typeof MuxFrameType.HEADERS | typeof MuxFrameType.TRAILERS,
    flags: number,
    headers: MuxHeaders,
  ): void {
    // Relative to #from: the buffer may be replaced while the list is written.
    const start = this.#reserve(MUX_FRAME_HEADER_BYTES + 1) - this.#from;
    this.#buf[this.#from + start + MUX_FRAME_HEADER_BYTES] = flags;
    this.#len = this.#from + start + MUX_FRAME_HEADER_BYTES + 1;
    if (Array.isArray(headers)) {
      const list = headers as readonly unknown[];
      for (let i = 0; i + 1 < list.length; i += 2) {
        this.#string(String(list[i]));
        this.#string(String(list[i + 1]));
      }
    } else {
      const object = headers as Readonly<Record<string, unknown>>;
      for (const name of Object.keys(object)) {
        const value = object[name];
        if (value === undefined) continue;
        if (Array.isArray(value)) {
          for (const one of value) {
            this.#string(name);
            this.#string(String(one));
          }
        } else {
          this.#string(name);
          this.#string(String(value));
        }
      }
    }
    const at = this.#from + start;
    const length = this.#len - at - MUX_FRAME_HEADER_BYTES;
    if (length > this.#maxPayloadBytes) {
      this.#len = at;
      throw new RangeError(
        `mux header list of ${length} bytes exceeds the ${this.#maxPayloadBytes}-byte frame payload`,
      );
    }
    const buf = this.#buf;
    buf.writeUInt32BE(id, at);
    buf[at + 4] = type;
    buf.writeUInt32BE(length, at + 5);
  }

  /** `[u32 byte length][utf-8 bytes]`; the length is written after the string (at most 3 bytes a unit). */
  #string(value: string): void {
    const at = this.#reserve(4 + 3 * value.length);
    const written = this.#buf.write(value, at + 4, 'utf8');
    this.#buf.writeUInt32BE(written, at);
    this.#len = at + 4 + written;
  }

  /**
   * DATA of call `id`: `chunk`, split into frames of at most the largest payload; copied into the batch
   * when small, else passed on after its head as a chunk of its own (a view, no copy).
   */
  data(id: number, chunk: Uint8Array): void {
    const max = this.#maxPayloadBytes;
    for (let from = 0; from < chunk.length || from === 0; from += max) {
      const to = Math.min(chunk.length, from + max);
      const piece = to - from === chunk.length ? chunk : chunk.subarray(from, to);
      if (piece.length >= this.#directBytes) {
        this.#head(id, MuxFrameType.DATA, piece.length, 0);
        this.#cut();
        this.#push(Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
      } else {
        const at = this.#head(id, MuxFrameType.DATA, piece.length);
        this.#buf.set(piece, at);
      }
      if (to >= chunk.length) break;
    }
  }

  /** END of call `id`. */
  end(id: number): void {
    this.#head(id, MuxFrameType.END, 0);
  }

  /** RESET of call `id` with HTTP/2 error `code`. */
  reset(id: number, code: number): void {
    const at = this.#head(id, MuxFrameType.RESET, 4);
    this.#buf.writeUInt32BE(code >>> 0, at);
  }

  /** WINDOW of call `id`: `bytes` more credit (1 .. 2^32-1). */
  window(id: number, bytes: number): void {
    const at = this.#head(id, MuxFrameType.WINDOW, 4);
    this.#buf.writeUInt32BE(bytes >>> 0, at);
  }

  /**
   * The batch so far as chunks in frame order (undefined when empty), for one writev; the writer starts
   * a new batch.
   */
  takeChunks(): Buffer[] | undefined {
    this.#cut();
    if (this.#chunks.length === 0) return undefined;
    const out = this.#chunks;
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#buf = EMPTY;
    this.#from = 0;
    this.#len = 0;
    return out;
  }

  /** Drops the batch. */
  discard(): void {
    this.#chunks = [];
    this.#chunkBytes = 0;
    this.#buf = EMPTY;
    this.#from = 0;
    this.#len = 0;
  }
}

/** Receives the frames a {@link MuxFrameDecoder} decodes, synchronously, in order. */
export interface MuxFrameHandler {
  /** HEADERS or TRAILERS of call `id`: `flags` and the flat header list `[name, value, ...]`. */
  onHeaders(
    id: number,
    type: typeof MuxFrameType.HEADERS | typeof MuxFrameType.TRAILERS,
    flags: number,
    list: string[],
  ): void;
  /**
   * DATA of call `id`, as it arrives: a frame split across chunks of the mux stream comes in pieces
   * (views of those chunks), `last` true on its last piece.
   */
  onData(id: number, chunk: Buffer, last: boolean): void;
  /** END of call `id`. */
  onEnd(id: number): void;
  /** RESET of call `id` with HTTP/2 error `code`. */
  onReset(id: number, code: number): void;
  /** WINDOW of call `id`: `bytes` of credit. */
  onWindow(id: number, bytes: number): void;
}

/**
 * Parses a header list payload: `[u8 flags]` then `[u32 length][utf-8]` names and values alternately.
 * @returns the flat list, or undefined when malformed (truncated, or a name without a value).
 */
export function parseHeaderList(payload: Buffer): string[] | undefined {
  if (payload.length < 1) return undefined;
  const list: string[] = [];
  let at = 1;
  const end = payload.length;
  while (at < end) {
    if (at + 4 > end) return undefined;
    const length = payload.readUInt32BE(at);
    at += 4;
    if (length > end - at) return undefined;
    list.push(payload.toString('utf8', at, at + length));
    at += length;
  }
  return list.length % 2 === 0 ? list : undefined;
}

/**
 * Decodes the mux stream's chunks, split anywhere (a frame across chunks, several frames in one), into
 * calls of a {@link MuxFrameHandler}. A frame within one chunk is passed as a view of it; only a
 * non-DATA frame split across chunks is copied (once, into a buffer of its length). After a malformed
 * frame (or {@link MuxFrameDecoder.stop}) the decoder ignores all further input.
 */
export class MuxFrameDecoder {
  readonly #handler: MuxFrameHandler;
  readonly #maxPayloadBytes: number;
  readonly #head = Buffer.allocUnsafe(MUX_FRAME_HEADER_BYTES);
  #headFill = 0;
  #inFrame = false;
  #id = 0;
  #type = 0;
  #remaining = 0;
  #acc: Buffer = EMPTY;
  #accFill = 0;
  #stopped = false;

  /** @param maxPayloadBytes a longer frame is malformed. @default 1 MiB */
  constructor(handler: MuxFrameHandler, maxPayloadBytes = DEFAULT_MAX_MUX_FRAME_PAYLOAD_BYTES) {
    this.#handler = handler;
    this.#maxPayloadBytes = maxPayloadBytes;
  }

  /** True once stopped or failed: input is ignored. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Ignores all further input (the mux ended). */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Decodes `chunk`, calling the handler for each frame completed by it.
   * @returns undefined, or the error of the first malformed frame (the decoder then stops).
   */
  push(chunk: Buffer): MuxFrameError | undefined {
    const size = chunk.length;
    let at = 0;
    while (at < size && !this.#stopped) {
      if (!this.#inFrame) {
        let src: Buffer;
        let from: number;
        if (this.#headFill === 0 && size - at >= MUX_FRAME_HEADER_BYTES) {
          src = chunk;
          from = at;
          at += MUX_FRAME_HEADER_BYTES;
        } else {
          const n = Math.min(MUX_FRAME_HEADER_BYTES - this.#headFill, size - at);
          chunk.copy(this.#head, this.#headFill, at, at + n);
          this.#headFill += n;
          at += n;
          if (this.#headFill < MUX_FRAME_HEADER_BYTES) break;
          this.#headFill = 0;
          src = this.#head;
          from = 0;
        }
        const error = this.#begin(src.readUInt32BE(from), src[from + 4] as number, src.readUInt32BE(from + 5));
        if (error !== undefined) return this.#fail(error);
        if (this.#remaining === 0) {
          const e = this.#complete(EMPTY);
          if (e !== undefined) return this.#fail(e);
          continue;
        }
        if (this.#type !== MuxFrameType.DATA && size - at >= this.#remaining) {
          const end = at + this.#remaining;
          const e = this.#complete(chunk.subarray(at, end));
          at = end;
          if (e !== undefined) return this.#fail(e);
          continue;
        }
        if (this.#type !== MuxFrameType.DATA) {
          this.#acc = Buffer.allocUnsafe(this.#remaining);
          this.#accFill = 0;
        }
      }
      const n = Math.min(this.#remaining, size - at);
      this.#remaining -= n;
      if (this.#type === MuxFrameType.DATA) {
        const last = this.#remaining === 0;
        if (last) this.#inFrame = false;
        this.#handler.onData(this.#id, chunk.subarray(at, at + n), last);
        at += n;
      } else {
        chunk.copy(this.#acc, this.#accFill, at, at + n);
        this.#accFill += n;
        at += n;
        if (this.#remaining === 0) {
          const acc = this.#acc;
          this.#acc = EMPTY;
          const e = this.#complete(acc);
          if (e !== undefined) return this.#fail(e);
        }
      }
    }
    return undefined;
  }

  #fail(error: MuxFrameError): MuxFrameError {
    this.#stopped = true;
    return error;
  }

  /** Checks a frame header and starts the frame. */
  #begin(id: number, type: number, length: number): MuxFrameError | undefined {
    if (type > MuxFrameType.WINDOW) {
      return new MuxFrameError(MuxFrameErrorCode.UNKNOWN_TYPE, id, `unknown mux frame type ${type}`);
    }
    if (length > this.#maxPayloadBytes) {
      return new MuxFrameError(MuxFrameErrorCode.TOO_LARGE, id, `mux frame payload of ${length} bytes is too large`);
    }
    const fixed = type === MuxFrameType.END ? 0 : type === MuxFrameType.RESET || type === MuxFrameType.WINDOW ? 4 : -1;
    if (fixed >= 0 && length !== fixed) {
      return new MuxFrameError(MuxFrameErrorCode.BAD_LENGTH, id, `mux frame type ${type} with ${length} payload bytes`);
    }
    if ((type === MuxFrameType.HEADERS || type === MuxFrameType.TRAILERS) && length === 0) {
      return new MuxFrameError(MuxFrameErrorCode.BAD_HEADER_LIST, id, 'mux header list without flags');
    }
    this.#id = id;
    this.#type = type;
    this.#remaining = length;
    this.#inFrame = true;
    return undefined;
  }

  /** Hands a whole frame (`payload`) to the handler. */
  #complete(payload: Buffer): MuxFrameError | undefined {
    this.#inFrame = false;
    const id = this.#id;
    const handler = this.#handler;
    switch (this.#type) {
      case MuxFrameType.HEADERS:
      case MuxFrameType.TRAILERS: {
        const list = parseHeaderList(payload);
        if (list === undefined) {
          return new MuxFrameError(MuxFrameErrorCode.BAD_HEADER_LIST, id, 'malformed mux header list');
        }
        handler.onHeaders(id, this.#type, payload[0] as number, list);
        return undefined;
      }
      case MuxFrameType.DATA:
        handler.onData(id, payload, true);
        return undefined;
      case MuxFrameType.END:
        handler.onEnd(id);
        return undefined;
      case MuxFrameType.RESET:
        handler.onReset(id, payload.readUInt32BE(0));
        return undefined;
      default:
        handler.onWindow(id, payload.readUInt32BE(0));
        return undefined;
    }
  }
}
