// Configuration of the operator API: a zod schema read from SWITCHYARD_* variables by
// @switchyard/config, then resolved (REGIONS defaults to [REGION]) into one frozen ApiConfig.

import {
  clientTlsFields,
  listenerLimitsFields,
  loadConfig,
  metricsFields,
  refineTlsPairs,
  TLS_REFINE_WHEN,
} from '@switchyard/config';
import {
  NATS_REFINE_WHEN,
  type NatsConnectionConfig,
  natsConnectionFields,
  natsReplicasFields,
  refineNatsConnection,
} from '@switchyard/nats-connect';
import { DefaultPorts } from '@switchyard/protocol';
import { z } from 'zod';

/** Shortest admin token accepted: a guessable token would open every route. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;
/** Default session bucket TTL (session idle TTL) when this API creates its region's bucket, ms. */
export const DEFAULT_API_SESSION_TTL_MS = 60_000;

const token = /^[A-Za-z0-9_-]+$/;

/** Schema of the API's environment (`SWITCHYARD_<FIELD>`); see docs via formatConfigTable. */
export const ApiConfigSchema = z
  .object({
    region: z
      .string()
      .regex(token, 'must be a NATS token (letters, digits, _ or -)')
      .default('local')
      .describe('Region this API serves; its session bucket is created when missing'),
    host: z.string().min(1).default('127.0.0.1').describe('Address the HTTP listener binds'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DefaultPorts.api)
      .describe('HTTP listener port (0 = any free port)'),
    natsServers: z.array(z.string().min(1)).min(1).describe('NATS server URLs, comma-separated (required)'),
    ...natsConnectionFields,
    ...natsReplicasFields,
    adminToken: z
      .string()
      .min(MIN_ADMIN_TOKEN_LENGTH, `must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters`)
      .describe('Bearer token every route except GET /healthz requires (required)'),
    regions: z
      .array(z.string().regex(token, 'must be a NATS token (letters, digits, _ or -)'))
      .min(1)
      .optional()
      .describe('Regions whose session buckets GET/DELETE /v1/sessions can read, comma-separated (default: [region])'),
    sessionTtlMs: z
      .number()
      .int()
      .min(100)
      .default(DEFAULT_API_SESSION_TTL_MS)
      .describe('TTL of the session bucket when this API creates it, ms'),
    ...metricsFields,
    ...clientTlsFields,
    // The listener bounds that apply to an HTTP/1.1 listener (issue 11 item 2); the HTTP/2 ones do not.
    firstByteTimeoutMs: listenerLimitsFields.firstByteTimeoutMs,
    headersTimeoutMs: listenerLimitsFields.headersTimeoutMs,
    maxConnections: listenerLimitsFields.maxConnections,
    maxHeaderListBytes: listenerLimitsFields.maxHeaderListBytes,
    requestTimeoutMs: z
      .number()
      .int()
      .min(1_000)
      .default(30_000)
      .describe(
        'API: longest time to receive a whole request, headers and body (ms); then 408 and the connection is closed. At least headersTimeoutMs.',
      ),
    bodyLimitBytes: z
      .number()
      .int()
      .min(1_024)
      .default(64 * 1024)
      .describe('API: largest request body (bytes); a larger one is answered 413 (problem+json).'),
  })
  .superRefine(refineNatsConnection, NATS_REFINE_WHEN)
  .superRefine((c, ctx) => refineTlsPairs(c, ctx, [['tlsCertFile', 'tlsKeyFile']]), TLS_REFINE_WHEN)
  .superRefine((c, ctx) => {
    // node's http.Server rejects a requestTimeout shorter than its headersTimeout. Runs with other
    // fields invalid too (every problem at once), so both are checked for numbers.
    if (typeof c.requestTimeoutMs !== 'number' || typeof c.headersTimeoutMs !== 'number') return;
    if (c.requestTimeoutMs < c.headersTimeoutMs)
      ctx.addIssue({
        code: 'custom',
        path: ['requestTimeoutMs'],
        message: `must be at least headersTimeoutMs (${c.headersTimeoutMs})`,
      });
  }, TLS_REFINE_WHEN);

