// One HTTP container request as an undici dispatch handler (H3, H4, H6, H10): the container's answer
// is written straight into the tunnel stream, with no Readable per answer in between. Backpressure
// both ways of the answer: a full tunnel stream pauses the container read (a slow client slows the
// container, memory stays bounded) and 'drain' resumes it. The stream is ended only once its last
// write was called back, so a normal end never meets a pending write (no ERR_STREAM_DESTROYED built).
// It implements undici's handler methods that its HTTP/1.1 client calls itself (onConnect, onHeaders,
// onData, onComplete, onError): the newer controller methods would put an adapter in between that
// allocates a controller per request and parses the headers and trailers into objects first.

import http2 from 'node:http2';
import type { PassThrough } from 'node:stream';
import { type ErrorCode, PROBLEM_CONTENT_TYPE, problemDocument } from '@switchyard/protocol';
import { MuxServerStream } from '@switchyard/tunnel';
import type { Dispatcher } from 'undici';
import { tunnelResponseHeadersFromRaw } from './container-headers.ts';

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** Connection errors that mean the container is not there at all (503), as opposed to failing (502). */
const DOWN_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * The tunnel end of an HTTP request: an HTTP/2 stream of the tunnel, or a call framed on its mux stream
 * (issue 12, feature `http-mux`), which takes the same respond/write/end/close and emits 'close' after
 * a reset (never 'aborted', and never 'end' for a reset).
 */
export type HttpTunnelCall = http2.ServerHttp2Stream | MuxServerStream;

/** How a relayed request ended, for logs. */
export interface HttpRelayResult {
  /** Container status, when it answered. */
  status?: number;
  /** Set when the worker answered or reset instead of the container, or the tunnel stream closed early. */
  error?: ErrorCode | 'CLIENT_CANCELLED';
}

/** Answers a tunnel stream with a problem document (no-op when it is closed; reset when already answered). */
export function respondProblem(stream: HttpTunnelCall, code: ErrorCode, detail?: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  const problem = problemDocument(code, detail);
  const body = JSON.stringify(problem);
  try {
    stream.respond({
      ':status': problem.status,
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': Buffer.byteLength(body),
    });
    stream.end(body);
  } catch {
    // The stream was reset meanwhile.
  }
}

/**
 * The handler of one container request relayed from `stream`. It settles once, through `done`:
 * answer complete -> `{status}`; tunnel stream closed first (H10) -> CLIENT_CANCELLED and the container
 * request aborted; container unreachable -> 503 SY_UPSTREAM_UNAVAILABLE; failing before its answer ->
 * 502 SY_UPSTREAM_FAILED; failing mid-body -> the tunnel stream is reset (a truncated body must not look
 * complete). Listens to the stream's 'aborted' and 'close' from construction.
 */
export class ContainerAnswer implements Dispatcher.DispatchHandler {
  readonly #stream: HttpTunnelCall;
  /** The stream is a mux call: its write() takes no callback, and end() waits for pending data itself. */
  readonly #mux: boolean;
  readonly #done: (result: HttpRelayResult) => void;
  /** `METHOD /path` of the request, for problem details. */
  readonly #method: string;
  readonly #path: string;
  /** Aborts the container request (undici's, from onConnect). */
  #abort: ((err: Error) => void) | undefined;
  /** Resumes the container read after onData returned false (undici's, from onHeaders). */
  #resume: (() => void) | undefined;
  #aborted = false;
  /** The request body when it streams from the tunnel (a PassThrough undici may destroy). */
  #body: PassThrough | undefined;
  /** Stops copying the tunnel stream into {@link #body}. */
  #stopBody: (() => void) | undefined;
  #status: number | undefined;
  #cancelled = false;
  #settled = false;
  /** Writes to the tunnel stream not called back yet. */
  #writes = 0;
  /** The container's answer is complete; the stream ends once {@link #writes} is 0. */
  #ending = false;
  #draining = false;

