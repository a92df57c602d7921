// @switchyard/telemetry: OpenTelemetry bootstrap (Prometheus metrics, NodeSDK tracing), the pino
// logger every service uses, and the one spelling of metric and attribute names.

export type { LoggerOptions } from './logger.ts';
export { createLogger, DEFAULT_REDACT_PATHS, REDACTED } from './logger.ts';
export type { AttrKey, MetricName, MetricSpec } from './names.ts';
export { Attr, CALL_DURATION_BUCKETS_MS, CONSTANT_LABEL_ATTRS, MetricNames, MetricSpecs } from './names.ts';
export type { DependencyMetricsRecorder, TunnelMetricsRecorder, WorkerMetricsRecorder } from './recorders.ts';
export {
  CONTAINER_ERROR_KINDS,
  createDependencyRecorder,
  createTunnelRecorder,
  createWorkerRecorder,
  DEPENDENCY_ERROR_KINDS,
} from './recorders.ts';
export type { Telemetry, TelemetryOptions } from './telemetry.ts';
export { startTelemetry, TelemetryError, TelemetryErrorCode } from './telemetry.ts';