/** Resolved, frozen configuration of the API; the NATS connection fields are those of @switchyard/nats-connect. */
export interface ApiConfig extends NatsConnectionConfig {
  /** Region this API serves. */
  readonly region: string;
  /** Address the HTTP listener binds. */
  readonly host: string;
  /** HTTP listener port (0 = any free port). */
  readonly port: number;
  /** Bearer token of every route except GET /healthz (at least 16 characters). */
  readonly adminToken: string;
  /** Regions whose session buckets can be read; always contains `region`. */
  readonly regions: readonly string[];
  /** TTL of the session bucket when this API creates it, ms. */
  readonly sessionTtlMs: number;
  /** Replicas of the control and session buckets it creates (SWITCHYARD_NATS_REPLICAS: 1, 3 or 5). */
  readonly natsReplicas: number;
  /** Serve the metrics port (/metrics, /healthz, /readyz). */
  readonly metricsEnabled: boolean;
  /** Address the metrics port binds. */
  readonly metricsHost: string;
  /** Metrics port (0 = ephemeral). */
  readonly metricsPort: number;
  /** PEM certificate chain of the listener (SWITCHYARD_TLS_CERT_FILE): with tlsKeyFile the API speaks https only. */
  readonly tlsCertFile: string | undefined;
  /** PEM private key of tlsCertFile (SWITCHYARD_TLS_KEY_FILE). */
  readonly tlsKeyFile: string | undefined;
  /** Bounds of the HTTP listener (issue 11 item 2); see {@link ApiListenerLimits}. */
  readonly limits: ApiListenerLimits;
}

/** Bounds of the API's HTTP/1.1 listener (issue 11 item 2); units in the names. */
export interface ApiListenerLimits {
  /** A connection idle this long (ms; silent from the start, or between requests) is closed. */
  readonly firstByteTimeoutMs: number;
  /** Request headers not complete within this (ms) after the request began: 408, closed. */
  readonly headersTimeoutMs: number;
  /** Whole request (headers and body) not received within this (ms): 408, closed. */
  readonly requestTimeoutMs: number;
  /** Open connections; one more is closed at once. */
  readonly maxConnections: number;
  /** Largest request header block (bytes); larger: 431. */
  readonly maxHeaderListBytes: number;
  /** Largest request body (bytes); larger: 413. */
  readonly bodyLimitBytes: number;
}

/**
 * Loads the API configuration from `env` (default process.env) and `overrides` (field names).
 * @throws ConfigError (from @switchyard/config) listing every problem.
 */
export function loadApiConfig(
  options: { env?: Record<string, string | undefined>; overrides?: Record<string, unknown> } = {},
): ApiConfig {
  const raw = loadConfig(ApiConfigSchema, { service: 'api', env: options.env, overrides: options.overrides });
  const regions = [...new Set([raw.region, ...(raw.regions ?? [])])];
  return Object.freeze({
    region: raw.region,
    host: raw.host,
    port: raw.port,
    natsServers: Object.freeze([...raw.natsServers]),
    natsCreds: raw.natsCreds,
    natsUser: raw.natsUser,
    natsPassword: raw.natsPassword,
    natsNkeySeed: raw.natsNkeySeed,
    natsTlsCa: raw.natsTlsCa,
    natsTlsCert: raw.natsTlsCert,
    natsTlsKey: raw.natsTlsKey,
    natsInboxPrefix: raw.natsInboxPrefix,
    adminToken: raw.adminToken,
    regions: Object.freeze(regions),
    sessionTtlMs: raw.sessionTtlMs,
    natsReplicas: raw.natsReplicas,
    metricsEnabled: raw.metricsEnabled,
    metricsHost: raw.metricsHost,
    metricsPort: raw.metricsPort,
    tlsCertFile: raw.tlsCertFile,
    tlsKeyFile: raw.tlsKeyFile,
    limits: Object.freeze({
      firstByteTimeoutMs: raw.firstByteTimeoutMs,
      headersTimeoutMs: raw.headersTimeoutMs,
      requestTimeoutMs: raw.requestTimeoutMs,
      maxConnections: raw.maxConnections,
      maxHeaderListBytes: raw.maxHeaderListBytes,
      bodyLimitBytes: raw.bodyLimitBytes,
    }),
  });
}
