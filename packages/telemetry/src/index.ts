// @switchyard/telemetry: OpenTelemetry bootstrap (Prometheus metrics, NodeSDK tracing), the pino
// logger every service uses, and the one spelling of metric and attribute names.

export type { FrontEndMetricsOptions, KnownVersion, VersionCatalogue } from './front-end-metrics.ts';
export { FrontEndMetrics, grpcOutcome, httpOutcome, UNKNOWN_LABEL } from './front-end-metrics.ts';
export type { LoggerOptions } from './logger.ts';
export { createLogger, DEFAULT_REDACT_PATHS, REDACTED } from './logger.ts';
export type { AttrKey, MetricName, MetricSpec } from './names.ts';
export {
  AbsorbResult,
  AllocationResult,
  Attr,
  CALL_DURATION_BUCKETS_SECONDS,
  ClientProtocol,
  CONSTANT_LABEL_ATTRS,
  ContainerProtocol,
  GRPC_OUTCOMES_INITIALISED,
  HTTP_OUTCOMES,
  MetricNames,
  MetricSpecs,
  PollResult,
  REJECTION_BY_ERROR_CODE,
  RejectionReason,
  ResumeResult,
  ResumeSource,
  WAIT_DURATION_BUCKETS_SECONDS,
} from './names.ts';
export type { DependencyMetricsRecorder, TunnelMetricsRecorder, WorkerMetricsRecorder } from './recorders.ts';
export {
  CONTAINER_ERROR_KINDS,
  createDependencyRecorder,
  createTunnelRecorder,
  createWorkerRecorder,
  DEPENDENCY_ERROR_KINDS,
} from './recorders.ts';
export type { ReadinessBody, ReadinessFailure, ReadinessReason, Telemetry, TelemetryOptions } from './telemetry.ts';
export { EVENT_LOOP_DELAY_RESOLUTION_MS, startTelemetry, TelemetryError, TelemetryErrorCode } from './telemetry.ts';
export type { SpanName } from './trace-names.ts';
export { SPAN_DOCS, SpanNames, TRACE_ENV_VARS, TraceAttr } from './trace-names.ts';
export type { SpanScope } from './tracing.ts';
export {
  type Attributes,
  type Context,
  context,
  contextFromHeaders,
  endGrpcSpan,
  endHttpSpan,
  endRelaySpan,
  endStreamSpan,
  endWebSocketSpan,
  grpcMethodOf,
  injectTraceHeaders,
  ROOT_CONTEXT,
  recordSpanError,
  remoteParentToFollow,
  type Span,
  SpanKind,
  startChildSpan,
  startSpan,
  startTunnelSpan,
  type Tracer,
  trace,
  tracerFor,
} from './tracing.ts';
