// The regional gRPC proxy (G1-G15, S1-S4), assembled from its parts: client calls over HTTP/2
// (client-calls), HTTP/1.1 answers (client-http1), WebSockets (client-websocket) and G13 absorb
// requests (client-absorb) on the client listener; sessions held here (session-table), allocated
// (session-allocate) and resumed (session-resume); the worker link and its tunnel listener.

import type { NatsConnection } from '@nats-io/nats-core';
import { readTlsPair } from '@switchyard/config';
import { type ControlStore, OpenCalls } from '@switchyard/control-store';
import { KeyConcurrency } from '@switchyard/rate-limit';
import type { RegionHealthView } from '@switchyard/region-health';
import type { SessionDirectory } from '@switchyard/session-directory';
import { FrontEndMetrics } from '@switchyard/telemetry';
import type { TicketQueue } from '@switchyard/ticket-queue';
import { DEFAULT_TOKEN_TTL_MS, TunnelListener, type TunnelRecorder } from '@switchyard/tunnel';
import { FrontEndLink } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { AbsorbHandler } from './client-absorb.ts';
import { type CallEnd, ClientCalls } from './client-calls.ts';
import { Http1Responder } from './client-http1.ts';
import { ClientListener } from './client-listener.ts';
import { WebSocketGateway } from './client-websocket.ts';
import type { ProxyConfig } from './config.ts';
import { KeyConnections } from './key-connections.ts';
import { KeySessions } from './key-sessions.ts';
import type { RateLimiter } from './rate-limit.ts';
import { SessionAllocator } from './session-allocate.ts';
import { SessionLookup } from './session-lookup.ts';
import { SessionResumer } from './session-resume.ts';
import { SessionTable } from './session-table.ts';
import { SpillRouter } from './spill-over.ts';

/** What {@link GrpcProxy} needs from outside; tests pass real instances. */
export interface GrpcProxyDeps {
  /** The NATS connection of the worker link and spill-over; `close()` leaves it open. */
  nc: NatsConnection;
  /** Keys, functions and versions: authenticates callers (G1, G2). */
  control: ControlStore;
  /** This region's session bucket, read on resume (G7). */
  directory: SessionDirectory;
  /** This region's ticket stream (flow 1). */
  queue: TicketQueue;
  /** Structured log; carries no API key. */
  logger: Logger;
  /** The key's rate limit (G2). @default none (unlimited) */
  rateLimiter?: RateLimiter;
  /**
   * The other regions' session buckets (`openRemoteDirectories`), looked up in parallel when a resume
   * misses locally (G15). @default [] (this region's sessions only)
   */
  remoteDirectories?: SessionDirectory[];
  /** Region heartbeats: free capacity per version for `spill-over` functions. @default none (nothing spills) */
  health?: RegionHealthView;
  /**
   * The front-end series (calls, sessions, allocations, rejections, connections, absorbs), built on the
   * instance's meter with the control store as version catalogue. @default no-op metrics
   */
  metrics?: FrontEndMetrics;
  /** Told when each client HTTP/2 call ends (the heartbeat's last-minute call summary). @default none */
  onCallEnd?: (call: CallEnd) => void;
  /** Tunnel metrics of the callback listener (opened, closed, CONNECT results, token ages). @default none */
  tunnelRecorder?: TunnelRecorder;
}

/** The proxy. `listen()` opens both listeners; `close()` drains. */
export class GrpcProxy {
  /** The configuration it was built with. */
  readonly config: ProxyConfig;
  /** The callback listener workers dial (W1), and the registry of their tunnels. */
  readonly tunnels: TunnelListener;
  /** Everything asked of workers and heard from them (tickets, resume, detach, evict, session-ended). */
  readonly #link: FrontEndLink;
  readonly #sessions: SessionTable;
  readonly #calls: ClientCalls;
  readonly #webSockets: WebSocketGateway;
  /** Calls and WebSockets in progress by API key: ended when their key is revoked (issue 8). */
  readonly #openCalls: OpenCalls;
  readonly #clients: ClientListener;

