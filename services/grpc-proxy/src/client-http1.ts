// HTTP/1.1 requests on the client listener (G3, G13, G14): gRPC needs HTTP/2, so only proxy-made
// answers are given here: CORS preflights, G13 absorb requests, and plain-text errors with the G3
// status and CORS headers.

import type http from 'node:http';
import type http2 from 'node:http2';
import type { ControlStore } from '@switchyard/control-store';
import { ErrorCatalogue, type ErrorCode, httpStatusOf, isSwitchyardError, Metadata } from '@switchyard/protocol';
import { isControlPath } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { type AbsorbHandler, absorbAction } from './client-absorb.ts';
import { CLEAR_SESSION_COOKIE, corsHeaders, requestedSessionId } from './request-id.ts';
import type { SessionResumer } from './session-resume.ts';

/** What {@link Http1Responder} needs. */
export interface Http1ResponderDeps {
  /** Keys, functions and versions: authenticates callers (G1, G2). */
  control: ControlStore;
  /** Structured log; carries no API key. */
  logger: Logger;
  /** Tells whether a named session exists for the caller (nothing is attached). */
  resumer: SessionResumer;
  /** Answers G13 requests (`X-NVCF-ABSORB`, `DELETE`). */
  absorb: AbsorbHandler;
}

/** Answers the client listener's HTTP/1.1 requests; see the file comment. */
export class Http1Responder {
  readonly #deps: Http1ResponderDeps;

  constructor(deps: Http1ResponderDeps) {
    this.#deps = deps;
  }

  /** One HTTP/1.1 request, answered in the background. Never throws. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    void this.#answer(req, res);
  }

  /**
   * HTTP/1.1 reaches only proxy-made answers (G3, G14): gRPC needs HTTP/2. A request naming a session
   * is told "not found" (and its cookie cleared, G8) only when the session really is not found.
   */
  async #answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const cors = corsHeaders(req.headers.origin) as http.OutgoingHttpHeaders;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, corsHeaders(req.headers.origin, req.headers['access-control-request-headers']));
      res.end();
      return;
    }
    let code: ErrorCode = 'SY_UPSTREAM_UNAVAILABLE';
    if (isControlPath(req.url)) code = 'SY_ROUTE_NOT_FOUND';
    else {
      const absorb = absorbAction(req.method, req.headers);
      if (absorb) {
        await this.#deps.absorb.onHttp1(req, res, absorb);
        return;
      }
      code = await this.#checkCaller(req);
    }
    const body = `${ErrorCatalogue[code].message}\n`;
    res.writeHead(httpStatusOf(code), {
      ...cors,
      'content-type': 'text/plain; charset=utf-8',
      ...(code === 'SY_SESSION_NOT_FOUND' ? { 'set-cookie': CLEAR_SESSION_COOKIE } : {}),
    });
    res.end(body);
  }

  /**
   * The answer to a request that is neither a preflight nor G13: the caller's authorization error, or
   * the named session's, else SY_UPSTREAM_UNAVAILABLE (gRPC needs HTTP/2).
   */
  async #checkCaller(req: http.IncomingMessage): Promise<ErrorCode> {
    try {
      const versionId = req.headers[Metadata.functionVersionId] as string | undefined;
      const auth = await this.#deps.control.authorizeFresh({
        authorization: req.headers.authorization,
        functionId: req.headers[Metadata.functionId] as string | undefined,
        versionId,
      });
      const requested = requestedSessionId(req.headers as http2.IncomingHttpHeaders);
      if (requested) await this.#deps.resumer.findOwned(requested, auth, Boolean(versionId));
      return 'SY_UPSTREAM_UNAVAILABLE';
    } catch (err) {
      if (!isSwitchyardError(err)) this.#deps.logger.error({ err }, 'unexpected error answering an HTTP/1.1 request');
      return isSwitchyardError(err) ? err.code : 'SY_INTERNAL';
    }
  }
}
