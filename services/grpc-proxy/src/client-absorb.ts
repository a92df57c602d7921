// X-NVCF-ABSORB (G13): `POST` with `X-NVCF-ABSORB: true` pre-allocates a session and answers its
// request ID (header and cookie) without a call; `DELETE` with a request ID ends the session. A
// pre-allocated session is neither pinned to nor held by the connection that asked ([ours]: users
// sharing one HTTP/2 connection never share a session); its reconnect window starts at once (S1).

import type http from 'node:http';
import type http2 from 'node:http2';
import type { ControlStore } from '@switchyard/control-store';
import {
  ErrorCatalogue,
  type ErrorCode,
  httpStatusOf,
  isSwitchyardError,
  Metadata,
  SwitchyardError,
} from '@switchyard/protocol';
import { AbsorbResult, type FrontEndMetrics } from '@switchyard/telemetry';
import { isGrpcContentType, respondWithError } from '@switchyard/tunnel';
import type { Logger } from 'pino';
import { CLEAR_SESSION_COOKIE, corsHeaders, requestedSessionId, sessionCookie } from './request-id.ts';
import type { SessionAllocator } from './session-allocate.ts';
import type { SessionResumer } from './session-resume.ts';

/** What a request asks of G13: pre-allocate a session, or end one. */
export type AbsorbAction = 'allocate' | 'end';

/**
 * The G13 action of a request, if any: `POST` with `X-NVCF-ABSORB: true` allocates; a non-gRPC
 * `DELETE` naming a request ID (metadata or cookie, G7) or carrying `X-NVCF-ABSORB: true` ends.
 * Any path. Everything else is a call (or, over HTTP/1.1, a proxy-made answer).
 */
export function absorbAction(
  method: string | undefined,
  headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders,
): AbsorbAction | undefined {
  const flag = headers[Metadata.absorb];
  const absorb = typeof flag === 'string' && flag.trim().toLowerCase() === 'true';
  if (method === 'POST') return absorb ? 'allocate' : undefined;
  if (method !== 'DELETE' || isGrpcContentType(headers['content-type'])) return undefined;
  return absorb || requestedSessionId(headers as http2.IncomingHttpHeaders) !== undefined ? 'end' : undefined;
}

/** What {@link AbsorbHandler} needs. */
export interface AbsorbDeps {
  /** Keys, functions and versions: authenticates callers (G1, G2). */
  control: ControlStore;
  /** Structured log; carries no API key. */
  logger: Logger;
  /**
   * `preallocate` makes a session (flow 1, G10, S4) that no connection pins or holds: the worker's
   * reconnect window starts at once, so an unused pre-allocation ends by itself (S1).
   */
  allocator: SessionAllocator;
  /**
   * `end` ends a session of the caller's account (G9: another account's is not found) at its worker:
   * SY_SESSION_NOT_FOUND (unknown, ended, worker gone), SY_SESSION_MISMATCH, SY_WORKER_UNAVAILABLE,
   * SY_DIRECTORY_UNAVAILABLE.
   */
  resumer: SessionResumer;
  /** Absorb results and rejections (metrics). */
  metrics: FrontEndMetrics;
}

/** A successful G13 answer. */
interface AbsorbAnswer {
  status: number;
  headers: http.OutgoingHttpHeaders;
}

/** Answers G13 requests over HTTP/2 and HTTP/1.1. */
export class AbsorbHandler {
  readonly #deps: AbsorbDeps;

  constructor(deps: AbsorbDeps) {
    this.#deps = deps;
  }

  /** Answers `stream`: 200/204 with `nvcf-reqid` and the cookie, or a G3 error (NOT_FOUND clears it). */
  async onHttp2(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    action: AbsorbAction,
  ): Promise<void> {
    stream.on('error', () => undefined);
    const cors = corsHeaders(headers.origin);
    try {
      const answer = await this.#answer(action, headers);
      this.#deps.metrics.absorbed(action === 'allocate' ? AbsorbResult.allocated : AbsorbResult.ended);
      if (stream.closed || stream.destroyed) return;
      if (stream.readableFlowing !== true) stream.resume();
      stream.respond({ ':status': answer.status, ...cors, ...answer.headers }, { endStream: true });
    } catch (err) {
      const code = this.#codeOf(err);
      const extra = code === 'SY_SESSION_NOT_FOUND' ? { ...cors, 'set-cookie': CLEAR_SESSION_COOKIE } : cors;
      respondWithError(stream, isGrpcContentType(headers['content-type']), code, extra);
    }
  }

  /** Answers `res` like {@link AbsorbHandler.onHttp2} (errors as G3 plain text). */
  async onHttp1(req: http.IncomingMessage, res: http.ServerResponse, action: AbsorbAction): Promise<void> {
    const cors = corsHeaders(req.headers.origin) as http.OutgoingHttpHeaders;
    req.resume();
    try {
      const answer = await this.#answer(action, req.headers);
      this.#deps.metrics.absorbed(action === 'allocate' ? AbsorbResult.allocated : AbsorbResult.ended);
      res.writeHead(answer.status, { ...cors, ...answer.headers, 'content-length': 0 });
      res.end();
    } catch (err) {
      const code = this.#codeOf(err);
      res.writeHead(httpStatusOf(code), {
        ...cors,
        'content-type': 'text/plain; charset=utf-8',
        ...(code === 'SY_SESSION_NOT_FOUND' ? { 'set-cookie': CLEAR_SESSION_COOKIE } : {}),
      });
      res.end(`${ErrorCatalogue[code].message}\n`);
    }
  }

  async #answer(
    action: AbsorbAction,
    headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders,
  ): Promise<AbsorbAnswer> {
    const versionId = headers[Metadata.functionVersionId] as string | undefined;
    const auth = await this.#deps.control.authorizeFresh({
      authorization: headers[Metadata.authorization] as string | undefined,
      functionId: headers[Metadata.functionId] as string | undefined,
      versionId,
    });
    if (action === 'allocate') {
      // Always a new session, whatever request ID the request names: a pre-allocation never
      // hands out a session that another caller holds.
      const session = await this.#deps.allocator.preallocate(auth);
      return {
        status: 200,
        headers: { [Metadata.requestId]: session.reqId, 'set-cookie': sessionCookie(session.reqId) },
      };
    }
    const reqId = requestedSessionId(headers as http2.IncomingHttpHeaders);
    if (!reqId) throw new SwitchyardError('SY_REQUEST_INVALID', { detail: 'DELETE names no request ID' });
    await this.#deps.resumer.end(reqId, auth, Boolean(versionId));
    return { status: 204, headers: { [Metadata.requestId]: reqId, 'set-cookie': CLEAR_SESSION_COOKIE } };
  }

  /** The code a failed G13 request is answered with; counted as its absorb result (and a rejection). */
  #codeOf(err: unknown): ErrorCode {
    const code: ErrorCode = isSwitchyardError(err) ? err.code : 'SY_INTERNAL';
    if (!isSwitchyardError(err)) this.#deps.logger.error({ err }, 'unexpected error answering X-NVCF-ABSORB');
    const { metrics } = this.#deps;
    metrics.absorbed(code === 'SY_SESSION_NOT_FOUND' ? AbsorbResult.notFound : AbsorbResult.error);
    metrics.answeredError(code);
    return code;
  }
}
