// `--telemetry MODE` of the grpc and http modes (issue 9, "Figures for the note": CPU per call with and
// without metrics and tracing, same sitting). The mode sets the environment of the front end and the
// worker on the Switchyard path with the product's own switches, nothing bench-only:
//   none     no telemetry at all: SWITCHYARD_METRICS_ENABLED=false and OTEL_SDK_DISABLED=true (no tracer
//            provider, context manager or propagator: every span is the API's no-op one)
//   off      SWITCHYARD_METRICS_ENABLED=false (no metrics port, a no-op meter), no trace exporter or
//            sampler (new roots dropped; a client's traceparent is still continued)
//   metrics  metrics on (the default), no trace exporter or sampler
//   traces   metrics on, OTEL_TRACES_SAMPLER=parentbased_traceidratio at 0.01 (the measured configuration
//            of issues 9 and 12), OTLP/HTTP export to a sink in the bench process that answers 200
// Unset (`inherit`), the services see the bench's own environment (as before this option).

import { createServer } from 'node:http';

/** Values of `--telemetry`. */
export const TelemetryModes = ['none', 'off', 'metrics', 'traces'] as const;
/** One of {@link TelemetryModes}, or `inherit` (no variable set: the bench's environment decides). */
export type TelemetryMode = (typeof TelemetryModes)[number] | 'inherit';

/**
 * `raw` (the text of `--telemetry`) as a mode; `inherit` when absent.
 * @throws TypeError naming the allowed values.
 */
export function parseTelemetryMode(raw: string | undefined): TelemetryMode {
  if (raw === undefined) return 'inherit';
  if (!(TelemetryModes as readonly string[]).includes(raw))
    throw new TypeError(`--telemetry must be one of ${TelemetryModes.join(', ')}, got ${raw}`);
  return raw as TelemetryMode;
}

/** A running OTLP/HTTP sink: answers 200 to every export request and counts the trace exports. */
export interface OtlpSink {
  /** `http://127.0.0.1:<port>`, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  /** POST /v1/traces requests answered so far. */
  traceRequests(): number;
  close(): Promise<void>;
}

/** Starts an {@link OtlpSink} on an ephemeral loopback port. */
export async function startOtlpSink(): Promise<OtlpSink> {
  let traceRequests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      if (req.url?.startsWith('/v1/traces')) traceRequests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    traceRequests: () => traceRequests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** OTLP trace export to `sinkUrl` with the given sampler (the standard OTEL_* variables). */
export function tracesEnv(sinkUrl: string, sampler: string, samplerArg?: string): Record<string, string> {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: sampler,
    OTEL_TRACES_SAMPLER_ARG: samplerArg ?? '',
  };
}

/**
 * Environment of the front end and the worker in `mode` (merged over what they inherit; an empty
 * value reads as unset). `sinkUrl` is needed for `traces`.
 * @throws TypeError for `traces` without a sink.
 */
export function telemetryEnv(mode: TelemetryMode, sinkUrl?: string): Record<string, string> {
  if (mode === 'inherit') return {};
  const noTraces = {
    OTEL_SDK_DISABLED: '',
    OTEL_TRACES_EXPORTER: '',
    OTEL_TRACES_SAMPLER: '',
    OTEL_TRACES_SAMPLER_ARG: '',
  };
  if (mode === 'none') return { SWITCHYARD_METRICS_ENABLED: 'false', ...noTraces, OTEL_SDK_DISABLED: 'true' };
  if (mode === 'off') return { SWITCHYARD_METRICS_ENABLED: 'false', ...noTraces };
  if (mode === 'metrics') return { SWITCHYARD_METRICS_ENABLED: 'true', ...noTraces };
  if (sinkUrl === undefined) throw new TypeError('--telemetry traces needs an OTLP sink');
  return {
    SWITCHYARD_METRICS_ENABLED: 'true',
    OTEL_SDK_DISABLED: '',
    ...tracesEnv(sinkUrl, 'parentbased_traceidratio', '0.01'),
  };
}
