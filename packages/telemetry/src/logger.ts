// Structured JSON logs (pino) to stderr for every service, with the active trace and span IDs attached
// and credentials (authorization headers, API keys, tokens) redacted wherever they appear.

import { isSpanContextValid, trace } from '@opentelemetry/api';
import { type DestinationStream, type Logger, pino } from 'pino';

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** Service name, written as `service` on every line. */
  service: string;
  /**
   * Region, written as `region` on every line when set.
   * @default undefined
   */
  region?: string;
  /**
   * Minimum level (`trace`, `debug`, `info`, `warn`, `error`, `fatal`, `silent`).
   * @default process.env.SWITCHYARD_LOG_LEVEL ?? 'info'
   */
  level?: string;
  /**
   * Extra redaction paths (pino syntax, e.g. `'body.secret'`), added to {@link DEFAULT_REDACT_PATHS}.
   * @default []
   */
  redact?: string[];
  /**
   * Where lines go.
   * @default stderr (fd 2), synchronous writes
   */
  destination?: DestinationStream;
}

const SECRET_KEYS = ['authorization', 'Authorization', 'apiKey', 'api_key', 'token', 'cookie', 'password', 'secret'];

/** Paths redacted in every log line: each secret key at the top level and up to three levels deep. */
export const DEFAULT_REDACT_PATHS: readonly string[] = Object.freeze(
  SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `*.*.*.${k}`]),
);

/** Replacement text of a redacted value. */
export const REDACTED = '[REDACTED]';

/**
 * Creates a pino logger writing one JSON object per line to stderr: ISO `time`, `level` as a label,
 * `service`, `region`, and `trace_id`/`span_id` (hex) of the active span, sampled or not. `authorization`, `apiKey`, `token`,
 * `cookie`, `password` and `secret` are replaced by `[REDACTED]` at any depth up to 4.
 *
 * @param options service, region, level, extra redaction paths, destination.
 * @returns a pino `Logger`; use `logger.child({ ... })` for per-request fields.
 * @throws Error from pino when `level` is not a known level.
 */
export function createLogger(options: LoggerOptions): Logger {
  const base: Record<string, string> = { service: options.service };
  if (options.region !== undefined) base.region = options.region;
  return pino(
    {
      level: options.level ?? process.env.SWITCHYARD_LOG_LEVEL ?? 'info',
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])], censor: REDACTED },
      mixin() {
        const span = trace.getActiveSpan();
        if (span === undefined) return {};
        const sc = span.spanContext();
        return isSpanContextValid(sc) ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
      },
    },
    options.destination ?? pino.destination({ dest: 2, sync: true }),
  );
}
