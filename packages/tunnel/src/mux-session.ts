// The part both ends of a framed tunnel (issue 12) share: one Duplex (in production an HTTP/2 stream
// of the tunnel session) carries every call's frames. Frames written in one tick go out in one write()
// of the Duplex (a writev when large DATA payloads go uncopied); while its write() says false, frames
// wait for its 'drain' (so the HTTP/2 stream's window bounds the tunnel and per-call credit bounds each
// call). When the Duplex ends, fails or closes, or the peer sends a malformed frame, every open call
// ends as a reset stream would.

import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import { DEFAULT_STREAM_WINDOW_BYTES } from './h2-settings.ts';
import {
  DEFAULT_MAX_MUX_FRAME_PAYLOAD_BYTES,
  MuxFrameDecoder,
  MuxFrameError,
  MuxFrameErrorCode,
  type MuxFrameHandler,
  type MuxFrameType,
  MuxFrameWriter,
} from './mux-frames.ts';
import { MUX_INITIAL_WINDOW_BYTES, type MuxStream, type MuxStreamOwner } from './mux-stream.ts';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

/**
 * Unsent bytes of a mux (its batch and what the Duplex has not sent yet) from which the calls' write()
 * says false until they went out: without it a call could queue its whole credit window (1 MiB) here
 * while the mux stream waits for the peer, and data held that long is promoted by the garbage collector
 * (measured: bidi CPU per MB 1.4x that of a stream per call).
 */
export const MUX_WRITE_BUFFER_BYTES = 256 * 1024;

/** Options of a mux end; all optional. */
export interface MuxOptions {
  /**
   * Receive window of each call (bytes, at least 64 KiB): what the peer may send before credit. The
   * default is the stream window of the tunnel's HTTP/2 streams, so a call may buffer what a stream of
   * its own could: a smaller window makes a message larger than it wait a round trip per window
   * (measured: 64 KiB cut 64 KiB bidi messages by a third on loopback). @default 1 MiB
   */
  windowBytes?: number;
  /** Largest frame payload this end accepts and sends (bytes). @default 1 MiB */
  maxFramePayloadBytes?: number;
}

/** {@link MuxOptions} resolved. */
export interface MuxConfig {
  /** Receive window of each call (bytes). */
  readonly windowBytes: number;
  /** Largest frame payload (bytes). */
  readonly maxFramePayloadBytes: number;
}

/** Resolves `options`. @throws RangeError on a window under 64 KiB or a payload bound under 16 KiB. */
export function muxConfigOf(options: MuxOptions = {}): MuxConfig {
  const windowBytes = options.windowBytes ?? DEFAULT_STREAM_WINDOW_BYTES;
  const maxFramePayloadBytes = options.maxFramePayloadBytes ?? DEFAULT_MAX_MUX_FRAME_PAYLOAD_BYTES;
  if (!Number.isInteger(windowBytes) || windowBytes < MUX_INITIAL_WINDOW_BYTES || windowBytes > 2 ** 31 - 1) {
    throw new RangeError(`mux windowBytes must be an integer from ${MUX_INITIAL_WINDOW_BYTES} to 2^31-1`);
  }
  if (
    !Number.isInteger(maxFramePayloadBytes) ||
    maxFramePayloadBytes < 16 * 1024 ||
    maxFramePayloadBytes > 2 ** 31 - 1
  ) {
    throw new RangeError('mux maxFramePayloadBytes must be an integer from 16384 to 2^31-1');
  }
  return Object.freeze({ windowBytes, maxFramePayloadBytes });
}

/**
 * A received header list as node:http2 gives headers: an object (no prototype), `:status` a number,
 * a repeated field an array of its values (`set-cookie` always).
 */
export function headersObject(list: readonly string[]): http2.IncomingHttpHeaders {
  // A literal with a null prototype stays a fast object (Object.create(null) makes a dictionary).
  const out = { __proto__: null } as unknown as Record<string, string | string[] | number>;
  for (let i = 0; i + 1 < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    const prev = out[name];
    if (prev === undefined) out[name] = name === ':status' ? Number(value) : name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[name] = [String(prev), value];
  }
  return out as http2.IncomingHttpHeaders;
}

function flushSession(session: MuxSession): void {
  session.flush();
}
function emitClosed(session: MuxSession): void {
  session.emitClosed();
}
/** Writes `chunks` in order as one writev (corked); returns what the last write() returned. */
function writeAll(duplex: Duplex, chunks: Buffer[]): boolean {
  if (chunks.length === 1) return duplex.write(chunks[0]);
  duplex.cork();
  let ok = true;
  for (const chunk of chunks) ok = duplex.write(chunk);
  duplex.uncork();
  return ok;
}
function rethrow(error: unknown): never {
  throw error;
}

