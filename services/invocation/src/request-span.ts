// Tracing of client requests: a SERVER span per request continuing the client's `traceparent` (or a
// new root), active while the request is handled (allocation, logs), ended with the HTTP status sent;
// and the CLIENT span `switchyard.tunnel.call` of its relay over a worker's tunnel.

import {
  context,
  contextFromHeaders,
  endHttpSpan,
  recordSpanError,
  type Span,
  SpanKind,
  startSpan,
  TraceAttr,
  tracerFor,
} from '@switchyard/telemetry';
import type { RawRequest, RawResponse } from './http-headers.ts';

/** Tracer of the invocation service's spans. */
export const tracer = tracerFor('@switchyard/invocation');

/**
 * Runs `handle(req, res)` with a SERVER span of the request active; a recording span ends when the
 * response closes, with the status sent (none sent: an error `cancelled`).
 */
export function withRequestSpan(
  req: RawRequest,
  res: RawResponse,
  handle: (req: RawRequest, res: RawResponse) => void,
): void {
  const method = req.method ?? 'GET';
  const { span, ctx } = startSpan(tracer, method, SpanKind.SERVER, contextFromHeaders(req.headers), () => ({
    [TraceAttr.httpRequestMethod]: method,
    [TraceAttr.urlPath]: (req.url ?? '/').split('?')[0],
    [TraceAttr.urlScheme]: (req.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http',
    [TraceAttr.networkProtocolName]: 'http',
    [TraceAttr.networkProtocolVersion]: req.httpVersion,
    ...(req.headers.host !== undefined || req.headers[':authority'] !== undefined
      ? { [TraceAttr.serverAddress]: (req.headers[':authority'] ?? req.headers.host) as string }
      : {}),
  }));
  // A span that does not record (a dropped trace) has nothing to end: no listener for it.
  if (span.isRecording())
    res.once('close', () => endHttpSpan(span, res.headersSent ? res.statusCode : undefined, true));
  context.with(ctx, handle, undefined, req, res);
}

/**
 * Ends a tunnel span: with the worker's HTTP status, or failed with `reason` (`error.type`) when none
 * came: `SY_TUNNEL_LOST`, or why a warm offer was not relayed (`refused`, `unusable`, `CLIENT_CANCELLED`).
 */
export function endTunnelSpan(span: Span, status: number | undefined, reason = 'SY_TUNNEL_LOST'): void {
  if (status === undefined) {
    recordSpanError(span, { code: reason, message: 'the tunnel stream closed before an answer' });
    span.end();
  } else endHttpSpan(span, status, false);
}
