// The worker's CLIENT span of a call relayed to the function container (`switchyard.container.call`),
// a child of the front end's span named by the tunnel stream's `traceparent`. Started only for a
// stream that carries one and kept only when the sampler records it; otherwise the front end's
// `traceparent` reaches the container unchanged (same trace ID, nothing allocated here). A parent
// that says "not sampled", under a parent-based sampler, is not even parsed into a context.

import type http2 from 'node:http2';
import {
  contextFromHeaders,
  SpanKind,
  SpanNames,
  type SpanScope,
  startSpan,
  TraceAttr,
  tracerFor,
} from '@switchyard/telemetry';

const tracer = tracerFor('@switchyard/worker');

/**
 * True when the sampler follows a remote parent's sampled flag: `OTEL_TRACES_SAMPLER` unset (the
 * telemetry package then uses a parent-based sampler) or one of the `parentbased_*` samplers, whose
 * default for a remote parent not sampled is to drop the span.
 */
const PARENT_DECIDES = /^(parentbased_.*)?$/.test((process.env.OTEL_TRACES_SAMPLER ?? '').trim());

/** A W3C `traceparent` shape (trace and parent IDs not all zero); the version is checked apart. */
const TRACEPARENT = /^[\da-f]{2}-(?!0{32})[\da-f]{32}-(?!0{16})[\da-f]{16}-[\da-f]{2}(?:-|$)/;

/**
 * True when `traceparent` is a well-formed W3C header (`vv-<32 hex>-<16 hex>-ff`) whose sampled flag
 * is off: under a parent-based sampler its child would not record, so none is started (the extract,
 * the IDs and the context it would cost per call are skipped; the header reaches the container as is).
 */
function unsampledParent(traceparent: string | string[]): boolean {
  if (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent)) return false;
  // Version ff is invalid, and version 00 is exactly 55 characters (W3C Trace Context 3.2).
  const version = traceparent.slice(0, 2);
  if (version === 'ff' || (version === '00' && traceparent.length !== 55)) return false;
  return (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 0;
}

/**
 * Starts the container-call span of tunnel stream `headers` (request `reqId`, `grpc` or `http`
 * container, or a `websocket` relayed as an HTTP/1.1 Upgrade), or returns undefined when the stream
 * carries no `traceparent` or the trace is not sampled.
 */
export function startContainerSpan(
  headers: http2.IncomingHttpHeaders,
  reqId: string | undefined,
  protocol: 'grpc' | 'http' | 'websocket',
): SpanScope | undefined {
  const traceparent = headers.traceparent;
  if (traceparent === undefined || (PARENT_DECIDES && unsampledParent(traceparent))) return undefined;
  const scope = startSpan(tracer, SpanNames.containerCall, SpanKind.CLIENT, contextFromHeaders(headers), () => ({
    [TraceAttr.httpRequestMethod]: headers[':method'] ?? 'GET',
    [TraceAttr.urlPath]: (headers[':path'] ?? '/').split('?')[0],
    [TraceAttr.networkProtocolName]: protocol === 'websocket' ? 'websocket' : 'http',
    ...(protocol === 'grpc' ? { [TraceAttr.rpcSystem]: 'grpc' } : {}),
    ...(reqId !== undefined ? { [TraceAttr.requestId]: reqId } : {}),
  }));
  return scope.span.isRecording() ? scope : undefined;
}
