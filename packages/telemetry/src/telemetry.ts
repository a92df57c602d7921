// OpenTelemetry bootstrap for one service instance: a MeterProvider read by a Prometheus exporter
// (optionally serving /metrics), and NodeSDK for the tracer provider, context and propagation.

import { context, type Meter, metrics, propagation, type Tracer, trace } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeSDK, type NodeSDKConfiguration, resources } from '@opentelemetry/sdk-node';
import { Attr } from './names.ts';

/** Options for {@link startTelemetry}. */
export interface TelemetryOptions {
  /** Service name (`service.name`), also the meter and tracer name. */
  service: string;
  /** Region this instance serves (`switchyard.region`, a constant label on every metric). */
  region: string;
  /** Unique instance ID (`service.instance.id`, a constant label on every metric). */
  instanceId: string;
  /**
   * TCP port of the Prometheus endpoint (`GET /metrics`); 0 serves none (metrics are still recorded).
   * @default 0
   */
  metricsPort?: number;
  /**
   * Address the Prometheus endpoint binds.
   * @default undefined (all interfaces)
   */
  metricsHost?: string;
}

/** A started telemetry pipeline, as returned by {@link startTelemetry}. */
export interface Telemetry {
  /** Meter of this instance (its own MeterProvider, so several instances in one process stay apart). */
  meter: Meter;
  /** Tracer named after the service, from the process-wide tracer provider. */
  tracer: Tracer;
  /** Port the Prometheus endpoint listens on, or undefined when `metricsPort` was 0. */
  metricsPort: number | undefined;
  /** Stops the Prometheus endpoint and flushes/stops the providers. Safe to call twice. */
  shutdown(): Promise<void>;
}

/** Stable codes of {@link TelemetryError}. */
export const TelemetryErrorCode = {
  invalidOptions: 'TELEMETRY_INVALID_OPTIONS',
  metricsListen: 'TELEMETRY_METRICS_LISTEN',
} as const;
export type TelemetryErrorCode = (typeof TelemetryErrorCode)[keyof typeof TelemetryErrorCode];

/** Error thrown by {@link startTelemetry}; compare `code`, never the message. */
export class TelemetryError extends Error {
  /** One of {@link TelemetryErrorCode}. */
  readonly code: TelemetryErrorCode;

  /**
   * @param code stable code.
   * @param message explanation.
   * @param options `ErrorOptions` (`cause`).
   */
  constructor(code: TelemetryErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TelemetryError';
    this.code = code;
  }
}

/** Resource attributes copied onto every Prometheus series, so series from regions and replicas stay apart. */
const CONSTANT_LABELS = /^(service\.name|service\.instance\.id|switchyard\.region)$/;

/** The instance that registered the process-wide (global) providers, if any. */
let globalOwner: object | undefined;

type SpanProcessor = NonNullable<NodeSDKConfiguration['spanProcessors']>[number];

/**
 * Keeps spans recording (real trace IDs for logs and propagation) without exporting them; used unless
 * OTEL_TRACES_EXPORTER asks for an exporter.
 */
const dropSpans: SpanProcessor = {
  onStart() {},
  onEnd() {},
  forceFlush: async () => {},
  shutdown: async () => {},
};

/**
 * Starts metrics and tracing for one service instance. Metrics go to a MeterProvider of this instance
 * read by a Prometheus exporter (serving `GET /metrics` on `metricsPort` when non-zero). The first instance
 * in the process also starts NodeSDK (no auto-instrumentation), which registers the global tracer provider,
 * context manager and propagator; traces are exported only when `OTEL_TRACES_EXPORTER` is set.
 *
 * @param options service, region, instance ID, Prometheus port and host.
 * @returns the meter, tracer, bound metrics port and `shutdown()`.
 * @throws {TelemetryError} `TELEMETRY_INVALID_OPTIONS` for a bad port; `TELEMETRY_METRICS_LISTEN` when the
 *   Prometheus endpoint cannot listen (e.g. EADDRINUSE).
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const port = options.metricsPort ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TelemetryError(TelemetryErrorCode.invalidOptions, `metricsPort must be an integer 0..65535, got ${port}`);
  }
  const resource = resources.defaultResource().merge(
    resources.resourceFromAttributes({
      'service.name': options.service,
      'service.namespace': 'switchyard',
      'service.instance.id': options.instanceId,
      [Attr.region]: options.region,
    }),
  );
  const exporter = new PrometheusExporter({
    host: options.metricsHost,
    port: port === 0 ? undefined : port,
    preventServerStart: port === 0,
    withResourceConstantLabels: CONSTANT_LABELS,
  });
  const meterProvider = new MeterProvider({ resource, readers: [exporter] });
  if (port !== 0) {
    try {
      await exporter.startServer();
    } catch (err) {
      await meterProvider.shutdown().catch(() => {});
      throw new TelemetryError(
        TelemetryErrorCode.metricsListen,
        `cannot serve Prometheus metrics on ${options.metricsHost ?? '*'}:${port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  const token = {};
  let sdk: NodeSDK | undefined;
  if (globalOwner === undefined) {
    globalOwner = token;
    const tracesFromEnv = (process.env.OTEL_TRACES_EXPORTER ?? '').trim() !== '';
    const logsFromEnv = (process.env.OTEL_LOGS_EXPORTER ?? '').trim() !== '';
    sdk = new NodeSDK({
      serviceName: options.service,
      resource,
      autoDetectResources: false,
      instrumentations: [],
      spanProcessors: tracesFromEnv ? undefined : [dropSpans],
      logRecordProcessors: logsFromEnv ? undefined : [],
    });
    sdk.start();
    metrics.setGlobalMeterProvider(meterProvider);
  }

  let stopped: Promise<void> | undefined;
  return {
    meter: meterProvider.getMeter(options.service),
    tracer: trace.getTracer(options.service),
    metricsPort: port === 0 ? undefined : port,
    shutdown() {
      stopped ??= (async () => {
        const results = await Promise.allSettled([meterProvider.shutdown(), sdk?.shutdown()]);
        if (globalOwner === token) {
          // Let a later instance in this process (tests, in-process suites) register its own globals.
          metrics.disable();
          trace.disable();
          context.disable();
          propagation.disable();
          globalOwner = undefined;
        }
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      })();
      return stopped;
    },
  };
}
