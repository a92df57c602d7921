// The worker's CLIENT span of a call relayed to the function container (`switchyard.container.call`),
// a child of the front end's span named by the tunnel stream's `traceparent`. Started only for a
// stream that carries one and kept only when the sampler records it; otherwise the front end's
// `traceparent` reaches the container unchanged (same trace ID, nothing allocated here). Under a
// parent-based sampler, a parent that says "not sampled" gets no child (remoteParentToFollow).

import type http2 from 'node:http2';
import {
  remoteParentToFollow,
  SpanKind,
  SpanNames,
  type SpanScope,
  startSpan,
  TraceAttr,
  tracerFor,
} from '@switchyard/telemetry';

const tracer = tracerFor('@switchyard/worker');

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
  const parent = remoteParentToFollow(headers);
  if (parent === undefined) return undefined;
  const scope = startSpan(tracer, SpanNames.containerCall, SpanKind.CLIENT, parent, () => ({
    [TraceAttr.httpRequestMethod]: headers[':method'] ?? 'GET',
    [TraceAttr.urlPath]: (headers[':path'] ?? '/').split('?')[0],
    [TraceAttr.networkProtocolName]: protocol === 'websocket' ? 'websocket' : 'http',
    ...(protocol === 'grpc' ? { [TraceAttr.rpcSystem]: 'grpc' } : {}),
    ...(reqId !== undefined ? { [TraceAttr.requestId]: reqId } : {}),
  }));
  return scope.span.isRecording() ? scope : undefined;
}
