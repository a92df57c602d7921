// The HTTP invocation service (H1-H11), assembled: authenticates each request, publishes a one-shot
// ticket (kind 'http'), waits up to NVCF-POLL-SECONDS for a worker to attach over its tunnel (one tunnel
// per worker and instance, shared by every request), then relays the request and its answer as one
// HTTP/2 stream over that tunnel, or as one call framed on its mux (issue 12). A request still running
// at the end of its poll window is answered 202 and its result kept in Redis for
// `GET /v2/nvcf/pexec/status/{reqId}` on any replica, in any region.
//
// The parts, by file: request-invoke.ts (auth, rate limits, poll window, warm path vs ticket path),
// request-forward.ts (the relay over a tunnel stream, the 202 hand-off), tunnel-upstream.ts (a stream
// of its own or a mux call), request-status.ts (status polls), http-headers.ts and http-response.ts
// (what goes on the wire), request-context.ts (what they share). This file wires them, listens and
// drains.

import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import { readTlsPair } from '@switchyard/config';
import { type ControlStore, OpenCalls } from '@switchyard/control-store';
import { SwitchyardError } from '@switchyard/protocol';
import { KeyConcurrency, TokenBuckets } from '@switchyard/rate-limit';
import { RemoteResults } from '@switchyard/result-exchange';
import { FrontEndMetrics } from '@switchyard/telemetry';
import type { TicketQueue } from '@switchyard/ticket-queue';
import { TunnelListener, type TunnelRecorder } from '@switchyard/tunnel';
import { FrontEndLink, isControlPath } from '@switchyard/worker-link';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ClientListener } from './client-listener.ts';
import type { InvocationConfig } from './config.ts';
import { hostOf, type RawRequest, type RawResponse } from './http-headers.ts';
import { sendProblem } from './http-response.ts';
import { resolveTarget } from './invocation-route.ts';
import type { RequestContext } from './request-context.ts';
import { invoke } from './request-invoke.ts';
import { withRequestSpan } from './request-span.ts';
import { pollStatus } from './request-status.ts';
import { ResultStore } from './result-store.ts';
import { WarmTunnels } from './warm-tunnels.ts';

/** What {@link InvocationService} needs from outside; tests pass real instances. */
export interface InvocationDeps {
  /** NATS: tickets and attaches (worker-link), cross-region result lookups (result-exchange). */
  nc: NatsConnection;
  /** Functions, versions and API keys (H1, H10). */
  control: ControlStore;
  /** The region's ticket stream. */
  queue: TicketQueue;
  /** The region's Redis: 202 results (H9) and rate limits (H10). */
  redis: Redis;
  /** The service's logger. */
  logger: Logger;
  /**
   * The front-end series (calls, allocations, rejections, connections, 202s, status polls), built on the
   * instance's meter with the control store as version catalogue. @default no-op metrics
   */
  metrics?: FrontEndMetrics;
  /** Tunnel metrics of the callback listener (opened, closed, CONNECT results, token ages). @default none */
  tunnelRecorder?: TunnelRecorder;
  /** Told when each routed request's response closes (the heartbeat's call summary). @default none */
  onRequestEnd?: (end: RequestEnd) => void;
}

/** One ended request, as {@link InvocationDeps.onRequestEnd} is told it. */
export interface RequestEnd {
  /** HTTP status sent (200 when the response closed before its head was sent). */
  status: number;
  /** Time from routing the request to its response's close, ms. */
  durationMs: number;
}

/** The service. `listen()` opens both listeners; `close()` drains. */
export class InvocationService {
  /** The resolved config it was built with. */
  readonly config: InvocationConfig;
  /** The worker callback listener (tunnels, W1). */
  readonly tunnels: TunnelListener;
  /** This region's 202 results (H9). */
  readonly results: ResultStore;
  /** Status polls from any region (H9): lookups in the other regions, and answers to theirs. */
  readonly remoteResults: RemoteResults;
  /** Tickets and workers' NATS attaches (see @switchyard/worker-link). */
  readonly #link: FrontEndLink;
  /** What the request handlers share (one object for the service's life). */
  readonly #ctx: RequestContext;
  readonly #subs: Subscription[] = [];
  readonly #onRequestEnd: ((end: RequestEnd) => void) | undefined;
  readonly #listener: ClientListener;

