// One call of a framed tunnel (issue 12) as each end sees it: an EventEmitter that behaves, for what
// relayStream uses, like an Http2Stream: 'data'/'end'/'close'/'drain'/'error', write/end/pause/resume,
// close(code), rstCode, closed/destroyed/writableEnded/readableEnded. Flow control is per call: the
// sender spends credit on DATA (write() false once spent, 'drain' when WINDOW frames return it; also
// false while the mux has too much unsent, 'drain' once it went out); the
// receiver returns credit as its consumer takes the data (emitted while not paused, or on resume()).

import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { MuxFrameType, type MuxFrameWriter, type MuxHeaders } from './mux-frames.ts';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** Send credit of a new call in each direction (bytes), before any WINDOW frame. */
export const MUX_INITIAL_WINDOW_BYTES = 64 * 1024;

/** What a call needs of the mux that carries it (implemented by the mux endpoints). */
export interface MuxStreamOwner {
  /** The batch to append this tick's frames to (flushed on process.nextTick). */
  frames(): MuxFrameWriter;
  /** Credit of `stream` is due: a WINDOW frame goes out at the next flush. */
  windowDue(stream: MuxStream): void;
  /** `stream` is closed: frames for its id are ignored from now on. */
  forget(stream: MuxStream): void;
  /** Emits 'close' of `stream` on setImmediate (one per batch of closing calls), via emitClose(). */
  closeLater(stream: MuxStream): void;
  /**
   * True while the mux has more unsent bytes than it wants buffered: a call's write() then says false
   * (as an HTTP/2 stream's does past its high-water mark) and waits for {@link MuxStream.muxDrained}.
   */
  readonly congested: boolean;
  /** `stream` wants muxDrained() once the mux is no longer congested. */
  awaitDrain(stream: MuxStream): void;
  /**
   * Credit is returned once this much is due (bytes; half the receive window, as HTTP/2 stacks do), so a
   * call whose body fits in the window sends no WINDOW frame.
   */
  readonly windowUpdateBytes: number;
}

/** A stream-state error thrown like node:http2 throws (code `ERR_HTTP2_*`). */
export class MuxStreamStateError extends Error {
  /** `ERR_HTTP2_INVALID_STREAM`, `ERR_HTTP2_HEADERS_SENT` or `ERR_HTTP2_TRAILERS_NOT_READY`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'MuxStreamStateError';
    this.code = code;
  }
}

/** An RST received with an error code, for an 'error' listener (node: ERR_HTTP2_STREAM_ERROR). */
export class MuxStreamResetError extends Error {
  /** Always `ERR_HTTP2_STREAM_ERROR`. */
  readonly code = 'ERR_HTTP2_STREAM_ERROR';
  /** The HTTP/2 error code of the reset. */
  readonly rstCode: number;

  constructor(rstCode: number) {
    super(`mux stream reset with HTTP/2 error code ${rstCode}`);
    this.name = 'MuxStreamResetError';
    this.rstCode = rstCode;
  }
}

function flushQueue(stream: MuxStream): void {
  stream.flushQueued();
}

/**
 * The part of a mux call both ends share (see the file comment). Frames arrive through the
 * `receive*` methods (called by the mux endpoint); events are emitted synchronously as they arrive,
 * except 'close', which follows on setImmediate (after whatever I/O the last frame caused; the owner
 * batches them).
 */
export class MuxStream extends EventEmitter {
  /** Call id on the mux (odd, allocated by the client end). */
  readonly id: number;
  /** The mux carrying the call. */
  readonly owner: MuxStreamOwner;
  /** HTTP/2 error code the call closed with (NO_ERROR after a clean end); undefined while open. */
  rstCode: number | undefined = undefined;
  /** No more frames go out or come in for the call (ended both ways, or reset). */
  closed = false;
  /** 'close' was emitted. */
  destroyed = false;
  /** end() was called (or the headers carried END_STREAM). */
  writableEnded = false;
  /** 'end' was emitted: the peer's data is all consumed. */
  readableEnded = false;
  /** null until a 'data' listener or resume(); false while paused. */
  readableFlowing: boolean | null = null;
  /** Credit to send DATA (bytes). */
  #sendCredit = MUX_INITIAL_WINDOW_BYTES;
  /** DATA accepted by write() beyond the credit, sent as WINDOW frames come. */
  #pending: Buffer[] | undefined = undefined;
  #needDrain = false;
  /** end() waits for pending data. */
  #endPending = false;
  /** The last frame from this side went out (END_STREAM, END or TRAILERS). */
  localDone = false;
  /** Bytes the peer may still send before more credit. */
  #receiveWindow = MUX_INITIAL_WINDOW_BYTES;
  /** Credit to return at the next flush (bytes). */
  creditDue = 0;
  /** Bytes consumed while paused: credited on resume(). */
  #heldCredit = 0;
  /** DATA received while not flowing. */
  #queue: Buffer[] | undefined = undefined;
  #flushScheduled = false;
  /** The peer's data ended (END, END_STREAM or TRAILERS received). */
  remoteEnded = false;

