// gRPC proxy configuration (SWITCHYARD_* environment, CLI overrides), validated at start.
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

/** Schema of the proxy's configuration; `loadConfig(ProxyConfigSchema, ...)` resolves it. */
export const ProxyConfigSchema = z
  .object({
    region: z.string().regex(TOKEN).default('local').describe('Region of this proxy (ticket stream, session bucket).'),
    proxyId: z
      .string()
      .regex(TOKEN)
      .max(128)
      .default(() => `proxy-${randomUUID()}`)
      .describe('Identity of this proxy instance (tickets, attach subject). Default: proxy-<uuid>.'),
    host: z.string().default('0.0.0.0').describe('Interface of the client listener.'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DefaultPorts.grpcProxy)
      .describe('Client listener port (gRPC h2c, HTTP/1.1).'),
    callbackHost: z.string().default('0.0.0.0').describe('Interface of the worker callback listener (W1).'),
    callbackPort: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DefaultPorts.grpcProxyCallback)
      .describe('Worker callback listener port (CONNECT /v1/proxy).'),
    callbackUri: z
      .string()
      .url()
      .optional()
      .describe(
        'Callback URI advertised to workers in tickets. Default: http://127.0.0.1:<callbackPort> (https:// with SWITCHYARD_CALLBACK_TLS_CERT_FILE).',
      ),
    natsServers: z.array(z.string().min(1)).min(1).describe('NATS servers of the region (comma-separated URLs).'),
    ...natsConnectionFields,
    ...natsReplicasFields,
    ...listenerLimitsFields,
    ...processesFields,
    maxConnectionsPerKey: z
      .number()
      .int()
      .min(0)
      .default(256)
      .describe(
        'Open client HTTP/2 connections per API key on this proxy; a call on one more gets RESOURCE_EXHAUSTED (SY_KEY_CONNECTIONS_EXCEEDED) until one closes. 0 = unlimited.',
      ),
    maxSessionsPerKey: z
      .number()
      .int()
      .min(0)
      .default(1_024)
      .describe(
        'Sessions one API key may hold open on this proxy (allocations under way included); a call or WebSocket that would start one more gets RESOURCE_EXHAUSTED / 429 (SY_KEY_SESSIONS_EXCEEDED) until one ends. Resumes are never refused. 0 = unlimited.',
      ),
    maxWebSocketsPerKey: z
      .number()
      .int()
      .min(0)
      .default(256)
      .describe(
        'Open client WebSockets per API key on this proxy (upgrades being bound included); one more upgrade gets 429 problem+json (SY_KEY_WEBSOCKETS_EXCEEDED) with Retry-After until one closes. 0 = unlimited.',
      ),
    tunnelMux: z
      .boolean()
      .default(true)
      .describe(
        "Relay gRPC calls over framed tunnels (issue 12, on by default): to a worker that announced feature `mux` (its own SWITCHYARD_TUNNEL_MUX on), calls travel as frames on a few HTTP/2 streams of the worker's tunnel (SWITCHYARD_TUNNEL_MUX_STREAMS) instead of a stream each; to a worker that did not, one stream per call as before. Off: one HTTP/2 stream per call.",
      ),
    tunnelMuxStreams: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(DEFAULT_TUNNEL_MUX_STREAMS)
      .describe(
        "With SWITCHYARD_TUNNEL_MUX: mux streams (HTTP/2 streams of a worker's tunnel) the tunnel's calls spread over, at most; another is opened when every open one has calls. Each carries at most one tunnel stream window (SWITCHYARD_HTTP2_STREAM_WINDOW_BYTES here, 1 MiB on the worker) per round trip for its calls together, so a tunnel with a long round trip and bulky streams wants more; memory stays bounded by each call's own 1 MiB window.",
      ),
    redisUrl: z.string().url().optional().describe('Redis for rate limits (redis://host:port). Unset: no rate limit.'),
    rateLimitPerMinute: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('New sessions per API key per minute (token bucket in Redis); 0 = unlimited.'),
    attachTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe('Wait for a worker to take a new session (G10, S4).'),
    websocketHandshakeTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(30_000)
      .describe(
        'Longest wait for the container to answer a WebSocket upgrade once a worker took it (G12); then 504 SY_REQUEST_TIMEOUT and the tunnel stream is cancelled.',
      ),
    reconnectTimeoutMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe('Wait for a worker to answer a resume (flow 3).'),
    noRespondersGraceMs: z
      .number()
      .int()
      .min(0)
      .default(2_000)
      .describe(
        'How long a resume keeps asking a worker nobody subscribes for (NATS "no responders") before the worker counts as gone (G8 NOT_FOUND): a worker whose NATS server just died has no subscription until it has reconnected to another one.',
      ),
    idleTimeoutMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe('Idle client connections are closed with GOAWAY after this (G11); 0 = never.'),
    maxQueuePerVersion: z
      .number()
      .int()
      .min(1)
      .default(1_000)
      .describe('New sessions of one function version this instance may have waiting for a worker (S4).'),
    sessionTtlMs: z
      .number()
      .int()
      .min(1_000)
      .default(60_000)
      .describe('TTL of the session bucket when this proxy creates it.'),
    ...metricsFields,
    advertiseAddresses: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'Public IPs clients reach the client listener at, published in heartbeats; geodns answers grpc.<domain> with them (D1). Empty: geodns uses its static addresses.',
      ),
    heartbeatIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe('Time between two region-health heartbeats of this proxy; geodns drops it after 2 missed (D2).'),
    remoteRegions: z
      .array(z.string().regex(TOKEN))
      .default([])
      .describe(
        "Other regions of the supercluster whose session buckets a resume missing locally is looked up in, in parallel (G15). Empty: this region's sessions only.",
      ),
    remoteLookupTimeoutMs: z
      .number()
      .int()
      .min(10)
      .default(1_000)
      .describe(
        'Budget of the parallel lookup in the remote regions (G15); a region that does not answer in time makes a miss UNAVAILABLE, not NOT_FOUND.',
      ),
    ...controlFreshnessFields,
    ...clientTlsFields,
    ...callbackTlsFields,
  })
  .superRefine(refineNatsConnection, NATS_REFINE_WHEN)
  .superRefine(
    (c, ctx) =>
      refineTlsPairs(c, ctx, [
        ['tlsCertFile', 'tlsKeyFile'],
        ['callbackTlsCertFile', 'callbackTlsKeyFile'],
      ]),
    TLS_REFINE_WHEN,
  );

/** Resolved, frozen proxy configuration. */
export type ProxyConfig = z.infer<typeof ProxyConfigSchema>;
