// The worker's relay to an HTTP function container (H3, H4, H6, H10): one tunnel stream becomes one
// undici request. Bodies stream both ways with backpressure (pipe), the NVCF headers of H4 are set by
// the worker (client copies removed), and a tunnel stream that closes early aborts the container request.

import http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import {
  ContainerHeaders,
  type ErrorCode,
  HOP_BY_HOP_HEADERS,
  PROBLEM_CONTENT_TYPE,
  problemDocument,
  TunnelHeaders,
} from '@switchyard/protocol';
import { type Context, injectTraceHeaders } from '@switchyard/telemetry';
import { readDeclaredBody } from '@switchyard/tunnel';
import { Pool } from 'undici';

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** Request headers the container never receives from the tunnel: ours (set below) and Switchyard's. */
const DROP_TO_CONTAINER: ReadonlySet<string> = new Set([
  ...Object.values(ContainerHeaders),
  ...Object.values(TunnelHeaders),
  'authorization',
]);

/** Connection errors that mean the container is not there at all (503), as opposed to failing (502). */
const DOWN_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** What the worker adds for the container on every request (H4). */
export interface ContainerRequestContext {
  /** `NVCF-REQID`: the request ID. */
  reqId: string;
  /** `NVCF-FUNCTION-ID`. */
  functionId: string;
  /** `NVCF-FUNCTION-VERSION-ID`. */
  versionId: string;
  /** `NVCF-INVOCATION-REGION`. */
  region: string;
}

/** Options of {@link HttpUpstream}. */
export interface HttpUpstreamOptions {
  /** Keep-alive connections to the container at most. @default 256 */
  connections?: number;
}

/** How a relayed request ended, for logs. */
export interface HttpRelayResult {
  /** Container status, when it answered. */
  status?: number;
  /** Set when the worker answered or reset instead of the container, or the tunnel stream closed early. */
  error?: ErrorCode | 'CLIENT_CANCELLED';
}

/**
 * Names listed in a `connection` header are hop-by-hop too (RFC 9110 7.6.1).
 * @returns lower-case names, possibly empty.
 */
function connectionTokens(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/**
 * Headers of a tunnel stream as the container receives them: pseudo-headers, hop-by-hop fields,
 * `authorization` and every Switchyard/NVCF header a client may have sent removed, then the NVCF
 * headers of H4 set. `nvcf-poll-seconds` is taken from the tunnel stream (the invocation service
 * computes the time left and strips client copies) when it is a positive integer.
 */
export function containerRequestHeaders(
  headers: http2.IncomingHttpHeaders,
  context: ContainerRequestContext,
): Record<string, string | string[]> {
  const drop = new Set(connectionTokens(headers.connection));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP_HEADERS.has(name) || DROP_TO_CONTAINER.has(name))
      continue;
    if (drop.has(name)) continue;
    out[name] = value;
  }
  out[ContainerHeaders.requestId] = context.reqId;
  out[ContainerHeaders.functionId] = context.functionId;
  out[ContainerHeaders.functionVersionId] = context.versionId;
  out[ContainerHeaders.invocationRegion] = context.region;
  const poll = headers[ContainerHeaders.pollSeconds];
  if (typeof poll === 'string' && /^[1-9]\d{0,5}$/.test(poll)) out[ContainerHeaders.pollSeconds] = poll;
  return out;
}

/** Response headers of the container as they go back over the tunnel: hop-by-hop fields removed. */
export function tunnelResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
): http2.OutgoingHttpHeaders {
  const drop = new Set(connectionTokens(headers.connection));
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name) || drop.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** The readable side of `stream` through a PassThrough that errors (never ends) when `signal` aborts. */
function pipeBody(stream: http2.ServerHttp2Stream, signal: AbortSignal): PassThrough {
  const body = new PassThrough();
  signal.addEventListener('abort', () => {
    stream.unpipe(body);
    body.destroy(new Error('request cancelled by the client'));
  });
  return stream.pipe(body);
}

/** Request bodies of at most this many bytes (by content-length) are read whole and sent as one buffer. */
const SMALL_BODY_BYTES = 64 * 1024;