  /** @param id call id; @param owner the mux. */
  constructor(id: number, owner: MuxStreamOwner) {
    super();
    this.id = id;
    this.owner = owner;
  }

  /** Send credit left (bytes). */
  get sendCreditBytes(): number {
    return this.#sendCredit;
  }

  /** Bytes accepted by write() and not yet sent for want of credit. */
  get pendingBytes(): number {
    let n = 0;
    if (this.#pending !== undefined) for (const b of this.#pending) n += b.length;
    return n;
  }

  /** Adds a 'data' listener as a Readable does: the stream flows unless paused. */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    super.on(event, listener);
    if (event === 'data' && this.readableFlowing !== false) this.resume();
    return this;
  }

  /** Same as {@link MuxStream.on}. */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  override addListener(event: string | symbol, listener: (...args: any[]) => void): this {
    return this.on(event, listener);
  }

  /** True while paused. */
  isPaused(): boolean {
    return this.readableFlowing === false;
  }

  /** Stops 'data': the credit of what arrives meanwhile is returned on resume(). */
  pause(): this {
    this.readableFlowing = false;
    return this;
  }

  /** Flows again: credit held while paused is returned, queued data is emitted on the next tick. */
  resume(): this {
    this.readableFlowing = true;
    if (this.#heldCredit > 0) {
      this.credit(this.#heldCredit);
      this.#heldCredit = 0;
    }
    if (!this.#flushScheduled && (this.#queue !== undefined || (this.remoteEnded && !this.readableEnded))) {
      this.#flushScheduled = true;
      process.nextTick(flushQueue, this);
    }
    return this;
  }

  /** Emits what was queued while not flowing, then 'end' if the peer's data ended. */
  flushQueued(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    if (queue !== undefined) {
      while (queue.length > 0 && this.readableFlowing === true && !this.closed) {
        this.#deliver(queue.shift() as Buffer);
      }
      if (queue.length === 0) this.#queue = undefined;
    }
    this.maybeEnd();
  }

  /** Returns `bytes` of credit to the peer (at the next flush). */
  credit(bytes: number): void {
    if (this.remoteEnded || this.closed) return;
    const due = this.creditDue;
    this.creditDue = due + bytes;
    if (due < this.owner.windowUpdateBytes && this.creditDue >= this.owner.windowUpdateBytes)
      this.owner.windowDue(this);
  }

  /** The credit due goes out: the peer may send that much more. */
  creditSent(bytes: number): void {
    this.#receiveWindow += bytes;
    this.creditDue = 0;
  }

  #deliver(chunk: Buffer): void {
    this.emit('data', chunk);
    if (this.readableFlowing === true) this.credit(chunk.length);
    else this.#heldCredit += chunk.length;
  }

