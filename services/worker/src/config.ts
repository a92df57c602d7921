// Worker configuration (SWITCHYARD_* environment, CLI flags as overrides), validated at start.

import { randomUUID } from 'node:crypto';
import { callbackTlsCaFields, metricsFields } from '@switchyard/config';
import {
  NATS_REFINE_WHEN,
  natsConnectionFields,
  natsReplicasFields,
  refineNatsConnection,
} from '@switchyard/nats-connect';
import { z } from 'zod';

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Schema of the worker's configuration; `loadConfig(WorkerConfigSchema, ...)` resolves it. */
export const WorkerConfigSchema = z
  .object({
    region: z
      .string()
      .regex(TOKEN)
      .default('local')
      .describe('Region this worker runs in (its ticket stream and session bucket).'),
    workerId: z
      .string()
      .regex(TOKEN)
      .max(128)
      .default(() => `worker-${randomUUID()}`)
      .describe('Worker identity (X-Worker-ID, session records). Default: worker-<uuid>.'),
    functionId: z.string().uuid().describe('Function this worker serves.'),
    versionId: z.string().uuid().describe("Function version this worker serves; it takes only this version's tickets."),
    upstream: z
      .string()
      .regex(/^(grpc|http):\/\/[^/]+$/, 'must be grpc://HOST:PORT or http://HOST:PORT')
      .describe('Function container: grpc://HOST:PORT (gRPC over h2c) or http://HOST:PORT.'),
    websocketUpstream: z
      .string()
      .regex(/^(ws|http):\/\/[^/]+$/, 'must be ws://HOST:PORT or http://HOST:PORT')
      .optional()
      .describe(
        'Where WebSocket clients of the gRPC proxy are relayed (G12): an HTTP/1.1 Upgrade to ws://HOST:PORT. Default: the host and port of upstream.',
      ),
    concurrency: z.number().int().min(1).max(100_000).default(8).describe('Sessions this worker holds at once (W2).'),
    natsServers: z.array(z.string().min(1)).min(1).describe('NATS servers of the region (comma-separated URLs).'),
    ...natsConnectionFields,
    ...natsReplicasFields,
    ...callbackTlsCaFields,
    callbackAllowList: z
      .array(z.string().min(1))
      .default(['http://127.0.0.1:', 'http://localhost:', 'http://[::1]:'])
      .describe("URI prefixes a ticket's callback URI must start with to be dialled (W4)."),
    reconnectWindowMs: z
      .number()
      .int()
      .min(0)
      .default(30_000)
      .describe("How long a session outlives its last client connection (S1, W3); a function's own setting wins."),
    sessionTtlMs: z
      .number()
      .int()
      .min(1_000)
      .default(60_000)
      .describe('TTL of the session bucket; records are refreshed every TTL/3 (S2).'),
    ticketPullExpiresMs: z.number().int().min(1_000).default(5_000).describe('Long-poll time of one ticket pull.'),
    ...metricsFields,
    tunnelMux: z
      .boolean()
      .default(true)
      .describe(
        'Serve framed tunnels (issue 12, on by default): announce features `mux` and `http-mux` on each tunnel and take the gRPC calls and HTTP requests a front end frames on a few HTTP/2 streams of it (a front end uses them only with its own SWITCHYARD_TUNNEL_MUX on). Off: the front ends open one HTTP/2 stream of the tunnel per call, as a worker of an older release needs.',
      ),
    heartbeatIntervalMs: z
      .number()
      .int()
      .min(100)
      .default(5_000)
      .describe('Time between two region-health heartbeats (version and free capacity) of this worker (D2).'),
  })
  .superRefine(refineNatsConnection, NATS_REFINE_WHEN);

/** Resolved, frozen worker configuration. */
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;
