// Builds the operator API (fastify) without listening: admin auth, problem+json errors, strict
// JSON schemas, and the function, key and session routes. main.ts wires config and listens; tests
// call app.inject().

import type { NatsConnection } from '@nats-io/nats-core';
import type { TlsFilePair } from '@switchyard/config';
import type { ControlStore } from '@switchyard/control-store';
import type { SwitchyardError } from '@switchyard/protocol';
import type { RegionHealthView } from '@switchyard/region-health';
import type { SessionDirectory } from '@switchyard/session-directory';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { adminTokenCheck } from './admin-auth.ts';
import type { ApiListenerLimits } from './config.ts';
import { errorHandler, notFoundHandler, problemOf, sendProblem } from './errors.ts';
import { type NatsHealth, watchNatsHealth } from './nats-health.ts';
import { registerFunctionRoutes } from './routes-functions.ts';
import { registerKeyRoutes } from './routes-keys.ts';
import { DEFAULT_EVICT_TIMEOUT_MS, registerSessionRoutes } from './routes-sessions.ts';
import { registerStatusRoutes } from './routes-status.ts';
import { uiSessions } from './ui-session.ts';

/** Path of the unauthenticated health route. */
export const HEALTHZ_PATH = '/healthz';
/** Largest request body accepted by default, bytes (SWITCHYARD_BODY_LIMIT_BYTES). */
export const API_BODY_LIMIT_BYTES = 64 * 1024;

/** What {@link buildApp} needs; the caller owns (and closes) the connection and the stores. */
export interface ApiDeps {
  /** Bearer token of every route except GET /healthz. */
  adminToken: string;
  /** Region this API serves (shown by /healthz). */
  region: string;
  /** Connection used for evict requests and followed by /healthz. */
  nc: NatsConnection;
  /** Functions, versions and API keys. */
  controlStore: ControlStore;
  /** One session directory per configured region, own region first. */
  directories: readonly SessionDirectory[];
  /** Time a worker gets to answer an evict request, ms. @default 5_000 */
  evictTimeoutMs?: number;
  /** Logger (pino); @default none (silent). */
  logger?: FastifyBaseLogger;
  /** Certificate and key: the API listens with https only. @default cleartext http */
  tls?: TlsFilePair;
  /** Heartbeats of every region, for GET /v1/status and the /ui page. @default none (no region listed) */
  health?: RegionHealthView;
  /**
   * Bounds of the listener (issue 11 item 2). @default node's own timeouts, no connection cap, a
   * 64 KiB body limit
   */
  limits?: ApiListenerLimits;
}

/** node http.Server options that apply `limits` (timeouts checked every second, not every 30 s). */
function serverLimits(limits: ApiListenerLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    maxHeaderSize: limits.maxHeaderListBytes,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
}

/**
 * Builds the API. Routes: GET /healthz; POST/GET /v1/functions, GET/DELETE /v1/functions/:functionId,
 * POST /v1/functions/:functionId/versions, DELETE /v1/functions/:functionId/versions/:versionId;
 * POST/GET /v1/keys, DELETE /v1/keys/:keyId; GET /v1/sessions, GET/DELETE /v1/sessions/:reqId;
 * GET /v1/status and the live status page (GET /ui, POST /ui/login, POST /ui/logout; routes-status.ts).
 * Every error is application/problem+json with a catalogue `code`.
 * @returns a fastify instance, ready to `inject()` or `listen()`; `close()` stops its NATS health watch.
 */
export function buildApp(deps: ApiDeps): FastifyInstance {
  const limits = deps.limits;
  const server = limits ? serverLimits(limits) : {};
  const app = Fastify({
    ...(deps.logger !== undefined ? { loggerInstance: deps.logger } : { logger: false }),
    bodyLimit: limits?.bodyLimitBytes ?? API_BODY_LIMIT_BYTES,
    // A socket idle this long (silent from the start, or between requests) is destroyed.
    ...(limits ? { connectionTimeout: limits.firstByteTimeoutMs, requestTimeout: limits.requestTimeoutMs } : {}),
    ...(deps.tls ? { https: { ...server, cert: deps.tls.cert, key: deps.tls.key } } : { http: server }),
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: false, useDefaults: false } },
  }) as unknown as FastifyInstance;
  // Excess sockets are closed at once (no answer), as on the other listeners.
  if (limits) app.server.maxConnections = limits.maxConnections;
  const natsHealth: NatsHealth = watchNatsHealth(deps.nc);
  const checkAdmin = adminTokenCheck(deps.adminToken);
  const sessions = uiSessions(deps.adminToken, deps.tls !== undefined);

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' && req.routeOptions.url === HEALTHZ_PATH) return;
    const auth = req.routeOptions.config?.auth ?? 'admin';
    if (auth === 'none') return;
    if (auth === 'admin-or-ui' && req.headers.authorization === undefined && sessions.valid(req.headers.cookie)) return;
    try {
      checkAdmin(req.headers.authorization);
    } catch (err) {
      return sendProblem(reply.header('www-authenticate', 'Bearer'), problemOf(err as SwitchyardError));
    }
  });
  app.addHook('onClose', async () => natsHealth.stop());

  app.get(HEALTHZ_PATH, async (_req, reply) => {
    const nats = natsHealth.connected;
    return reply.code(nats ? 200 : 503).send({ ok: nats, nats, region: deps.region });
  });
  registerFunctionRoutes(app, deps.controlStore);
  registerKeyRoutes(app, deps.controlStore);
  registerSessionRoutes(app, {
    nc: deps.nc,
    directories: deps.directories,
    natsHealth,
    evictTimeoutMs: deps.evictTimeoutMs ?? DEFAULT_EVICT_TIMEOUT_MS,
  });
  registerStatusRoutes(app, { region: deps.region, health: deps.health, adminToken: deps.adminToken, sessions });
  return app;
}
