// Sessions (S3): list and inspect records of the configured regions' session directories, and
// evict a session by asking its worker (@switchyard/worker-link's requestEvict). A directory that
// cannot answer is 503, never 404: "not found" is only said when every region said so.

import type { NatsConnection } from '@nats-io/nats-core';
import { type SessionRecord, SwitchyardError } from '@switchyard/protocol';
import { findSession, type SessionDirectory } from '@switchyard/session-directory';
import { requestEvict } from '@switchyard/worker-link';
import type { FastifyInstance } from 'fastify';
import type { NatsHealth } from './nats-health.ts';
import { sessionParams, sessionsQuery } from './route-schemas.ts';

/** Default time a worker gets to answer an evict request, ms. */
export const DEFAULT_EVICT_TIMEOUT_MS = 5_000;

/** Answer of DELETE /v1/sessions/:reqId. */
export type EvictResult =
  | { evicted: true; reqId: string; workerId: string; region: string }
  | { evicted: false; reason: 'worker-gone'; reqId: string; workerId: string; region: string };

/** What the session routes need. */
export interface SessionRouteDeps {
  nc: NatsConnection;
  /** One directory per configured region; the first is this API's own region. */
  directories: readonly SessionDirectory[];
  natsHealth: NatsHealth;
  /** Time a worker gets to answer an evict request, ms. */
  evictTimeoutMs: number;
}

interface SessionsQuery {
  region?: string;
  workerId?: string;
  functionId?: string;
}

/** How long the evict request is retried while nobody subscribes to the worker's subject, in ms. */
const EVICT_NO_RESPONDERS_GRACE_MS = 2_000;

function requireNats(health: NatsHealth): void {
  if (!health.connected)
    throw new SwitchyardError('SY_DIRECTORY_UNAVAILABLE', { detail: 'NATS is unreachable from the API' });
}

/**
 * Asks the worker that holds `record` to end the session (S3).
 * @returns evicted: true on `{ok:true}`; evicted: false, reason 'worker-gone' when nothing has listened
 *   on the worker's subject for 2 s (its record is stale and the bucket TTL will remove it).
 * @throws SwitchyardError: the worker's own code when it answers `{ok:false}` with a catalogue code
 *   (e.g. SY_SESSION_NOT_FOUND), else SY_WORKER_UNAVAILABLE (no answer in time, bad reply, NATS down).
 */
export async function evictSession(
  nc: NatsConnection,
  record: SessionRecord,
  timeoutMs: number = DEFAULT_EVICT_TIMEOUT_MS,
): Promise<EvictResult> {
  const where = { reqId: record.reqId, workerId: record.workerId, region: record.region };
  // A worker whose NATS server just died has no subscription until it has reconnected elsewhere:
  // "no responders" is believed only after the grace (the session is not lost in a failover).
  const outcome = await requestEvict(nc, record, record.reqId, {
    timeoutMs,
    noRespondersGraceMs: EVICT_NO_RESPONDERS_GRACE_MS,
  });
  return outcome === 'evicted' ? { evicted: true, ...where } : { evicted: false, reason: 'worker-gone', ...where };
}

/** Registers the session routes on `app`. */
export function registerSessionRoutes(app: FastifyInstance, deps: SessionRouteDeps): void {
  const byRegion = new Map(deps.directories.map((d) => [d.region, d]));

  app.get<{ Querystring: SessionsQuery }>('/v1/sessions', { schema: { querystring: sessionsQuery } }, async (req) => {
    const { region, workerId, functionId } = req.query;
    let directories = [...deps.directories];
    if (region !== undefined) {
      const directory = byRegion.get(region);
      if (directory === undefined)
        throw new SwitchyardError('SY_REQUEST_INVALID', {
          detail: `region ${region} is not configured here (SWITCHYARD_REGIONS: ${[...byRegion.keys()].join(',')})`,
        });
      directories = [directory];
    }
    requireNats(deps.natsHealth);
    const lists = await Promise.all(directories.map((d) => d.list()));
    const sessions = lists
      .flat()
      .filter(
        (s) =>
          (workerId === undefined || s.workerId === workerId) &&
          (functionId === undefined || s.functionId === functionId),
      )
      .sort((a, b) => a.createdAtMs - b.createdAtMs);
    return { sessions };
  });

  app.get<{ Params: { reqId: string } }>('/v1/sessions/:reqId', { schema: { params: sessionParams } }, async (req) => {
    requireNats(deps.natsHealth);
    const entry = await findSession([...deps.directories], req.params.reqId);
    if (entry === null) throw new SwitchyardError('SY_SESSION_NOT_FOUND', { detail: `session ${req.params.reqId}` });
    return entry.record;
  });

  app.delete<{ Params: { reqId: string } }>(
    '/v1/sessions/:reqId',
    { schema: { params: sessionParams } },
    async (req, reply) => {
      requireNats(deps.natsHealth);
      const entry = await findSession([...deps.directories], req.params.reqId);
      if (entry === null) throw new SwitchyardError('SY_SESSION_NOT_FOUND', { detail: `session ${req.params.reqId}` });
      const result = await evictSession(deps.nc, entry.record, deps.evictTimeoutMs);
      req.log.info({ reqId: result.reqId, workerId: result.workerId, evicted: result.evicted }, 'session evict');
      return reply.code(result.evicted ? 200 : 202).send(result);
    },
  );
}
