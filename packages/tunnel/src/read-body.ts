// Small request bodies read whole, on both sides of a tunnel: the invocation service sends a small
// body with a warm-path offer, and the worker hands a small body to the container as one buffer.

/**
 * A request body being received: an IncomingMessage, an Http2ServerRequest or a ServerHttp2Stream,
 * whose `aborted` is true once the peer aborted or reset the request; or a call framed on a tunnel's
 * mux (MuxServerStream, issue 12), which emits 'end' only for a real end and 'close' after a reset.
 */
export interface BodySource {
  /** Adds a listener ('data', 'end', 'aborted', 'close'). */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  on(event: string, listener: (...args: any[]) => void): unknown;
  /** Removes a listener. */
  // biome-ignore lint/suspicious/noExplicitAny: EventEmitter's own listener type
  off(event: string, listener: (...args: any[]) => void): unknown;
  /** 'end' was emitted. */
  readonly readableEnded: boolean;
  /** True once the peer aborted or reset the request (node's streams; undefined on a mux call). */
  readonly aborted?: boolean;
}

/**
 * Reads a request body whose content-length the caller has checked to be small, whole.
 * A reset HTTP/2 stream ends its readable side like a clean end, so only a body of exactly
 * `expectedBytes`, with no abort reported by the next turn of the event loop, counts.
 * @param source the request body.
 * @param expectedBytes its declared content-length, bytes.
 * @returns the bytes; undefined when the request was aborted or closed first, or was longer or
 *   shorter than declared (a truncated body must never pass as complete). Never rejects.
 */
export function readDeclaredBody(source: BodySource, expectedBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (value: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('aborted', onAborted);
      source.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > expectedBytes) finish(undefined);
      else chunks.push(chunk);
    };
    const onEnd = () =>
      setImmediate(() =>
        finish(source.aborted === true || size !== expectedBytes ? undefined : Buffer.concat(chunks, size)),
      );
    const onAborted = () => finish(undefined);
    const onClose = () => {
      if (!source.readableEnded) finish(undefined);
    };
    source.on('data', onData);
    source.on('end', onEnd);
    source.on('aborted', onAborted);
    source.on('close', onClose);
  });
}
