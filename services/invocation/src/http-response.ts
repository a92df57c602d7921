// Answers the service writes itself rather than relays (H5, H9, H10): a problem+json document, a 202
// in-progress, and an abrupt end; plus how to tell a client response was completely sent. Both
// protocols: HTTP/1.1 responses and HTTP/2 compat responses (whose stream is asked directly).

import http2 from 'node:http2';
import {
  isSwitchyardError,
  Metadata,
  PROBLEM_CONTENT_TYPE,
  problemDocument,
  retryAfterOf,
  SwitchyardError,
} from '@switchyard/protocol';
import type { Logger } from 'pino';
import { EXPOSE, NvcfStatus, type RawRequest, type RawResponse } from './http-headers.ts';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/**
 * True when the response was completely sent. HTTP/2 compat responses report `writableFinished` (and
 * emit 'finish') even when the client reset the stream, so the stream itself is asked.
 */
export function responseFinished(req: RawRequest, res: RawResponse): boolean {
  if ('stream' in req && req.stream) return req.stream.writableFinished && req.stream.rstCode === NGHTTP2_NO_ERROR;
  return res.writableFinished;
}

/** Ends a client response abruptly (a truncated body must never look complete): RST_STREAM or socket destroy. */
export function abortResponse(req: RawRequest, res: RawResponse): void {
  if ('stream' in req && req.stream) {
    if (!req.stream.destroyed && !req.stream.closed) req.stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  res.destroy();
}

/**
 * Answers with a problem document (H10), `nvcf-status: errored`, and the request ID when there is one.
 * `err` that is not a SwitchyardError is logged and answered as SY_INTERNAL. Headers already sent: the
 * response is aborted instead. Never throws.
 */
export function sendProblem(req: RawRequest, res: RawResponse, log: Logger, err: unknown, reqId?: string): void {
  if (!isSwitchyardError(err)) log.error({ err, reqId }, 'unexpected error handling a request');
  const problem = problemDocument(isSwitchyardError(err) ? err : new SwitchyardError('SY_INTERNAL'));
  if (res.headersSent) {
    abortResponse(req, res);
    return;
  }
  if (res.destroyed || res.writableEnded) return;
  // Unread request body: let it drain (HTTP/1.1 keep-alive) rather than stall the connection.
  req.resume();
  const body = JSON.stringify(problem);
  const headers: Record<string, string> = {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': String(Buffer.byteLength(body)),
    [Metadata.nvcfStatus]: NvcfStatus.errored,
    [EXPOSE]: Metadata.requestId,
  };
  if (reqId) headers[Metadata.requestId] = reqId;
  const retryAfter = retryAfterOf(problem.code);
  if (retryAfter !== undefined) headers['retry-after'] = String(retryAfter);
  try {
    res.writeHead(problem.status, headers);
    res.end(body);
  } catch {
    // The client reset the stream meanwhile.
  }
}

/**
 * Answers 202 with `nvcf-reqid` and `nvcf-status: in-progress`, no body (H9): the result is to be
 * fetched with a status poll. @throws when the client reset the stream meanwhile (callers decide).
 */
export function sendInProgress(res: RawResponse, reqId: string): void {
  res.writeHead(202, {
    [Metadata.requestId]: reqId,
    [Metadata.nvcfStatus]: NvcfStatus.inProgress,
    [EXPOSE]: Metadata.requestId,
    'content-length': '0',
  });
  res.end();
}
