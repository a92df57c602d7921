// Moving a body from one stream to another chunk by chunk with backpressure, where one end may be a
// call of a framed tunnel (issue 12), which is not a node Readable/Writable and so cannot `pipe()`: the
// HTTP invocation path's request and response bodies, and the worker's request bodies to the container.
// Also a Readable view of such a call, for consumers that read with `for await`.

import { Readable } from 'node:stream';

/**
 * What a pump reads: a node Readable (an HTTP request, an HTTP/2 stream) or a mux call. Events 'data'
 * (Buffer) and 'end'; pause()/resume() slow and restart the sender.
 */
export interface PumpSource {
  /** Adds a listener ('data' starts the flow). */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Removes a listener. */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** Stops 'data'. */
  pause(): unknown;
  /** Restarts 'data'. */
  resume(): unknown;
}

/**
 * What a pump writes to: a node Writable (an HTTP response, an HTTP/2 stream, a PassThrough) or a mux
 * call. write() false means wait for 'drain'.
 */
export interface PumpTarget {
  /** Writes one chunk. @returns false: wait for 'drain'. */
  write(chunk: Buffer): boolean;
  /** Ends the body. */
  end(): unknown;
  /** Adds a one-time listener ('drain'). */
  once(event: 'drain', listener: () => void): unknown;
  /** Removes a listener ('drain'). */
  off(event: 'drain', listener: () => void): unknown;
  /** True once the target takes no more writes (destroyed, closed or ended). */
  readonly writableEnded: boolean;
  /** True once destroyed (node) or closed (mux). */
  readonly destroyed: boolean;
}

/**
 * Copies `source` into `target` chunk by chunk: a write() that says false pauses the source until the
 * target's 'drain'; the source's 'end' ends the target (unless `endTarget` is false). Nothing is
 * buffered beyond what the two streams' own buffers hold. A target ended or destroyed meanwhile takes
 * no more (the source is left flowing, as after unpipe(), unless stopped).
 * @returns stop(): detaches both ends (the target is neither ended nor destroyed; the source is left
 *   as it is). Idempotent.
 */
export function pumpStream(source: PumpSource, target: PumpTarget, endTarget = true): () => void {
  let stopped = false;
  let waiting = false;
  const onDrain = () => {
    waiting = false;
    if (!stopped) source.resume();
  };
  const onData = (chunk: Buffer) => {
    if (target.writableEnded || target.destroyed) return;
    if (!target.write(chunk) && !waiting) {
      waiting = true;
      source.pause();
      target.once('drain', onDrain);
    }
  };
  const onEnd = () => {
    stop();
    if (endTarget && !target.writableEnded && !target.destroyed) target.end();
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    source.off('data', onData);
    source.off('end', onEnd);
    if (waiting) target.off('drain', onDrain);
  };
  source.on('end', onEnd);
  source.on('data', onData);
  return stop;
}

/** A mux call's body as read by {@link readableOf}: PumpSource plus its end state. */
export interface ReadableCall extends PumpSource {
  /** 'end' was emitted. */
  readonly readableEnded: boolean;
  /** No more frames come (ended or reset). */
  readonly closed: boolean;
  /** Resets the call (HTTP/2 error code). */
  close(code?: number): void;
}

/**
 * A node Readable of `call`'s body (for `for await` consumers), with backpressure: the call is paused
 * while the Readable's buffer is full. A call that closes before its 'end' (reset, tunnel lost)
 * destroys the Readable with an error; destroying the Readable leaves the call to its owner.
 */
export function readableOf(call: ReadableCall): Readable {
  const readable = new Readable({
    read() {
      call.resume();
    },
  });
  call.on('data', (chunk: Buffer) => {
    if (!readable.push(chunk)) call.pause();
  });
  call.on('end', () => readable.push(null));
  call.on('close', () => {
    if (!call.readableEnded && !readable.destroyed) readable.destroy(new Error('the tunnel call was reset mid-body'));
  });
  return readable;
}
