// OpenTelemetry bootstrap for one service instance: a MeterProvider read by a Prometheus exporter
// (optionally served, with /healthz and /readyz, by our own small HTTP server), and NodeSDK for the
// tracer provider, context and propagation.

import { createServer, type Server } from 'node:http';
import { context, createNoopMeter, type Meter, metrics, propagation, type Tracer, trace } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeSDK, type NodeSDKConfiguration, resources, tracing } from '@opentelemetry/sdk-node';
import { AccumulatingMeter } from './accumulating-meter.ts';
import { Attr, CONSTANT_LABEL_ATTRS, MetricNames, MetricSpecs } from './names.ts';
import { RootRatioSampler, samplerRatioFromEnv, setRootSampling } from './root-sampling.ts';
import { setParentBasedSampler } from './tracing.ts';

/** Options for {@link startTelemetry}. */
export interface TelemetryOptions {
  /** Service name (`service.name`), also the meter and tracer name. */
  service: string;
  /** Region this instance serves (`switchyard.region`, a constant label on every metric). */
  region: string;
  /** Unique instance ID (`service.instance.id`, a constant label on every metric). */
  instanceId: string;
  /**
   * TCP port of the metrics endpoint (`GET /metrics`, `/healthz`, `/readyz`); 0 = an ephemeral port.
   * Undefined serves none, and nothing reads metrics then: `meter` is a no-op meter, so a measurement
   * costs a call to an empty function (`SWITCHYARD_METRICS_ENABLED=false`).
   * @default undefined
   */
  metricsPort?: number;
  /**
   * Address the metrics endpoint binds.
   * @default '127.0.0.1' (loopback: scraping from elsewhere is an explicit choice)
   */
  metricsHost?: string;
}

/** What a readiness check returns to fail with its own human message. */
export interface ReadinessFailure {
  /** Why the instance is not ready, e.g. `process 1 (pid 4242) is not answering /readyz`. */
  reason: string;
}

/** One failing readiness check in a `/readyz` body. */
export interface ReadinessReason {
  /** The check's name (`nats`, `listener`, `processes`, ...). */
  check: string;
  /** What is wrong, for a human. */
  message: string;
}

/**
 * JSON body of `GET /readyz` (200 or 503): `ready`, every check by name, and the failing ones with a
 * human message (`reasons`, empty when ready).
 */
export interface ReadinessBody {
  ready: boolean;
  checks: Record<string, boolean>;
  reasons: ReadinessReason[];
}

/** A started telemetry pipeline, as returned by {@link startTelemetry}. */
export interface Telemetry {
  /**
   * Meter of this instance (its own MeterProvider, so several instances in one process stay apart):
   * counters, up-down counters and histograms aggregate in place ({@link AccumulatingMeter}, no attribute
   * hashing per measurement: reuse attribute objects), gauges and observables are the SDK's; a no-op
   * meter when no metrics endpoint is served.
   */
  meter: Meter;
  /** Tracer named after the service, from the process-wide tracer provider. */
  tracer: Tracer;
  /** Port the metrics endpoint listens on, or undefined when none is served. */
  metricsPort: number | undefined;
  /** `http://HOST:PORT/metrics` of the endpoint, or undefined when none is served. */
  metricsUrl: string | undefined;
  /**
   * Adds a readiness check to `GET /readyz` (e.g. `nats` -> connected). `/readyz` answers 200 when every
   * check passes, else 503; the body is {@link ReadinessBody} either way. A check that throws fails
   * with the error's message. Adding a name twice replaces the earlier check.
   * @param name short dependency name shown in the body (`nats`, `kv`, `redis`, `listener`, `processes`).
   * @param check synchronous probe; must not block. `true` passes; `false` fails with `reason`; a
   *   {@link ReadinessFailure} fails with its own message (e.g. naming the process that is not ready).
   * @param reason the human message of a `false`. @default `<name>: check failed`
   */
  addReadinessCheck(name: string, check: () => boolean | ReadinessFailure, reason?: string): void;
  /**
   * Watches a dependency's client connection: a readiness check named `dependency` (failing with
   * `<dependency>: not connected`), and the
   * `switchyard.dependency.connected` / `.reconnects` series labelled `switchyard.dependency`.
   * @param dependency `nats` or `redis` (a bounded label value).
   * @param state live connection state (e.g. from `watchNatsConnection`).
   */
  watchDependency(dependency: 'nats' | 'redis', state: { connected(): boolean; reconnects(): number }): void;
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
const CONSTANT_LABELS = new RegExp(`^(${CONSTANT_LABEL_ATTRS.map((a) => a.replaceAll('.', '\\.')).join('|')})$`);

/**
 * Serves `GET /metrics` (the exporter's text exposition), `GET /healthz` (200 while the process runs)
 * and `GET /readyz` (200 or 503 from `ready()`), anything else 404.
 */
function metricsServer(exporter: PrometheusExporter, ready: () => ReadinessBody): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      exporter.getMetricsRequestHandler(req, res);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"alive":true}\n');
    } else if (path === '/readyz') {
      const body = ready();
      res.writeHead(body.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    } else {
      res.writeHead(404).end();
    }
  });
}