/**
 * One end of a mux over `duplex`. Events: 'close' (reason: the MuxFrameError or Error that ended it,
 * undefined when the Duplex just ended or closed), once; the mux then takes no new calls.
 */
export abstract class MuxSession extends EventEmitter implements MuxStreamOwner, MuxFrameHandler {
  /** The Duplex the frames travel on. */
  readonly duplex: Duplex;
  /** Resolved options. */
  readonly config: MuxConfig;
  /** Open calls by id. */
  protected readonly streams = new Map<number, MuxStream>();
  /** True once the mux ended: no frames go out or come in. */
  destroyed = false;
  /** True once close() was called or the mux ended: no new calls. */
  closed = false;
  /** MuxStreamOwner: credit goes back once half a call's window is due (bytes). */
  readonly windowUpdateBytes: number;
  /** What ended the mux, if it ended from an error. */
  reason: Error | undefined = undefined;
  readonly #writer: MuxFrameWriter;
  readonly #decoder: MuxFrameDecoder;
  #flushScheduled = false;
  /** The Duplex's write() said false: frames wait for 'drain'. */
  #blocked = false;
  #windowQueue: MuxStream[] = [];
  /** Calls whose write() said false while the mux was congested. */
  #drainWaiters: MuxStream[] = [];
  /** Calls closed since the last setImmediate: their 'close' is due. */
  #closing: MuxStream[] = [];

  /** @param duplex carries the frames (read at once, written in batches). */
  constructor(duplex: Duplex, options?: MuxOptions) {
    super();
    this.duplex = duplex;
    this.config = muxConfigOf(options);
    this.windowUpdateBytes = this.config.windowBytes >>> 1;
    this.#writer = new MuxFrameWriter(this.config.maxFramePayloadBytes);
    this.#decoder = new MuxFrameDecoder(this, this.config.maxFramePayloadBytes);
    duplex.on('data', (chunk: Buffer) => {
      const error = this.#decoder.push(chunk);
      if (error !== undefined) this.protocolError(error);
    });
    duplex.on('drain', () => {
      this.#blocked = false;
      if (this.#writer.length > 0 || this.#windowQueue.length > 0) this.flush();
      if (this.#drainWaiters.length > 0 && !this.congested) {
        const waiters = this.#drainWaiters;
        this.#drainWaiters = [];
        for (const stream of waiters) stream.muxDrained();
      }
    });
    duplex.on('end', () => this.destroy(NGHTTP2_CANCEL));
    duplex.on('close', () => this.destroy(NGHTTP2_CANCEL));
    duplex.on('error', (err: Error) => this.destroy(NGHTTP2_INTERNAL_ERROR, err));
  }

  /** Number of open calls. */
  get openCalls(): number {
    return this.streams.size;
  }

  /** MuxStreamOwner: the batch of this tick. */
  frames(): MuxFrameWriter {
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      process.nextTick(flushSession, this);
    }
    return this.#writer;
  }

  /** MuxStreamOwner: more than MUX_WRITE_BUFFER_BYTES unsent (batched, or not yet sent by the Duplex). */
  get congested(): boolean {
    return this.#writer.length + this.duplex.writableLength >= MUX_WRITE_BUFFER_BYTES;
  }

  /** MuxStreamOwner: `stream` is told when the Duplex drained and the mux is no longer congested. */
  awaitDrain(stream: MuxStream): void {
    this.#drainWaiters.push(stream);
  }

  /** MuxStreamOwner: a WINDOW frame for `stream` at the next flush. */
  windowDue(stream: MuxStream): void {
    this.#windowQueue.push(stream);
    this.frames();
  }

  /** MuxStreamOwner: `stream` closed. After close(), the Duplex ends with the last call. */
  forget(stream: MuxStream): void {
    this.streams.delete(stream.id);
    if (this.closed && !this.destroyed && this.streams.size === 0) this.frames();
  }

