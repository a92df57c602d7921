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
export type { Telemetry, TelemetryOptions } from './telemetry.ts';
export { startTelemetry, TelemetryError, TelemetryErrorCode } from './telemetry.ts';
