// Invocation service configuration (SWITCHYARD_* environment, CLI overrides), validated at start.
import { randomUUID } from 'node:crypto';
import {
  callbackTlsFields,
  clientTlsFields,
  listenerLimitsFields,
  metricsFields,
  processesFields,
  refineTlsPairs,
  TLS_REFINE_WHEN,
} from '@switchyard/config';
import { controlFreshnessFields } from '@switchyard/control-store';
import {
  NATS_REFINE_WHEN,
  natsConnectionFields,
  natsReplicasFields,
  refineNatsConnection,
} from '@switchyard/nats-connect';
import { DefaultPorts } from '@switchyard/protocol';
import { DEFAULT_TUNNEL_MUX_STREAMS } from '@switchyard/tunnel';
import { z } from 'zod';

const TOKEN = /^[A-Za-z0-9_-]+$/;
const port = () => z.number().int().min(0).max(65535);

/** Schema of the invocation service's configuration; `loadConfig(InvocationConfigSchema, ...)` resolves it. */
export const InvocationConfigSchema = z
  .object({
    region: z
      .string()
      .regex(TOKEN)
      .default('local')
      .describe('Region of this instance (ticket stream, nvcf-invocation-region).'),
    instanceId: z
      .string()
      .regex(TOKEN)
      .max(128)
      .default(() => `invocation-${randomUUID()}`)
      .describe('Identity of this instance in tickets and its attach subject. Default: invocation-<uuid>.'),
    host: z.string().default('0.0.0.0').describe('Interface of the client listener.'),
    port: port()
      .default(DefaultPorts.invocation)
      .describe('Client listener port: HTTP/1.1 and h2c on one port (TLS with both when configured).'),
    callbackHost: z.string().default('0.0.0.0').describe('Interface of the worker callback listener (W1).'),
    callbackPort: port()
      .default(DefaultPorts.invocationCallback)
      .describe('Worker callback listener port (CONNECT /v1/proxy).'),
    callbackUri: z
      .string()
      .url()
      .optional()
      .describe(
        'Callback URI advertised to workers in tickets. Default: http://127.0.0.1:<callbackPort> (https:// with SWITCHYARD_CALLBACK_TLS_CERT_FILE).',
      ),
    ...clientTlsFields,
    ...callbackTlsFields,
    natsServers: z.array(z.string().min(1)).min(1).describe('NATS servers of the region (comma-separated URLs).'),
    ...natsConnectionFields,
    ...natsReplicasFields,
    ...listenerLimitsFields,
    ...processesFields,
    redisUrl: z
      .string()
      .url()
      .describe('Redis of the region (redis://host:port): 202 results (H9) and rate limits (H10).'),
    rateLimitPerKeyPerMinute: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Requests per API key per minute (token bucket in Redis, burst = rate); 0 = unlimited.'),
    rateLimitPerFunctionPerMinute: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Requests per function per minute, all keys together (token bucket in Redis); 0 = unlimited.'),
    warmPath: z
      .boolean()
      .default(true)
      .describe(
        'Offer a request straight to a worker of its version that already has a tunnel here (admitted with ' +
          'a 100 when it has a free unit, else refused and sent as a ticket): no NATS message per request. ' +
          'false = every request takes a ticket.',
      ),
    tunnelMux: z
      .boolean()
      .default(true)
      .describe(
        "Relay HTTP requests over framed tunnels (issue 12, on by default): to a worker that announced feature `http-mux` (its own SWITCHYARD_TUNNEL_MUX on), requests (ticketed and warm offers) travel as frames on a few HTTP/2 streams of the worker's tunnel (SWITCHYARD_TUNNEL_MUX_STREAMS) instead of a stream each; to a worker that did not, one stream per request as before. Off: one HTTP/2 stream per request.",
      ),
    tunnelMuxStreams: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(DEFAULT_TUNNEL_MUX_STREAMS)
      .describe(
        "With SWITCHYARD_TUNNEL_MUX: mux streams (HTTP/2 streams of a worker's tunnel) the tunnel's requests spread over, at most; another is opened when every open one has requests. Each carries at most one tunnel stream window (1 MiB) per round trip for its requests together, so a tunnel with a long round trip and bulky bodies wants more; memory stays bounded by each request's own 1 MiB window.",
      ),
    maxConcurrentRequestsPerKey: z
      .number()
      .int()
      .min(0)
      .default(1_000)
      .describe(
        'Invocations of one API key in flight on this instance at once (from authorization until the response ends or the 202 is sent); one more is answered 429 problem+json (SY_KEY_REQUESTS_EXCEEDED) with Retry-After. Status polls are not counted. 0 = unlimited.',
      ),
    maxQueuePerVersion: z
      .number()
      .int()
      .min(1)
      .default(1_000)
      .describe('Requests of one function version this instance may have waiting for a worker; beyond it 429.'),
    defaultPollSeconds: z
      .number()
      .int()
      .min(1)
      .max(3_600)
      .default(60)
      .describe('Poll window (s) when the request sends no NVCF-POLL-SECONDS (H8).'),
    ssePollSeconds: z
      .number()
      .int()
      .min(1)
      .max(3_600)
      .default(1_200)
      .describe('Poll window (s) for Accept: text/event-stream requests without NVCF-POLL-SECONDS (H8).'),
    maxPollSeconds: z
      .number()
      .int()
      .min(1)
      .max(3_600)
      .default(3_600)
      .describe('Largest NVCF-POLL-SECONDS accepted (s); a larger value is a 400 (H8).'),
    idleTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe(
        'A client connection with no request in flight is closed after this (ms; HTTP/2 GOAWAY, HTTP/1.1 keep-alive). Never cuts a request in flight (H7); 0 = never.',
      ),
    requestTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Longest a request may take from arrival to the end of its response (ms), SSE included (H6); then 504 or a reset. 0 = no limit: a call ends when the container ends it or the client goes away.',
      ),
    resultTtlMs: z
      .number()
      .int()
      .min(1_000)
      .default(3_600_000)
      .describe('How long a 202 result waits in Redis to be fetched (ms, H9).'),
    maxResultBytes: z
      .number()
      .int()
      .min(1_024)
      .default(64 * 1024 * 1024)
      .describe(
        'Largest response body kept for a 202 poll (bytes, H9); a larger one is cancelled at the container and its poll answers 500 SY_RESULT_TOO_LARGE.',
      ),
    resultChunkBytes: z
      .number()
      .int()
      .min(1_024)
      .default(256 * 1024)
      .describe('Size of the Redis list entries a 202 result body is stored in (bytes).'),
    resultOwnerLeaseMs: z
      .number()
      .int()
      .min(1_000)
      .default(15_000)
      .describe(
        'Lease of the instance storing a 202 result (ms), renewed every third of it: when it lapses (the instance died) the poll answers 500 SY_RESULT_LOST instead of pending.',
      ),
    resultWriteRetryMs: z
      .number()
      .int()
      .min(0)
      .default(15_000)
      .describe(
        'How long each write of a 202 result is retried while Redis is unavailable (ms); then the result counts as lost (500 SY_RESULT_LOST).',
      ),
    resultClaimLeaseMs: z
      .number()
      .int()
      .min(1_000)
      .default(30_000)
      .describe(
        'How long a status poll holds a ready 202 result without reading on (ms, renewed as it reads); then another poll may take it.',
      ),
    resultRestartGraceMs: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe(
        'After Redis restarted empty, a status poll that misses is answered 503 (not 404) this long (ms), while instances put back the results they still store.',
      ),
    remoteRegions: z
      .array(z.string().regex(TOKEN))
      .default([])
      .describe(
        "Other regions of the supercluster asked, in parallel over core NATS, for a 202 result a status poll misses locally (H9: polls work from any region). Empty: this region's results only.",
      ),
    remoteLookupTimeoutMs: z
      .number()
      .int()
      .min(10)
      .default(1_000)
      .describe(
        'Budget of each request to a remote region for a 202 result (ms: the lookup, and each body slice); a region that does not answer in time makes a miss 503, not 404.',
      ),
    ...controlFreshnessFields,
    tokenTtlMs: z
      .number()
      .int()
      .min(1_000)
      .default(30_000)
      .describe(
        'How long a single-use tunnel token may open a tunnel with CONNECT (ms, W1); a ticket that waits longer gets a fresh token when a worker claims it.',
      ),
    drainTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(10_000)
      .describe('On SIGTERM, how long requests in flight may finish before connections are destroyed (ms).'),
    ...metricsFields,
    heartbeatIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe(
        'Time between two region-health heartbeats of this instance (requests in flight, last-minute call summary); views drop it after 2 missed (D2).',
      ),
  })
  .superRefine(refineNatsConnection, NATS_REFINE_WHEN)
  .superRefine((c, ctx) => {
    // A lease or retry as long as the result's life would let a dead owner's result say pending until it expires.
    // Runs with other fields invalid too (every problem at once), so each value is checked for a number.
    if (typeof c.resultTtlMs !== 'number') return;
    for (const field of ['resultOwnerLeaseMs', 'resultWriteRetryMs', 'resultClaimLeaseMs'] as const)
      if (typeof c[field] === 'number' && c[field] >= c.resultTtlMs)
        ctx.addIssue({ code: 'custom', path: [field], message: `must be less than resultTtlMs (${c.resultTtlMs})` });
  }, TLS_REFINE_WHEN)
  .superRefine(
    (c, ctx) =>
      refineTlsPairs(c, ctx, [
        ['tlsCertFile', 'tlsKeyFile'],
        ['callbackTlsCertFile', 'callbackTlsKeyFile'],
      ]),
    TLS_REFINE_WHEN,
  );

/** Resolved, frozen invocation service configuration. */
export type InvocationConfig = z.infer<typeof InvocationConfigSchema>;
