// Span helpers shared by the front ends and the worker: continue a W3C `traceparent` from request
// headers, start child spans only under a recording parent (nothing is allocated for a dropped trace
// but what the sampler itself makes), carry the context on outgoing headers, and end spans with their
// gRPC or HTTP status (OpenTelemetry semantic conventions).

import type http2 from 'node:http2';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { injectMinted, mayCarryTraceContext, rootDecision } from './root-sampling.ts';
import { SpanNames, TraceAttr } from './trace-names.ts';

export { type Attributes, type Context, context, ROOT_CONTEXT, type Span, SpanKind, type Tracer, trace };

/** A started span and the context that has it as the active span. */
export interface SpanScope {
  /** The span (a non-recording one when the sampler dropped the trace). */
  span: Span;
  /** `parent` with `span` active: run the rest of the call in it (`context.with`) or inject it. */
  ctx: Context;
}

/**
 * The tracer of one instrumentation scope (a package name such as `@switchyard/grpc-proxy`), from the
 * process-wide provider (a no-op one until telemetry starts).
 */
export function tracerFor(scope: string): Tracer {
  return trace.getTracer(scope);
}

/**
 * The trace context carried by request `headers` (`traceparent`, `tracestate`, `baggage`; lower-case
 * names as Node gives them), over `base`. Without those headers it is `base` (returned without calling
 * the propagator when it is the default one: most clients send none).
 */
export function contextFromHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  base: Context = ROOT_CONTEXT,
): Context {
  return mayCarryTraceContext(headers) ? propagation.extract(base, headers) : base;
}

/**
 * A W3C trace-context `traceparent` of version 00 as the propagator accepts it, with nothing around it:
 * lower-case hex, trace ID and parent ID not all zeros (https://www.w3.org/TR/trace-context/#traceparent-header).
 */
const CANONICAL_TRACEPARENT = /^00-(?!0{32})[\da-f]{32}-(?!0{16})[\da-f]{16}-[\da-f]{2}$/;

/** Whether the configured sampler follows a remote parent's sampled flag (set by `startTelemetry`). */
let parentBasedSampler = true;

/**
 * Tells the span helpers whether the sampler `startTelemetry` configured is parent-based (the default
 * without an exporter, NodeSDK's default `parentbased_always_on`, or `OTEL_TRACES_SAMPLER=parentbased_*`):
 * then a child of a remote parent that is not sampled would not record. Called by `startTelemetry`.
 */
export function setParentBasedSampler(parentBased: boolean): void {
  parentBasedSampler = parentBased;
}

/**
 * The trace context of request `headers` to start a child span under (the propagator's extract), or
 * undefined when no child would record: there is no `traceparent`, or it names a remote parent that is
 * not sampled and the sampler is parent-based, so a child would cost IDs, a sampler call and a context
 * for nothing. The headers then travel on unchanged, and the next hop continues the same trace.
 */