  constructor(config: ProxyConfig, deps: GrpcProxyDeps) {
    this.config = config;
    const { control, logger } = deps;
    const metrics = deps.metrics ?? FrontEndMetrics.noop('grpc-proxy');
    this.tunnels = new TunnelListener({
      host: config.callbackHost,
      port: config.callbackPort,
      tls: readTlsPair(config.callbackTlsCertFile, config.callbackTlsKeyFile),
      // W1: a token opens a tunnel for 30 s; a ticket that waits longer gets a fresh one when claimed.
      tokenTtlMs: DEFAULT_TOKEN_TTL_MS,
      limits: config,
      recorder: deps.tunnelRecorder,
    });
    this.tunnels.on('tunnel-closed', (t) =>
      logger.info({ workerId: t.workerId, reason: t.closeReason }, 'tunnel closed'),
    );
    const link = new FrontEndLink({
      nc: deps.nc,
      instanceId: config.proxyId,
      tunnels: this.tunnels,
      queue: deps.queue,
      maxQueuePerVersion: config.maxQueuePerVersion,
      reconnectTimeoutMs: config.reconnectTimeoutMs,
      noRespondersGraceMs: config.noRespondersGraceMs,
      onAllocationEnd: (_functionId, versionId, outcome, waitMs) => metrics.allocationEnded(versionId, outcome, waitMs),
    });
    metrics.observeQueued((versionId) => link.queued(versionId));
    this.#link = link;
    const sessions = new SessionTable(link);
    this.#sessions = sessions;
    const spill = new SpillRouter({
      nc: deps.nc,
      region: config.region,
      local: deps.queue,
      health: deps.health,
      logger,
    });
    const allocator = new SessionAllocator({
      config,
      link,
      sessions,
      spill,
      rateLimiter: deps.rateLimiter,
      keySessions: new KeySessions(config.maxSessionsPerKey, sessions),
      metrics,
    });
    const lookup = new SessionLookup(deps.directory, deps.remoteDirectories, config.remoteLookupTimeoutMs);
    const resumer = new SessionResumer({ link, sessions, lookup, control, metrics });
    const absorb = new AbsorbHandler({ control, logger, allocator, resumer, metrics });
    const tunnels = this.tunnels;
    const openCalls = new OpenCalls(control);
    this.#openCalls = openCalls;
    const keyConnections = new KeyConnections(config.maxConnectionsPerKey);
    const calls = new ClientCalls({
      control,
      logger,
      tunnels,
      link,
      sessions,
      allocator,
      resumer,
      absorb,
      openCalls,
      keyConnections,
      metrics,
      onCallEnd: deps.onCallEnd,
      tunnelMux: config.tunnelMux,
      tunnelMuxStreams: config.tunnelMuxStreams,
    });
    this.#calls = calls;
    const http1 = new Http1Responder({ control, logger, resumer, absorb });
    const webSockets = new WebSocketGateway({
      control,
      logger,
      link,
      sessions,
      allocator,
      resumer,
      openCalls,
      handshakeTimeoutMs: config.websocketHandshakeTimeoutMs,
      metrics,
      keyWebSockets: new KeyConcurrency(config.maxWebSocketsPerKey),
    });
    this.#webSockets = webSockets;
    this.#clients = new ClientListener({
      host: config.host,
      port: config.port,
      idleTimeoutMs: config.idleTimeoutMs,
      tls: readTlsPair(config.tlsCertFile, config.tlsKeyFile),
      limits: config,
      onStream: (stream, headers, _flags, rawHeaders) => calls.onStream(stream, headers, rawHeaders),
      onHttp1Request: (req, res) => http1.handle(req, res),
      onUpgrade: (req, socket, head) => webSockets.handle(req, socket, head),
      onSessionClose: (conn) => sessions.onConnectionClose(conn),
      onConnection: (protocol) => metrics.connectionOpened(protocol),
    });
  }

  /** Sessions this instance holds client connections for. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Open client HTTP/2 connections. */
  get connectionCount(): number {
    return this.#clients.connectionCount;
  }

  /**
   * Opens the callback listener, subscribes to attach and session-ended subjects, then opens the
   * client listener. Resolves with the bound ports. @throws listen errors (EADDRINUSE...).
   */
  async listen(): Promise<{ port: number; callbackPort: number }> {
    const callbackPort = await this.tunnels.listen();
    const sessions = this.#sessions;
    await this.#link.serve({
      callbackUri:
        this.config.callbackUri ?? `${this.config.callbackTlsCertFile ? 'https' : 'http'}://127.0.0.1:${callbackPort}`,
      onSessionEnded: (reqId) => sessions.onSessionEnded(reqId),
    });
    const port = await this.#clients.listen();
    return { port, callbackPort };
  }

  /** GOAWAY to clients, tunnels closed, subscriptions dropped. Does not close the NATS connection. */
  async close(): Promise<void> {
    this.#openCalls.close();
    this.#calls.close();
    this.#link.close();
    this.#webSockets.close();
    await this.#clients.close();
    await this.tunnels.close();
  }
}