/**
 * Sampling interval of the event-loop delay histogram (`nodejs_eventloop_delay_*`), ms. The
 * instrumentation's default, 10 ms, wakes each process 100 times a second: measured 7.4 ms of CPU per
 * second per idle process (0.76 at 100 ms, 0.05 with no runtime instrumentation), which at 1,000 calls/s
 * is ~7 us per call in each of the front end and the worker. Any stall longer than this interval is
 * still measured whole (it delays the next sample); shorter ones are caught when they span a sample.
 */
export const EVENT_LOOP_DELAY_RESOLUTION_MS = 100;

/** The instance that registered the process-wide (global) providers, if any. */
let globalOwner: object | undefined;

type SpanProcessor = NonNullable<NodeSDKConfiguration['spanProcessors']>[number];

/**
 * Drops ended spans without exporting them; used unless OTEL_TRACES_EXPORTER asks for an exporter
 * (trace IDs still propagate and reach the logs).
 */
const dropSpans: SpanProcessor = {
  onStart() {},
  onEnd() {},
  forceFlush: async () => {},
  shutdown: async () => {},
};

/** Sampler while no trace exporter is configured: parent-based, new roots dropped. */
const NO_EXPORT_SAMPLER = new tracing.ParentBasedSampler({ root: new tracing.AlwaysOffSampler() });