  constructor(stream: HttpTunnelCall, method: string, path: string, done: (result: HttpRelayResult) => void) {
    this.#stream = stream;
    this.#mux = stream instanceof MuxServerStream;
    this.#method = method;
    this.#path = path;
    this.#done = done;
    // A reset tunnel stream ends its readable side like a clean END_STREAM: cancel first, so that a
    // truncated upload never reaches the container as a complete body. (#cancel runs once: plain
    // listeners, no once() wrappers.)
    stream.on('aborted', this.#cancel);
    stream.on('close', this.#cancel);
  }

  /** True once the tunnel stream closed or was reset before the answer was complete. */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * Sets the streamed request body, destroyed (never ended) if the tunnel stream is cancelled, and
   * `stop` detaches the copy into it then.
   */
  streamedBody(body: PassThrough, stop: () => void): void {
    this.#body = body;
    this.#stopBody = stop;
  }

  /** Settles as CLIENT_CANCELLED without a container request (cancelled before it was sent). */
  cancelledBeforeStart(): void {
    this.#settle({ error: 'CLIENT_CANCELLED' });
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#cancelled) this.#abortRequest('request cancelled by the client');
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational answers are not relayed; the final one follows.
    if (statusCode < 200 || this.#settled) return true;
    this.#status = statusCode;
    this.#resume = resume;
    const stream = this.#stream;
    if (stream.destroyed || stream.closed) {
      this.#settle({ status: statusCode, error: 'CLIENT_CANCELLED' });
      this.#abortRequest('tunnel stream closed');
      return true;
    }
    try {
      stream.respond(tunnelResponseHeadersFromRaw(rawHeaders, statusCode));
    } catch {
      this.#settle({ status: statusCode, error: 'CLIENT_CANCELLED' });
      this.#abortRequest('tunnel stream reset');
    }
    return true;
  }

  /** @returns false to pause the container read until the tunnel stream drains. */
  onData(chunk: Buffer): boolean {
    const stream = this.#stream;
    // 204/304/HEAD: node ended the stream with the headers; nothing more goes in.
    if (this.#settled || stream.writableEnded) return true;
    if (this.#mux) {
      // A mux call ends after its pending data by itself: no write callbacks to count.
      if ((stream as MuxServerStream).write(chunk)) return true;
    } else {
      this.#writes++;
      if ((stream as http2.ServerHttp2Stream).write(chunk, this.#written)) return true;
    }
    if (!this.#draining) {
      this.#draining = true;
      stream.on('drain', this.#drain);
    }
    return false;
  }

  onComplete(): void {
    if (this.#settled) return;
    this.#ending = true;
    if (this.#writes === 0) this.#end();
  }

  onError(err: Error): void {
    if (this.#settled) return;
    const stream = this.#stream;
    if (this.#cancelled) {
      if (!stream.destroyed && !stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
      this.#settle({ status: this.#status, error: 'CLIENT_CANCELLED' });
      return;
    }
    if (this.#status !== undefined) {
      // The container died mid-body: never end the stream cleanly.
      if (!stream.destroyed && !stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
      this.#settle({ status: this.#status, error: 'SY_UPSTREAM_FAILED' });
      return;
    }
    const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? '';
    const errorCode: ErrorCode = DOWN_CODES.has(code) ? 'SY_UPSTREAM_UNAVAILABLE' : 'SY_UPSTREAM_FAILED';
    respondProblem(stream, errorCode, `${this.#method} ${this.#path.split('?')[0]}: ${err.message}`);
    this.#settle({ error: errorCode });
  }

  /** Aborts the container request once (no-op before onConnect: it aborts then, on #cancelled). */
  #abortRequest(reason: string): void {
    if (this.#aborted || this.#abort === undefined) return;
    this.#aborted = true;
    this.#abort(new Error(reason));
  }

  #settle(result: HttpRelayResult): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#done(result);
  }

  #end(): void {
    const stream = this.#stream;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
    this.#settle({ status: this.#status });
  }

  /** Callback of every write to the tunnel stream. */
  readonly #written = (): void => {
    if (--this.#writes === 0 && this.#ending && !this.#settled) this.#end();
  };

  readonly #drain = (): void => {
    this.#resume?.();
  };

  readonly #cancel = (): void => {
    if (this.#settled || this.#cancelled) return;
    this.#cancelled = true;
    if (this.#ending) {
      // The container's answer was complete; only the last writes were lost with the stream.
      this.#settle({ status: this.#status, error: 'CLIENT_CANCELLED' });
      return;
    }
    const body = this.#body;
    if (body !== undefined) {
      this.#stopBody?.();
      body.destroy(new Error('request cancelled by the client'));
    }
    this.#abortRequest('request cancelled by the client');
  };
}