  /** MuxStreamOwner: 'close' of `stream` on the next setImmediate, with the others closing meanwhile. */
  closeLater(stream: MuxStream): void {
    if (this.#closing.push(stream) === 1) setImmediate(emitClosed, this);
  }

  /** Emits 'close' of the calls closed since the last time (a listener's throw is rethrown apart). */
  emitClosed(): void {
    const closing = this.#closing;
    this.#closing = [];
    for (const stream of closing) {
      try {
        stream.emitClose();
      } catch (error) {
        process.nextTick(rethrow, error);
      }
    }
  }

  /** Writes the batch (and the WINDOW frames due) to the Duplex, unless it asked to wait. */
  flush(): void {
    this.#flushScheduled = false;
    if (this.destroyed) return;
    const writer = this.#writer;
    const queue = this.#windowQueue;
    if (queue.length > 0) {
      for (const stream of queue) {
        const bytes = stream.creditDue;
        if (bytes > 0 && !stream.closed && !stream.remoteEnded) {
          writer.window(stream.id, bytes);
          stream.creditSent(bytes);
        } else {
          stream.creditDue = 0;
        }
      }
      this.#windowQueue = [];
    }
    if (this.#blocked) return;
    const batch = writer.takeChunks();
    if (batch !== undefined && !writeAll(this.duplex, batch)) this.#blocked = true;
    if (this.closed && this.streams.size === 0 && !this.duplex.writableEnded) this.duplex.end();
  }

  /** Takes no new calls; the Duplex ends once the open calls have closed. */
  close(): void {
    this.closed = true;
    if (this.streams.size === 0) this.frames();
  }

  /**
   * Ends the mux now: every open call closes as reset with `code` (default CANCEL) and the Duplex is
   * destroyed (closed with PROTOCOL_ERROR when `reason` is a MuxFrameError and it can be). No-op when
   * already ended.
   */
  destroy(code: number = NGHTTP2_CANCEL, reason?: Error): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closed = true;
    this.reason = reason;
    this.#decoder.stop();
    this.#writer.discard();
    this.#windowQueue = [];
    this.#drainWaiters = [];
    const open = [...this.streams.values()];
    this.streams.clear();
    for (const stream of open) stream.receiveReset(code);
    const duplex = this.duplex as Duplex & { close?: (code: number) => void };
    if (!duplex.destroyed) {
      if (reason instanceof MuxFrameError && typeof duplex.close === 'function') duplex.close(NGHTTP2_PROTOCOL_ERROR);
      else duplex.destroy();
    }
    this.emit('close', reason);
  }

  /** The peer broke the protocol: the mux ends (INTERNAL_ERROR for its calls), the process goes on. */
  protected protocolError(error: MuxFrameError): void {
    this.destroy(NGHTTP2_INTERNAL_ERROR, error);
  }

  /** A call id the peer refers to that is not open: ignored when it was open before, else an error. */
  protected unknownCall(id: number): void {
    if (!this.wasOpened(id)) {
      this.protocolError(new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux frame for call ${id}, never opened`));
    }
  }

  /** True when call `id` was opened on this mux (it may have closed since). */
  protected abstract wasOpened(id: number): boolean;

  /** MuxFrameHandler: HEADERS or TRAILERS (what each end makes of them differs). */
  abstract onHeaders(
    id: number,
    type: typeof MuxFrameType.HEADERS | typeof MuxFrameType.TRAILERS,
    flags: number,
    list: string[],
  ): void;

  /** MuxFrameHandler: DATA beyond the call's window, or after its END, is a protocol error. */
  onData(id: number, chunk: Buffer): void {
    const stream = this.streams.get(id);
    if (stream === undefined) {
      this.unknownCall(id);
      return;
    }
    if (!stream.receiveData(chunk)) {
      this.protocolError(
        new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux DATA of call ${id} beyond its window or end`),
      );
    }
  }

  /** MuxFrameHandler: END. */
  onEnd(id: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) this.unknownCall(id);
    else if (!stream.acceptsEnd()) {
      this.protocolError(new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux END of call ${id} out of order`));
    } else stream.receiveEnd();
  }

  /** MuxFrameHandler: RESET. */
  onReset(id: number, code: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) this.unknownCall(id);
    else stream.receiveReset(code);
  }

  /** MuxFrameHandler: WINDOW. */
  onWindow(id: number, bytes: number): void {
    const stream = this.streams.get(id);
    if (stream === undefined) this.unknownCall(id);
    else if (bytes === 0 || stream.sendCreditBytes + bytes > 2 ** 31 - 1) {
      this.protocolError(
        new MuxFrameError(MuxFrameErrorCode.PROTOCOL, id, `mux WINDOW of ${bytes} bytes for call ${id}`),
      );
    } else stream.receiveWindow(bytes);
  }
}