  /** DATA from the peer. @returns false when it exceeds the window granted (a protocol error). */
  receiveData(chunk: Buffer): boolean {
    if (this.remoteEnded || chunk.length > this.#receiveWindow) return false;
    this.#receiveWindow -= chunk.length;
    if (chunk.length === 0) return true;
    if (this.readableFlowing === true && this.#queue === undefined) this.#deliver(chunk);
    else if (this.#queue === undefined) this.#queue = [chunk];
    else this.#queue.push(chunk);
    return true;
  }

  /** True when an END from the peer is in order now. */
  acceptsEnd(): boolean {
    return !this.remoteEnded;
  }

  /** The peer's data ended. */
  receiveEnd(): void {
    this.remoteEnded = true;
    this.maybeEnd();
  }

  /** Emits 'end' once the peer's data ended and all of it was emitted (not while paused). */
  maybeEnd(): void {
    if (!this.remoteEnded || this.readableEnded || this.closed) return;
    if (this.#queue !== undefined || this.readableFlowing === false) return;
    this.readableEnded = true;
    this.emit('end');
    this.maybeClose();
  }

  /** WINDOW from the peer: more credit; pending data goes out, then 'drain' or the deferred end. */
  receiveWindow(bytes: number): void {
    if (this.closed) return;
    this.#sendCredit += bytes;
    const pending = this.#pending;
    if (pending !== undefined) {
      while (pending.length > 0 && this.#sendCredit > 0) {
        const chunk = pending[0] as Buffer;
        if (chunk.length <= this.#sendCredit) {
          pending.shift();
          this.#sendData(chunk);
        } else {
          const credit = this.#sendCredit;
          this.#sendData(chunk.subarray(0, credit));
          pending[0] = chunk.subarray(credit);
        }
      }
      if (pending.length > 0) return;
      this.#pending = undefined;
    }
    if (this.#endPending) {
      this.#endPending = false;
      this.finishWrite();
    } else if (this.#needDrain && this.#sendCredit > 0) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  /** The mux is no longer congested: 'drain' if write() said false and credit is left. */
  muxDrained(): void {
    if (this.#needDrain && !this.closed && this.#pending === undefined && this.#sendCredit > 0) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  #sendData(chunk: Buffer): void {
    this.#sendCredit -= chunk.length;
    this.owner.frames().data(this.id, chunk);
  }

  /**
   * Sends `chunk` as DATA within the credit; the rest waits for WINDOW frames.
   * @returns false when the credit is spent or the mux has too much unsent: wait for 'drain'. Always
   *   false after end() or close.
   */
  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.closed) return false;
    this.beforeData();
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.#pending === undefined) {
      const credit = this.#sendCredit;
      if (data.length <= credit) {
        if (data.length > 0) this.#sendData(data);
        if (this.#sendCredit > 0 && !this.owner.congested) return true;
        this.#needDrain = true;
        // Credit left: only the mux is congested, and its drain (not a WINDOW frame) says when.
        if (this.#sendCredit > 0) this.owner.awaitDrain(this);
        return false;
      }
      if (credit > 0) this.#sendData(data.subarray(0, credit));
      this.#pending = [data.subarray(credit)];
    } else {
      this.#pending.push(data);
    }
    this.#needDrain = true;
    return false;
  }

  /** Ends this side (after `chunk`, if any): END (or, on a server call, trailers) once data is sent. */
  end(chunk?: Buffer | string): this {
    if (this.writableEnded || this.closed) return this;
    if (chunk !== undefined) this.write(chunk);
    else this.beforeData();
    this.writableEnded = true;
    if (this.#pending !== undefined) this.#endPending = true;
    else this.finishWrite();
    return this;
  }

  /** Called before this side's first DATA or END (a server call responds first). */
  protected beforeData(): void {}

  /** All data of this side went out: send its end (END; a server call may ask for trailers). */
  finishWrite(): void {
    this.sendLast(MuxFrameType.END, undefined);
  }

  /** Sends this side's last frame (END, or TRAILERS with `headers`) and closes if the peer ended too. */
  protected sendLast(
    type: typeof MuxFrameType.END | typeof MuxFrameType.TRAILERS,
    headers: MuxHeaders | undefined,
  ): void {
    if (this.localDone || this.closed) return;
    this.localDone = true;
    if (type === MuxFrameType.END || headers === undefined) this.owner.frames().end(this.id);
    else this.owner.frames().headers(this.id, MuxFrameType.TRAILERS, 0, headers);
    this.maybeClose();
  }

  /** Closes cleanly (NO_ERROR) once both sides ended. */
  maybeClose(): void {
    if (this.localDone && this.readableEnded && !this.closed) this.#closeWith(NGHTTP2_NO_ERROR);
  }

  #closeWith(code: number): void {
    this.closed = true;
    this.rstCode = code;
    this.#pending = undefined;
    this.#queue = undefined;
    this.owner.forget(this);
    this.owner.closeLater(this);
  }

  /** Emits 'close' (called by the owner, after I/O of the tick the call closed in). */
  emitClose(): void {
    this.destroyed = true;
    this.emit('close');
  }

  /** Resets the call (RESET with `code`, default NO_ERROR) unless already closed; 'close' follows. */
  close(code: number = NGHTTP2_NO_ERROR): void {
    if (this.closed) return;
    this.owner.frames().reset(this.id, code);
    this.#closeWith(code);
  }

  /**
   * The peer reset the call, or the mux is lost (`code`): 'error' (only with a listener, and not for
   * NO_ERROR), then 'close'.
   */
  receiveReset(code: number): void {
    if (this.closed) return;
    this.#closeWith(code);
    if (code !== NGHTTP2_NO_ERROR && this.listenerCount('error') > 0) this.emit('error', new MuxStreamResetError(code));
  }
}