/**
 * Starts metrics and tracing for one service instance. With `metricsPort` set, metrics go to a MeterProvider
 * of this instance read by a Prometheus exporter (serving `GET /metrics`, `/healthz`, `/readyz` on that
 * port); without it the meter is a no-op one (nothing would read them). The first instance
 * in the process also starts NodeSDK (no auto-instrumentation), which registers the global tracer provider,
 * context manager and W3C propagator; traces are exported only when `OTEL_TRACES_EXPORTER` is set
 * (OTLP endpoint, protocol and sampler from the standard `OTEL_*` variables, read by NodeSDK). NodeSDK
 * gets no metric reader (`OTEL_METRICS_EXPORTER` is ignored): the global meter provider is this
 * instance's Prometheus-read one.
 *
 * @param options service, region, instance ID, Prometheus port and host.
 * @returns the meter, tracer, bound metrics port and `shutdown()`.
 * @throws {TelemetryError} `TELEMETRY_INVALID_OPTIONS` for a bad port; `TELEMETRY_METRICS_LISTEN` when the
 *   Prometheus endpoint cannot listen (e.g. EADDRINUSE).
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const port = options.metricsPort;
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
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
  // Metrics exist only where something reads them: without a port (metrics disabled) there is no
  // provider and the meter is a no-op one, so the hot path's measurements cost nothing.
  // Counters and histograms aggregate in the AccumulatingMeter (no attribute hashing per measurement),
  // which the exporter reads as a MetricProducer beside the SDK's own (gauges, observables, runtime).
  let meterProvider: MeterProvider | undefined;
  const accumulating =
    port === undefined
      ? undefined
      : new AccumulatingMeter(options.service, () => (meterProvider as MeterProvider).getMeter(options.service));
  const exporter =
    accumulating === undefined
      ? undefined
      : new PrometheusExporter({
          preventServerStart: true,
          withResourceConstantLabels: CONSTANT_LABELS,
          metricProducers: [accumulating.producer],
        });
  if (exporter !== undefined) meterProvider = new MeterProvider({ resource, readers: [exporter] });
  const checks = new Map<string, { check: () => boolean | ReadinessFailure; reason: string }>();
  const ready = (): ReadinessBody => {
    const out: Record<string, boolean> = {};
    const reasons: ReadinessReason[] = [];
    for (const [name, { check, reason }] of checks) {
      let result: boolean | ReadinessFailure;
      try {
        result = check();
      } catch (err) {
        result = { reason: `${name}: check threw: ${(err as Error)?.message ?? String(err)}` };
      }
      out[name] = result === true;
      if (result !== true) reasons.push({ check: name, message: result === false ? reason : result.reason });
    }
    return { ready: reasons.length === 0, checks: out, reasons };
  };
  const host = options.metricsHost ?? '127.0.0.1';
  let server: Server | undefined;
  let boundPort: number | undefined;
  if (exporter !== undefined) {
    server = metricsServer(exporter, ready);
    const listening = server;
    try {
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        // exclusive: each node:cluster child serves its own metrics port (no effect outside a cluster).
        listening.listen({ port, host, exclusive: true }, () => {
          listening.off('error', reject);
          boundPort = (listening.address() as { port: number }).port;
          resolve();
        });
      });
    } catch (err) {
      await meterProvider?.shutdown().catch(() => {});
      throw new TelemetryError(
        TelemetryErrorCode.metricsListen,
        `cannot serve Prometheus metrics on ${host}:${port}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  const token = {};
  let sdk: NodeSDK | undefined;
  if (globalOwner === undefined) {
    globalOwner = token;
    const tracesFromEnv = (process.env.OTEL_TRACES_EXPORTER ?? '').trim() !== '';
    const samplerFromEnv = (process.env.OTEL_TRACES_SAMPLER ?? '').trim() !== '';
    const logsFromEnv = (process.env.OTEL_LOGS_EXPORTER ?? '').trim() !== '';
    // NO_EXPORT_SAMPLER and NodeSDK's default (parentbased_always_on) are parent-based; from the
    // environment, the parentbased_* samplers are.
    const samplerName = (process.env.OTEL_TRACES_SAMPLER ?? '').trim();
    setParentBasedSampler(!samplerFromEnv || /^parentbased_/.test(samplerName));
    // New traces at the front ends: decided here without the SDK's per-call work when not sampled
    // (root-sampling.ts) for the two samplers whose root decision is a plain ratio; otherwise the SDK's.
    const sdkDisabled = (process.env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true';
    const ratio = samplerName === 'parentbased_traceidratio' ? samplerRatioFromEnv() : undefined;
    const sampler =
      tracesFromEnv || samplerFromEnv
        ? ratio === undefined
          ? undefined
          : new tracing.ParentBasedSampler({ root: new RootRatioSampler(ratio) })
        : NO_EXPORT_SAMPLER;
    setRootSampling(sdkDisabled ? undefined : sampler === NO_EXPORT_SAMPLER ? 0 : ratio);
    sdk = new NodeSDK({
      serviceName: options.service,
      resource,
      autoDetectResources: false,
      instrumentations: [],
      spanProcessors: tracesFromEnv ? undefined : [dropSpans],
      // No exporter: new traces are not sampled (nothing records on the hot path), a sampled parent
      // still is, so its sampled flag reaches the next hop. Otherwise OTEL_TRACES_SAMPLER, or the
      // SDK's default parentbased_always_on.
      sampler,
      logRecordProcessors: logsFromEnv ? undefined : [],
      // Metrics are this instance's MeterProvider, read by Prometheus. Without an explicit (empty) list
      // NodeSDK reads OTEL_METRICS_EXPORTER (default otlp) and starts a second MeterProvider exporting
      // to OTEL_EXPORTER_OTLP_ENDPOINT every OTEL_METRIC_EXPORT_INTERVAL, registered as the global one.
      metricReaders: [],
    });
    sdk.start();
    if (meterProvider !== undefined) metrics.setGlobalMeterProvider(meterProvider);
  }

  const meter: Meter = accumulating ?? createNoopMeter();
  const specOf = (name: keyof typeof MetricSpecs) => ({
    description: MetricSpecs[name].description,
    unit: MetricSpecs[name].unit,
  });
  const dependencies = new Map<string, { connected(): boolean; reconnects(): number }>();
  meter
    .createObservableGauge(MetricNames.ready, specOf(MetricNames.ready))
    .addCallback((r) => r.observe(ready().ready ? 1 : 0));
  meter
    .createObservableGauge(MetricNames.dependencyConnected, specOf(MetricNames.dependencyConnected))
    .addCallback((r) => {
      for (const [dep, state] of dependencies) r.observe(state.connected() ? 1 : 0, { [Attr.dependency]: dep });
    });
  meter
    .createObservableCounter(MetricNames.dependencyReconnects, specOf(MetricNames.dependencyReconnects))
    .addCallback((r) => {
      for (const [dep, state] of dependencies) r.observe(state.reconnects(), { [Attr.dependency]: dep });
    });

  // Node runtime series (event-loop delay and utilisation, heap, GC) from the well-kept instrumentation,
  // on this instance's provider, only when an endpoint serves them.
  let runtime: RuntimeNodeInstrumentation | undefined;
  if (meterProvider !== undefined) {
    runtime = new RuntimeNodeInstrumentation({ enabled: false, monitoringPrecision: EVENT_LOOP_DELAY_RESOLUTION_MS });
    runtime.setMeterProvider(meterProvider);
    runtime.enable();
  }

  let stopped: Promise<void> | undefined;
  return {
    meter,
    tracer: trace.getTracer(options.service),
    metricsPort: boundPort,
    metricsUrl:
      boundPort === undefined ? undefined : `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}/metrics`,
    addReadinessCheck(name, check, reason) {
      checks.set(name, { check, reason: reason ?? `${name}: check failed` });
    },
    watchDependency(dependency, state) {
      dependencies.set(dependency, state);
      checks.set(dependency, { check: () => state.connected(), reason: `${dependency}: not connected` });
    },
    shutdown() {
      stopped ??= (async () => {
        runtime?.disable();
        const closing = server
          ? new Promise<void>((resolve) => {
              server?.close(() => resolve());
              server?.closeAllConnections();
            })
          : undefined;
        const results = await Promise.allSettled([meterProvider?.shutdown(), sdk?.shutdown(), closing]);
        if (globalOwner === token) {
          // Let a later instance in this process (tests, in-process suites) register its own globals.
          metrics.disable();
          trace.disable();
          context.disable();
          propagation.disable();
          setRootSampling(undefined);
          globalOwner = undefined;
        }
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed !== undefined) throw failed.reason;
      })();
      return stopped;
    },
  };
}