  constructor(config: InvocationConfig, deps: InvocationDeps) {
    this.config = config;
    this.#onRequestEnd = deps.onRequestEnd;
    const log = deps.logger;
    const metrics = deps.metrics ?? FrontEndMetrics.noop('invocation');
    this.tunnels = new TunnelListener({
      host: config.callbackHost,
      port: config.callbackPort,
      tls: readTlsPair(config.callbackTlsCertFile, config.callbackTlsKeyFile),
      tokenTtlMs: config.tokenTtlMs,
      limits: config,
      recorder: deps.tunnelRecorder,
    });
    this.tunnels.on('tunnel-closed', (t) => log.info({ workerId: t.workerId, reason: t.closeReason }, 'tunnel closed'));
    this.#link = new FrontEndLink({
      nc: deps.nc,
      instanceId: config.instanceId,
      tunnels: this.tunnels,
      queue: deps.queue,
      maxQueuePerVersion: config.maxQueuePerVersion,
      onAllocationEnd: (_functionId, versionId, outcome, waitMs) => metrics.allocationEnded(versionId, outcome, waitMs),
    });
    const link = this.#link;
    metrics.observeQueued((versionId) => link.queued(versionId));
    this.results = new ResultStore(deps.redis, {
      ttlMs: config.resultTtlMs,
      maxBytes: config.maxResultBytes,
      chunkBytes: config.resultChunkBytes,
      ownerLeaseMs: config.resultOwnerLeaseMs,
      writeRetryMs: config.resultWriteRetryMs,
      claimLeaseMs: config.resultClaimLeaseMs,
      restartGraceMs: config.resultRestartGraceMs,
    });
    this.remoteResults = new RemoteResults(
      deps.nc,
      this.results,
      { region: config.region, remoteRegions: config.remoteRegions, timeoutMs: config.remoteLookupTimeoutMs },
      log,
    );
    this.#ctx = {
      config,
      log,
      control: deps.control,
      openCalls: new OpenCalls(deps.control),
      buckets: new TokenBuckets(deps.redis),
      keyRequests: new KeyConcurrency(config.maxConcurrentRequestsPerKey),
      link: this.#link,
      warm: new WarmTunnels(),
      results: this.results,
      remoteResults: this.remoteResults,
      metrics,
      inFlight: 0,
      closing: false,
    };
    this.#listener = new ClientListener((req, res) => this.#onRequest(req, res as RawResponse), {
      idleTimeoutMs: config.idleTimeoutMs,
      limits: config,
      tlsCertFile: config.tlsCertFile,
      tlsKeyFile: config.tlsKeyFile,
      onConnection: (protocol) => metrics.connectionOpened(protocol),
    });
  }

  /** Requests being handled by this instance (202 results still being stored included). */
  get inFlight(): number {
    return this.#ctx.inFlight;
  }

  /**
   * Opens the callback listener, subscribes to the attach and result-lookup subjects, then opens the
   * client listener.
   * Resolves with the bound ports. @throws listen errors (EADDRINUSE...).
   */
  async listen(): Promise<{ port: number; callbackPort: number }> {
    const callbackPort = await this.tunnels.listen();
    this.#subs.push(this.remoteResults.serve());
    // Resolves once the server has every subscription of this connection, the one above included.
    await this.#link.serve({
      callbackUri:
        this.config.callbackUri ?? `${this.config.callbackTlsCertFile ? 'https' : 'http'}://127.0.0.1:${callbackPort}`,
    });
    const port = await this.#listener.listen(this.config.port, this.config.host);
    return { port, callbackPort };
  }

  /**
   * Drains: new requests get 503, HTTP/2 clients GOAWAY, requests in flight get up to
   * `drainTimeoutMs` to finish, then connections and tunnels close. Does not close NATS or Redis.
   */
  async close(): Promise<void> {
    const ctx = this.#ctx;
    ctx.closing = true;
    ctx.openCalls.close();
    this.#link.close();
    for (const sub of this.#subs) sub.unsubscribe();
    this.#listener.drain(this.config.drainTimeoutMs);
    const until = Date.now() + this.config.drainTimeoutMs;
    // Requests in flight, and connections whose request has begun to arrive (answered 503, not reset).
    while ((ctx.inFlight > 0 || this.#listener.pendingHttp1 > 0) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    this.#listener.destroyAll();
    // Results still held now are lost with this instance: their leases run out (500 SY_RESULT_LOST).
    this.results.close();
    await this.tunnels.close();
  }

  /**
   * The client listener's request handler, for both protocols: the request's SERVER span, then
   * {@link #handle}. Bodies are never parsed nor buffered here: the relay streams them (H3, "no body
   * size limit"). A bug that throws is logged and answered 500 SY_INTERNAL (the response aborted when
   * its head went out), never an exception out of the server's 'request' event.
   */
  #onRequest(req: RawRequest, res: RawResponse): void {
    try {
      withRequestSpan(req, res, this.#handleRequest);
    } catch (err) {
      sendProblem(req, res, this.#ctx.log, err);
    }
  }

  readonly #handleRequest = (req: RawRequest, res: RawResponse): void => this.#handle(req, res);

  /**
   * Routes one request (H1, H2, H9): an invocation, a status poll, or 404 SY_ROUTE_NOT_FOUND (also for
   * any `/_switchyard/` path: the tunnel's control namespace).
   */
  #handle(req: RawRequest, res: RawResponse): void {
    const ctx = this.#ctx;
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (isControlPath(url)) {
      // The tunnel's control namespace is not a client's to call: 404 like any unrouted request (H1).
      sendProblem(req, res, ctx.log, new SwitchyardError('SY_ROUTE_NOT_FOUND', { detail: 'reserved path' }));
      return;
    }
    let target: ReturnType<typeof resolveTarget>;
    try {
      target = resolveTarget(method, url, hostOf(req), req.headers);
    } catch (err) {
      // A malformed %-escape in a pexec path: 400, never an exception out of the request handler.
      sendProblem(req, res, ctx.log, err);
      return;
    }
    if (target.kind === 'none') {
      sendProblem(req, res, ctx.log, new SwitchyardError('SY_ROUTE_NOT_FOUND', { detail: target.detail }));
      return;
    }
    ctx.inFlight++;
    const startedMs = performance.now();
    res.once('close', () => {
      ctx.inFlight--;
      this.#onRequestEnd?.({ status: res.statusCode, durationMs: performance.now() - startedMs });
    });
    if (target.kind === 'status') void pollStatus(ctx, req, res, target);
    else void invoke(ctx, req, res, target, method, url);
  }
}