export function remoteParentToFollow(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): Context | undefined {
  const traceparent = headers.traceparent;
  if (traceparent === undefined) return undefined;
  // Most calls carry a well-formed version-00 header whose flags say "not sampled" (the front end
  // samples 1%): read the flag off it without the propagator, which would build a span context and a
  // context only to be dropped. Anything else (sampled, another version, odd spacing, invalid) takes
  // the propagator's full path below.
  if (parentBasedSampler && typeof traceparent === 'string' && CANONICAL_TRACEPARENT.test(traceparent)) {
    if ((Number.parseInt(traceparent.slice(53), 16) & TraceFlags.SAMPLED) === 0) return undefined;
  }
  const ctx = propagation.extract(ROOT_CONTEXT, headers);
  const parent = trace.getSpanContext(ctx);
  if (parentBasedSampler && parent !== undefined && (parent.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  return ctx;
}

/**
 * Writes the propagation headers of `ctx` (`traceparent`, and `tracestate` when set) into `headers`,
 * replacing what the client sent. Nothing is written when `ctx` has no valid span context (telemetry
 * not started): client headers then pass through unchanged.
 * @returns `headers`.
 */
export function injectTraceHeaders<T extends Record<string, unknown>>(ctx: Context, headers: T): T {
  if (!injectMinted(ctx, headers)) propagation.inject(ctx, headers);
  return headers;
}

/**
 * Starts a span whose parent may be remote (a client's `traceparent`, a ticket's headers): the sampler
 * decides (parent-based: a sampled parent stays sampled). Without any parent span, a new trace is rolled
 * by the root fast path where `startTelemetry` turned it on (root-sampling.ts: the non-recording span of
 * a dropped trace is minted without the SDK). `attributes` is called only when the span records.
 */
export function startSpan(
  tracer: Tracer,
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes?: () => Attributes,
): SpanScope {
  const root = rootDecision(parent);
  if (root !== undefined && 'span' in root) return { span: root.span, ctx: trace.setSpan(parent, root.span) };
  const span = tracer.startSpan(name, { kind }, root?.sampled ?? parent);
  if (attributes !== undefined && span.isRecording()) span.setAttributes(attributes());
  return { span, ctx: trace.setSpan(parent, span) };
}

/**
 * Starts a child of the local span active in `parent`, or returns undefined (and allocates nothing)
 * when there is none or it does not record (the trace was not sampled). `attributes` is called only
 * for a started span.
 */
export function startChildSpan(
  tracer: Tracer,
  name: string,
  kind: SpanKind,
  attributes?: () => Attributes,
  parent: Context = context.active(),
): Span | undefined {
  const parentSpan = trace.getSpan(parent);
  if (parentSpan === undefined || !parentSpan.isRecording()) return undefined;
  const span = tracer.startSpan(name, { kind }, parent);
  if (attributes !== undefined) span.setAttributes(attributes());
  return span;
}

/**
 * Starts the CLIENT span `switchyard.tunnel.call` of request `reqId` relayed over `workerId`'s tunnel,
 * when the call's span in `parent` records (else undefined). Its context is the worker's `traceparent`.
 */
export function startTunnelSpan(
  tracer: Tracer,
  reqId: string,
  workerId: string,
  parent: Context = context.active(),
): Span | undefined {
  return startChildSpan(
    tracer,
    SpanNames.tunnelCall,
    SpanKind.CLIENT,
    () => ({ [TraceAttr.requestId]: reqId, [TraceAttr.workerId]: workerId }),
    parent,
  );
}

/** gRPC codes a server span reports as an error (semconv): UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/**
 * Ends `span` with gRPC status `grpcStatus` (`rpc.grpc.status_code`): an error for a client span when
 * not OK, for a server span for the codes in {@link GRPC_SERVER_ERRORS}. Undefined (no status was
 * sent: the stream was reset) is an error `cancelled`.
 */
export function endGrpcSpan(span: Span, grpcStatus: string | number | undefined, server: boolean): void {
  if (span.isRecording()) {
    if (grpcStatus === undefined) {
      span.setAttribute(TraceAttr.errorType, 'cancelled');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'stream reset before a gRPC status' });
    } else {
      const code = Number(grpcStatus);
      span.setAttribute(TraceAttr.rpcGrpcStatusCode, code);
      if (server ? GRPC_SERVER_ERRORS.has(code) : code !== 0) {
        span.setAttribute(TraceAttr.errorType, String(code));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
  }
  span.end();
}

/**
 * Ends `span` with HTTP status `status` (`http.response.status_code`): an error at 5xx for a server
 * span, at 4xx and 5xx for a client span. Undefined (no response) is an error `cancelled`.
 */
export function endHttpSpan(span: Span, status: number | undefined, server: boolean): void {
  if (span.isRecording()) {
    if (status === undefined || !(status > 0)) {
      span.setAttribute(TraceAttr.errorType, 'cancelled');
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'no response' });
    } else {
      span.setAttribute(TraceAttr.httpResponseStatusCode, status);
      if (status >= (server ? 500 : 400)) {
        span.setAttribute(TraceAttr.errorType, String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
    }
  }
  span.end();
}

/**
 * Ends `span` with what `stream` sent (`grpc-status` from its trailers or trailers-only headers for
 * gRPC, else its `:status`); call it once the stream closed.
 */
export function endStreamSpan(
  span: Span,
  stream: http2.ServerHttp2Stream | http2.ClientHttp2Stream,
  grpc: boolean,
  server: boolean,
): void {
  const sent = stream as { sentHeaders?: http2.OutgoingHttpHeaders; sentTrailers?: http2.OutgoingHttpHeaders };
  if (grpc)
    endGrpcSpan(span, (sent.sentTrailers?.['grpc-status'] ?? sent.sentHeaders?.['grpc-status']) as string, server);
  else endHttpSpan(span, Number(sent.sentHeaders?.[':status'] ?? 0), server);
}

/**
 * Ends the CLIENT span of a relayed stream (the proxy's tunnel call, the worker's container call) with
 * how the relay ended: the relay's own error (`error.type` = its code), else the gRPC status, else
 * the HTTP status.
 */
export function endRelaySpan(span: Span, result: { grpcStatus?: string; httpStatus?: number; error?: string }): void {
  if (result.error !== undefined) {
    recordSpanError(span, { code: result.error, message: result.error });
    span.end();
  } else if (result.grpcStatus !== undefined) endGrpcSpan(span, result.grpcStatus, false);
  else endHttpSpan(span, result.httpStatus, false);
}

/** WebSocket close codes a SERVER span reports as an error: abnormal closure (1006) and server-side failures (1011-1015). */
const WS_SERVER_ERRORS: ReadonlySet<number> = new Set([1006, 1011, 1012, 1013, 1014, 1015]);
/** WebSocket close codes no span reports as an error: normal closure, going away, no status code. */
const WS_CLEAN: ReadonlySet<number> = new Set([1000, 1001, 1005]);

/**
 * Ends the span of a switched WebSocket with how it closed: `switchyard.websocket.close.code` (1006
 * when `closeCode` is undefined: no close frame) and `switchyard.websocket.closed_by`. An error for a
 * server span at 1006 and 1011-1015, for a client span at any code but 1000, 1001, 1005 and the
 * application range (3000-4999); a relay `error` (its code) is an error whatever the close code.
 */
export function endWebSocketSpan(
  span: Span,
  result: { closeCode?: number; closedBy?: string; error?: string },
  server: boolean,
): void {
  if (span.isRecording()) {
    const code = result.closeCode ?? 1006;
    span.setAttribute(TraceAttr.webSocketCloseCode, code);
    if (result.closedBy !== undefined) span.setAttribute(TraceAttr.webSocketClosedBy, result.closedBy);
    if (result.error !== undefined) recordSpanError(span, { code: result.error, message: result.error });
    else if (server ? WS_SERVER_ERRORS.has(code) : !WS_CLEAN.has(code) && code < 3000) {
      span.setAttribute(TraceAttr.errorType, String(code));
      span.setStatus({ code: SpanStatusCode.ERROR, message: `WebSocket closed with ${code}` });
    }
  }
  span.end();
}

/** Marks `span` failed with `err` (exception event, status ERROR, `error.type` = its code or name). */
export function recordSpanError(span: Span | undefined, err: unknown): void {
  if (span === undefined || !span.isRecording()) return;
  const e = err as { code?: unknown; name?: string; message?: string };
  span.recordException(err instanceof Error ? err : String(err));
  span.setAttribute(TraceAttr.errorType, typeof e?.code === 'string' ? e.code : (e?.name ?? 'Error'));
  span.setStatus({ code: SpanStatusCode.ERROR, message: e?.message });
}

/**
 * `rpc.service` and `rpc.method` of a gRPC `:path` (`/pkg.Service/Method`), or undefined for a path
 * of another shape.
 */
export function grpcMethodOf(path: string | undefined): { service: string; method: string } | undefined {
  if (path === undefined || path.charCodeAt(0) !== 47) return undefined;
  const slash = path.indexOf('/', 1);
  if (slash < 2 || slash === path.length - 1) return undefined;
  return { service: path.slice(1, slash), method: path.slice(slash + 1) };
}
