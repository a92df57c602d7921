// The worker sidecar (W1-W4, S1-S3): takes tickets of its function version while it has free
// capacity, dials or reuses a tunnel to the proxy instance that asked, owns its sessions' records,
// and relays every stream of a tunnel to the function container. This file wires the parts:
//   ticket-pull      pulls tickets while a unit is free (W2), checks them (W4), hands them over
//   worker-capacity  the units: sessions + HTTP holds + reserved, warm-offer admission (W2, H8)
//   worker-sessions  session records, attach/detach, reconnect windows, refresh, end (S1-S3, W3)
//   http-holds       one-shot HTTP requests and warm offers (H2-H4, H8, H10)
//   tunnel-streams   every stream of a tunnel: control, HTTP, session calls, WebSockets (W1, G12)
//   call-end         ends in-flight calls of an ended session with a gRPC status (S3)

import type { NatsConnection } from '@nats-io/nats-core';
import { readTlsFile } from '@switchyard/config';
import type { SessionDirectory } from '@switchyard/session-directory';
import type { TicketQueue } from '@switchyard/ticket-queue';
import { serveWorkerLink, type WorkerLinkServer, WorkerTunnels } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.ts';
import type { WorkerRecorder } from './container-calls.ts';
import { ContainerClient } from './container-client.ts';
import { HttpHolds } from './http-holds.ts';
import { TicketPull } from './ticket-pull.ts';
import { TunnelStreams } from './tunnel-streams.ts';
import { WebSocketUpstream, webSocketTarget } from './websocket-upstream.ts';
import { WorkerCapacity } from './worker-capacity.ts';
import { WorkerSessions } from './worker-sessions.ts';

/** What {@link Worker} needs from outside; tests pass real instances. */
export interface WorkerDeps {
  /** This region's NATS connection (not closed by `stop()`). */
  nc: NatsConnection;
  /** This region's session directory (S1, S2). */
  directory: SessionDirectory;
  /** This region's ticket queue (W2). */
  queue: TicketQueue;
  /** The worker's logger. */
  logger: Logger;
  /** Reconnect window of this worker's function (ms), when the control store has one (S1). */
  functionReconnectWindowMs?: () => number | undefined;
  /** Container call results and reconnect-window expiries (metrics). @default none */
  recorder?: WorkerRecorder;
}

/** The worker. `start()` begins taking tickets; `stop()` ends every session and leaves. */
export class Worker {
  /** The resolved config this worker was built with. */
  readonly config: WorkerConfig;
  readonly #deps: WorkerDeps;
  readonly #capacity: WorkerCapacity;
  readonly #sessions: WorkerSessions;
  readonly #holds: HttpHolds;
  readonly #pull: TicketPull;
  /** One tunnel per front-end instance (W1). */
  readonly #tunnels: WorkerTunnels;
  readonly #streams: TunnelStreams;
  readonly #container: ContainerClient;
  #link: WorkerLinkServer | undefined;

  constructor(config: WorkerConfig, deps: WorkerDeps) {
    this.config = config;
    this.#deps = deps;
    const logger = deps.logger;
    this.#container = new ContainerClient(config.upstream.replace(/^grpc:/, 'http:'), deps.recorder);
    this.#tunnels = new WorkerTunnels({
      nc: deps.nc,
      workerId: config.workerId,
      versionId: config.versionId,
      callbackTlsCa: readTlsFile(config.callbackTlsCaFile),
      onStream: (stream, headers, proxyId) => this.#streams.dispatch(stream, headers, proxyId),
      onMuxCall: config.tunnelMux
        ? (call, headers, proxyId) => this.#streams.dispatchMuxCall(call, headers, proxyId)
        : undefined,
      onClosed: (proxyId, tunnel) => this.#sessions.tunnelClosed(proxyId, tunnel),
    });
    const capacity = new WorkerCapacity(config.concurrency);
    const tunnels = this.#tunnels;
    const { nc, directory, functionReconnectWindowMs, recorder } = deps;
    const sessions = new WorkerSessions({
      config,
      nc,
      directory,
      tunnels,
      capacity,
      logger,
      functionReconnectWindowMs,
      onWindowExpired: recorder && (() => recorder.reconnectWindowExpired()),
    });
    const holds = new HttpHolds({ config, tunnels, capacity, container: this.#container, logger, recorder });
    capacity.countHolders(sessions, holds);
    this.#capacity = capacity;
    this.#sessions = sessions;
    this.#holds = holds;
    this.#pull = new TicketPull({ config, queue: deps.queue, capacity, sessions, holds, logger });
    this.#streams = new TunnelStreams({
      sessions,
      holds,
      container: this.#container,
      webSocket: new WebSocketUpstream(webSocketTarget(config.upstream, config.websocketUpstream), recorder),
    });
  }

  /** Sessions held now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Free capacity units (W2). */
  get freeCapacity(): number {
    return this.#capacity.free;
  }

  /** Capacity units in use (sessions, HTTP holds, reservations): `concurrency - free`, within 0..concurrency. */
  get usedCapacity(): number {
    return Math.min(this.config.concurrency, Math.max(0, this.config.concurrency - this.#capacity.free));
  }

  /** Open tunnels (one per proxy instance). */
  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  /** Request IDs of the sessions held now. */
  sessionIds(): string[] {
    return this.#sessions.ids();
  }

  /** Subscribes to reconnect/evict requests, starts pulling tickets and refreshing records. */
  async start(): Promise<void> {
    this.#link = await serveWorkerLink(this.#deps.nc, this.config, {
      reconnect: (request) => this.#sessions.reconnect(request),
      evict: (reqId) => this.#sessions.evict(reqId),
    });
    this.#pull.start();
    this.#sessions.startRefreshing();
  }

  /**
   * Stops taking tickets, ends every session (records deleted, proxies told), closes tunnels (GOAWAY).
   * Does not close the NATS connection.
   */
  async stop(): Promise<void> {
    if (this.#capacity.closed) return;
    this.#capacity.close();
    this.#sessions.stopRefreshing();
    this.#link?.close();
    await this.#sessions.endAll('worker-exit');
    this.#tunnels.closeAll();
    this.#container.close();
    await this.#holds.close();
    await this.#pull.stopped();
  }
}
