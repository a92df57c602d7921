// The worker's relay to an HTTP function container (H3, H4, H6, H10): one tunnel stream becomes one
// undici request, dispatched with a handler (container-answer.ts) that writes the answer straight into
// the tunnel stream (an HTTP/2 stream or a call framed on the tunnel's mux). Request bodies stream with
// backpressure (stream-pump), the NVCF headers of H4 are set by
// the worker (client copies removed, container-headers.ts), and a tunnel stream that closes early
// aborts the container request.

import type http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import { type Context, injectTraceHeaders } from '@switchyard/telemetry';
import { pumpStream, readDeclaredBody } from '@switchyard/tunnel';
import { type Dispatcher, Pool } from 'undici';
import { ContainerAnswer, type HttpRelayResult, type HttpTunnelCall } from './container-answer.ts';
import { type ContainerRequestContext, containerRequestHeaders } from './container-headers.ts';

export type { HttpRelayResult, HttpTunnelCall } from './container-answer.ts';
export type { ContainerRequestContext } from './container-headers.ts';
export { containerRequestHeaders, tunnelResponseHeaders } from './container-headers.ts';

/** Options of {@link HttpUpstream}. */
export interface HttpUpstreamOptions {
  /** Keep-alive connections to the container at most. @default 256 */
  connections?: number;
}

/** Request bodies of at most this many bytes (by content-length) are read whole and sent as one buffer. */
const SMALL_BODY_BYTES = 64 * 1024;

/** Swallows a tunnel stream's errors: its 'close' says what the relay needs to know. */
function ignore(): void {}

/**
 * The worker's client of one HTTP container (`http://host:port`): a keep-alive undici pool without
 * header or body timeouts (long-running calls and SSE last as long as the container writes, H6/H7;
 * the invocation service owns the request timeout).
 */
export class HttpUpstream {
  readonly origin: string;
  readonly #pool: Pool;

  constructor(origin: string, options: HttpUpstreamOptions = {}) {
    this.origin = origin;
    this.#pool = new Pool(origin, {
      connections: options.connections ?? 256,
      pipelining: 1,
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
  }

  /**
   * Relays `stream` (a request the invocation service opened over a tunnel: an HTTP/2 stream or a call
   * framed on the tunnel's mux) to the container and the answer back. The request body is copied (backpressure, nothing buffered whole) unless it is small
   * and declared; the answer is written into the stream as it arrives, the container read paused while
   * the stream is full; a tunnel stream that closes before the answer is complete aborts the container
   * request (H10). Container not reachable -> 503 SY_UPSTREAM_UNAVAILABLE; failing before its answer ->
   * 502 SY_UPSTREAM_FAILED; failing mid-body -> the tunnel stream is reset (a truncated body must not
   * look complete).
   * @param traceContext the worker's container-call span, sent as `traceparent` (over the tunnel's).
   * @returns how it ended; never rejects.
   */
  async relay(
    stream: HttpTunnelCall,
    headers: http2.IncomingHttpHeaders,
    context: ContainerRequestContext,
    traceContext?: Context,
  ): Promise<HttpRelayResult> {
    stream.on('error', ignore);
    const method = String(headers[':method'] ?? 'GET');
    const path = String(headers[':path'] ?? '/');
    let done!: (result: HttpRelayResult) => void;
    const ended = new Promise<HttpRelayResult>((resolve) => {
      done = resolve;
    });
    const answer = new ContainerAnswer(stream, method, path, done);
    const declared = headers['content-length'];
    let body: Buffer | PassThrough | undefined;
    if (!stream.endAfterHeaders) {
      const length = Number(declared);
      if (declared !== undefined && length <= SMALL_BODY_BYTES) {
        body = await readDeclaredBody(stream, length);
        if (body === undefined || answer.cancelled) {
          answer.cancelledBeforeStart();
          return ended;
        }
      } else {
        // Through a PassThrough: undici destroys its body stream when done, and destroying the tunnel
        // stream itself would reset it before the answer is relayed.
        const through = new PassThrough();
        answer.streamedBody(through, pumpStream(stream, through));
        body = through;
      }
    }
    const out = containerRequestHeaders(headers, context);
    this.#pool.dispatch(
      {
        origin: this.origin,
        method: method as Dispatcher.HttpMethod,
        path,
        headers: traceContext === undefined ? out : injectTraceHeaders(traceContext, out),
        body,
      },
      answer,
    );
    return ended;
  }

  /** Closes the pool (in-flight requests are destroyed). */
  async close(): Promise<void> {
    await this.#pool.destroy().catch(() => undefined);
  }
}