/** Answers a tunnel stream with a problem document (no-op when it is closed or already answered). */
function respondProblem(stream: http2.ServerHttp2Stream, code: ErrorCode, detail?: string): void {
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
   * Relays `stream` (a request the invocation service opened over a tunnel) to the container and the
   * answer back. Bodies are piped both ways (backpressure, nothing buffered whole); a tunnel stream
   * that closes before the answer is complete aborts the container request (H10). Container not
   * reachable -> 503 SY_UPSTREAM_UNAVAILABLE; failing before its answer -> 502 SY_UPSTREAM_FAILED;
   * failing mid-body -> the tunnel stream is reset (a truncated body must not look complete).
   * @param traceContext the worker's container-call span, sent as `traceparent` (over the tunnel's).
   * @returns how it ended; never rejects.
   */
  async relay(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    context: ContainerRequestContext,
    traceContext?: Context,
  ): Promise<HttpRelayResult> {
    const abort = new AbortController();
    let done = false;
    stream.on('error', () => undefined);
    // A reset tunnel stream ends its readable side like a clean END_STREAM: abort first, so that a
    // truncated upload never reaches the container as a complete body.
    const cancel = () => {
      if (!done && !abort.signal.aborted) abort.abort();
    };
    stream.once('aborted', cancel);
    stream.once('close', cancel);
    const method = String(headers[':method'] ?? 'GET');
    const path = String(headers[':path'] ?? '/');
    const length = Number(headers['content-length']);
    let small: Buffer | undefined;
    if (!stream.endAfterHeaders && headers['content-length'] !== undefined && length <= SMALL_BODY_BYTES) {
      small = await readDeclaredBody(stream, length);
      if (small === undefined || abort.signal.aborted) {
        done = true;
        return { error: 'CLIENT_CANCELLED' };
      }
    }
    let response: Awaited<ReturnType<Pool['request']>>;
    try {
      response = await this.#pool.request({
        method: method as 'GET',
        path,
        headers:
          traceContext === undefined
            ? containerRequestHeaders(headers, context)
            : injectTraceHeaders(traceContext, containerRequestHeaders(headers, context)),
        // A request whose HEADERS carried END_STREAM has no body; a small one was read whole above.
        // Otherwise the tunnel stream's readable side is the body, through a PassThrough: undici
        // destroys its body stream when done, and destroying the tunnel stream itself would reset it
        // before the answer is relayed.
        body: small ?? (stream.endAfterHeaders ? undefined : pipeBody(stream, abort.signal)),
        signal: abort.signal,
      });
    } catch (err) {
      done = true;
      if (abort.signal.aborted) return { error: 'CLIENT_CANCELLED' };
      const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code ?? '';
      const errorCode: ErrorCode = DOWN_CODES.has(code) ? 'SY_UPSTREAM_UNAVAILABLE' : 'SY_UPSTREAM_FAILED';
      respondProblem(stream, errorCode, `${method} ${path.split('?')[0]}: ${(err as Error).message}`);
      return { error: errorCode };
    }
    const body = response.body;
    const status = response.statusCode;
    if (stream.destroyed || stream.closed) {
      done = true;
      body.destroy();
      return { status, error: 'CLIENT_CANCELLED' };
    }
    try {
      stream.respond({ ':status': status, ...tunnelResponseHeaders(response.headers) });
    } catch {
      done = true;
      body.destroy();
      return { status, error: 'CLIENT_CANCELLED' };
    }
    if (stream.writableEnded) {
      // 204/304/HEAD: node ended the stream with the headers; the container sent no body.
      done = true;
      body.resume();
      return { status };
    }
    return new Promise<HttpRelayResult>((resolve) => {
      body.on('error', () => {
        if (done) return;
        done = true;
        body.unpipe(stream);
        // Aborted by us (client cancel) or the container died mid-body: never end the stream cleanly.
        if (!stream.destroyed && !stream.closed) stream.close(NGHTTP2_INTERNAL_ERROR);
        resolve({ status, error: abort.signal.aborted ? 'CLIENT_CANCELLED' : 'SY_UPSTREAM_FAILED' });
      });
      body.on('end', () => {
        done = true;
        resolve({ status });
      });
      stream.once('close', () => {
        if (!done) {
          done = true;
          resolve({ status, error: 'CLIENT_CANCELLED' });
        }
      });
      body.pipe(stream);
    });
  }

  /** Closes the pool (in-flight requests are destroyed). */
  async close(): Promise<void> {
    await this.#pool.destroy().catch(() => undefined);
  }
}
