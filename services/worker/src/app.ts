// The worker sidecar (W1-W4, S1-S3): takes tickets of its function version while it has free
// capacity, dials or reuses a tunnel to the proxy instance that asked, owns its sessions' records,
// and relays every stream of a tunnel to the function container.

import type http2 from 'node:http2';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  DirectBody,
  type ErrorCode,
  isSwitchyardError,
  Metadata,
  type ReconnectRequest,
  type SessionEnded,
  type SessionRecord,
  SwitchyardError,
  TunnelHeaders,
} from '@switchyard/protocol';
import type { SessionDirectory } from '@switchyard/session-directory';
import type { PulledTicket, TicketQueue } from '@switchyard/ticket-queue';
import { isGrpcContentType, respondWithError, type WorkerTunnel } from '@switchyard/tunnel';
import {
  answerControl,
  isControlPath,
  parseControlPath,
  publishSessionEnded,
  serveWorkerLink,
  type WorkerLinkServer,
  WorkerTunnels,
} from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { endCall, type InFlightCall } from './call-end.ts';
import { isCallbackAllowed } from './callback-allow-list.ts';
import type { WorkerConfig } from './config.ts';
import { ContainerClient } from './container-client.ts';
import { HttpUpstream } from './http-upstream.ts';
import { isWebSocketStream, WebSocketUpstream, webSocketTarget } from './websocket-upstream.ts';

const { NGHTTP2_REFUSED_STREAM } = (await import('node:http2')).constants;

/**
 * How long an HTTP request ticket holds its capacity unit waiting for the invocation instance to open
 * the request's stream after the attach (ms); it opens it at once unless its client went away.
 */
const HTTP_STREAM_WAIT_MS = 10_000;
/** How long `stop()` lets in-flight HTTP requests finish before closing the container pool (ms). */
const HTTP_DRAIN_MS = 5_000;

/** One HTTP request (one-shot, H2): holds one capacity unit from its ticket until its stream closes. */
interface HttpHold {
  timer: NodeJS.Timeout | undefined;
  started: boolean;
}

/** Pull requests a worker keeps outstanding at most (each asks for one ticket). */
const MAX_CONCURRENT_PULLS = 8;

/** One session this worker holds (S1): one unit of capacity from allocation to its end. */
interface WorkerSession {
  readonly record: SessionRecord;
  revision: number;
  /** Proxy instances holding client connections of this session. */
  readonly proxies: Set<string>;
  /**
   * Proxy instances whose tunnel was lost while they held the session (W3): not counted as holding
   * it, but told when it ends, since their client connections may still be pinned to it.
   */
  readonly lostProxies: Set<string>;
  /** In-flight calls (tunnel stream -> its relay), ended with UNAVAILABLE on eviction (S3). */
  readonly streams: Map<http2.ServerHttp2Stream, InFlightCall>;
  /**
   * Proxies an attach is in progress for (ticket or reconnect), mapped to true when their detach
   * arrived over the tunnel before the attach settled here (the NATS attach reply races the tunnel):
   * such a late attach is not counted. Allocated on first use.
   */
  attaching?: Map<string, boolean>;
  windowTimer: NodeJS.Timeout | undefined;
  ending: boolean;
}

/** What {@link Worker} needs from outside; tests pass real instances. */
export interface WorkerDeps {
  nc: NatsConnection;
  directory: SessionDirectory;
  queue: TicketQueue;
  logger: Logger;
  /** Reconnect window of this worker's function (ms), when the control store has one (S1). */
  functionReconnectWindowMs?: () => number | undefined;
}

/** The worker. `start()` begins taking tickets; `stop()` ends every session and leaves. */
export class Worker {
  readonly config: WorkerConfig;
  readonly #deps: WorkerDeps;
  readonly #log: Logger;
  readonly #sessions = new Map<string, WorkerSession>();
  /** One tunnel per front-end instance (W1). */
  readonly #tunnels: WorkerTunnels;
  readonly #container: ContainerClient;
  /** Set when the upstream is `http://` (HTTP functions): requests go through undici. */
  readonly #httpUpstream: HttpUpstream | undefined;
  /** Client WebSockets of the gRPC proxy (G12): HTTP/1.1 Upgrade to the container. */
  readonly #webSocket: WebSocketUpstream;
  /** HTTP requests holding a capacity unit, by request ID (no session record: they are one-shot). */
  readonly #httpHeld = new Map<string, HttpHold>();
  #link: WorkerLinkServer | undefined;
  #reserved = 0;
  /** Pull requests outstanding (each may bring one ticket). */
  #pulling = 0;
  /**
   * True while tickets of this version wait in the queue (a pulled ticket reported more pending, or
   * one had to go back because the warm path took its unit): warm offers are refused meanwhile, so a
   * freed unit goes to the oldest queued request, not to whichever offer arrives first.
   */
  #ticketBacklog = false;
  #stopping = false;
  #capacityWaiter: (() => void) | undefined;
  #pullLoop: Promise<void> | undefined;
  #refreshTimer: NodeJS.Timeout | undefined;

  constructor(config: WorkerConfig, deps: WorkerDeps) {
    this.config = config;
    this.#deps = deps;
    this.#log = deps.logger;
    this.#container = new ContainerClient(config.upstream.replace(/^grpc:/, 'http:'));
    this.#httpUpstream = config.upstream.startsWith('http:') ? new HttpUpstream(config.upstream) : undefined;
    this.#webSocket = new WebSocketUpstream(webSocketTarget(config.upstream, config.websocketUpstream));
    this.#tunnels = new WorkerTunnels({
      nc: deps.nc,
      workerId: config.workerId,
      onStream: (stream, headers, proxyId) => this.#onStream(stream, headers, proxyId),
      onClosed: (proxyId, tunnel) => this.#onTunnelClosed(proxyId, tunnel),
    });
  }

  /** Sessions held now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Free capacity units (W2). */
  get freeCapacity(): number {
    return this.config.concurrency - this.#sessions.size - this.#reserved - this.#httpHeld.size;
  }

  /** Open tunnels (one per proxy instance). */
  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  /** Request IDs of the sessions held now. */
  sessionIds(): string[] {
    return [...this.#sessions.keys()];
  }

  /** Subscribes to reconnect/evict requests, starts pulling tickets and refreshing records. */
  async start(): Promise<void> {
    this.#link = await serveWorkerLink(this.#deps.nc, this.config.workerId, {
      reconnect: (request) => this.#onReconnect(request),
      evict: (reqId) => this.#onEvict(reqId),
    });
    this.#pullLoop = this.#pull();
    // S2: refresh against the bucket's real TTL; a bucket created earlier by someone else keeps its own.
    const ttlMs = Math.min(this.config.sessionTtlMs, this.#deps.directory.ttlMs);
    const every = Math.max(250, Math.floor(ttlMs / 3));
    this.#refreshTimer = setInterval(() => void this.#refreshAll(), every);
    this.#refreshTimer.unref();
  }

  /**
   * Stops taking tickets, ends every session (records deleted, proxies told), closes tunnels (GOAWAY).
   * Does not close the NATS connection.
   */
  async stop(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#capacityWaiter?.();
    clearInterval(this.#refreshTimer);
    this.#link?.close();
    await Promise.allSettled([...this.#sessions.values()].map((s) => this.#endSession(s, 'worker-exit')));
    this.#tunnels.closeAll();
    this.#container.close();
    await this.#closeHttp();
    await this.#pullLoop?.catch(() => undefined);
  }

  // --- tickets (W2) ---

  /**
   * Keeps up to {@link MAX_CONCURRENT_PULLS} pull requests outstanding, never more than the free
   * capacity (W2: a ticket is only ever delivered to a worker that can take it). Several pulls in
   * flight let a busy worker take tickets faster than one JetStream round trip each.
   */
  async #pull(): Promise<void> {
    let consumer: Awaited<ReturnType<TicketQueue['consumer']>> | undefined;
    let backoffMs = 250;
    const pullers = new Set<Promise<void>>();
    while (!this.#stopping) {
      if (this.freeCapacity - this.#pulling <= 0 || this.#pulling >= MAX_CONCURRENT_PULLS) {
        await new Promise<void>((resolve) => {
          this.#capacityWaiter = resolve;
        });
        this.#capacityWaiter = undefined;
        continue;
      }
      try {
        consumer ??= await this.#deps.queue.consumer(this.config.versionId);
      } catch (err) {
        this.#log.warn({ err }, 'ticket consumer unavailable; retrying');
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 5_000);
        continue;
      }
      const current = consumer;
      this.#pulling++;
      const puller = (async () => {
        try {
          const pulled = await current.next(this.config.ticketPullExpiresMs);
          backoffMs = 250;
          if (!pulled) {
            this.#ticketBacklog = false; // the pull expired: nothing queued
            return;
          }
          // The warm path may have taken the unit this pull was for: the ticket goes back to the
          // queue (another worker, or this one once a unit is free) rather than overcommitting (W2),
          // and warm offers wait until the queue is drained.
          if (this.#stopping || this.freeCapacity <= 0) {
            this.#ticketBacklog = true;
            pulled.nak();
            return;
          }
          this.#ticketBacklog = pulled.pending > 0;
          this.#reserved++;
          void this.#take(pulled).finally(() => {
            this.#reserved--;
            this.#capacityFreed();
          });
        } catch (err) {
          this.#log.warn({ err }, 'ticket pull failed; retrying');
          if (consumer === current) consumer = undefined;
          await new Promise((r) => setTimeout(r, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 5_000);
        } finally {
          this.#pulling--;
          this.#capacityFreed();
        }
      })();
      pullers.add(puller);
      void puller.finally(() => pullers.delete(puller));
    }
    await Promise.allSettled([...pullers]);
  }

  #capacityFreed(): void {
    this.#capacityWaiter?.();
  }

  async #take(pulled: PulledTicket): Promise<void> {
    const t = pulled.ticket;
    const log = this.#log.child({ reqId: t.reqId, proxyId: t.proxyId });
    if (Date.now() > t.deadlineMs || t.versionId !== this.config.versionId) {
      pulled.term();
      return;
    }
    if (!isCallbackAllowed(t.callbackUri, this.config.callbackAllowList)) {
      log.warn({ callbackUri: t.callbackUri }, 'ticket names a callback URI outside the allow-list; dropped (W4)');
      pulled.term();
      return;
    }
    if (t.kind === 'http') {
      await this.#takeHttp(pulled, log);
      return;
    }
    const record: SessionRecord = {
      reqId: t.reqId,
      accountId: t.accountId,
      functionId: t.functionId,
      versionId: t.versionId,
      workerId: this.config.workerId,
      region: this.config.region,
      createdAtMs: Date.now(),
    };
    let revision: number;
    try {
      revision = await this.#deps.directory.create(record);
    } catch (err) {
      if (isSwitchyardError(err, 'SY_SESSION_EXISTS')) pulled.term();
      else pulled.nak();
      log.warn({ err }, 'could not write the session record');
      return;
    }
    const session: WorkerSession = {
      record,
      revision,
      proxies: new Set(),
      lostProxies: new Set(),
      streams: new Map(),
      windowTimer: undefined,
      ending: false,
    };
    this.#sessions.set(t.reqId, session);
    try {
      this.#attachStarted(session, t.proxyId);
      await this.#attach(t.proxyId, t.callbackUri, t.token, t.reqId);
      this.#attachFinished(session, t.proxyId);
      pulled.ack();
      log.debug('session allocated');
    } catch (err) {
      log.warn({ err }, 'could not attach to the proxy; ticket dropped');
      pulled.term();
      this.#sessions.delete(t.reqId);
      await this.#deps.directory.delete(t.reqId).catch(() => undefined);
    }
  }

  // --- tunnels (W1) ---

  /** Attaches `reqId` to front-end instance `proxyId` (see WorkerTunnels.attach). */
  #attach(proxyId: string, callbackUri: string, token: string, reqId: string): Promise<void> {
    return this.#tunnels.attach(proxyId, callbackUri, token, reqId);
  }

  #onTunnelClosed(proxyId: string, tunnel: WorkerTunnel): void {
    this.#log.info({ proxyId, reason: tunnel.closeReason }, 'tunnel closed');
    // W3: an unclean loss keeps the sessions for the reconnect window; a resume re-dials.
    for (const session of this.#sessions.values()) {
      if (!session.proxies.delete(proxyId)) continue;
      session.lostProxies.add(proxyId);
      if (session.proxies.size === 0) this.#startWindow(session);
    }
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, proxyId: string | undefined): void {
    const path = headers[':path'] ?? '';
    if (isControlPath(path)) {
      this.#onControl(stream, path, proxyId);
      return;
    }
    if (this.#onHttpStream(stream, headers)) return;
    const grpc = isGrpcContentType(headers['content-type']);
    const reqId = headers[Metadata.requestId];
    const session = typeof reqId === 'string' ? this.#sessions.get(reqId) : undefined;
    if (!session || session.ending) {
      respondWithError(stream, grpc, 'SY_SESSION_NOT_FOUND');
      return;
    }
    // A proxy forwards a call only for a client connection bound to the session: after a lost tunnel
    // was re-dialled for another session, this is how a still-pinned connection re-attaches (W3, S1).
    if (proxyId && !session.proxies.has(proxyId)) this.#attachProxy(session, proxyId);
    const call: InFlightCall = { grpc, out: undefined };
    session.streams.set(stream, call);
    stream.once('close', () => session.streams.delete(stream));
    if (isWebSocketStream(headers)) {
      // G12: held like a call, so an ended session resets it (S3).
      this.#webSocket.relay(stream, headers);
      return;
    }
    call.out = this.#container.relay(stream, headers);
  }

  /**
   * Counts `proxyId` as holding `session` (its window stops), unless the tunnel to it was lost in the
   * meantime: the proxy may have forwarded a call and lost the tunnel before an attach finished here,
   * and a proxy without a tunnel must not hold the session past its window (W3).
   */
  #attachProxy(session: WorkerSession, proxyId: string): void {
    if (!this.#tunnels.open(proxyId)) {
      session.lostProxies.add(proxyId);
      if (session.proxies.size === 0) this.#startWindow(session);
      return;
    }
    session.proxies.add(proxyId);
    session.lostProxies.delete(proxyId);
    this.#stopWindow(session);
  }

  /** Marks an attach of `proxyId` to `session` as in progress (see WorkerSession.attaching). */
  #attachStarted(session: WorkerSession, proxyId: string): void {
    if (!session.attaching) session.attaching = new Map();
    session.attaching.set(proxyId, false);
  }

  #attachSettled(session: WorkerSession, proxyId: string): void {
    if (session.attaching?.delete(proxyId) && session.attaching.size === 0) session.attaching = undefined;
  }

  /**
   * A ticket's or reconnect's attach of `proxyId` finished: count the proxy as holding the session,
   * unless it already detached meanwhile (then only the window starts).
   */
  #attachFinished(session: WorkerSession, proxyId: string): void {
    const detachedMeanwhile = session.attaching?.get(proxyId) === true;
    this.#attachSettled(session, proxyId);
    if (!detachedMeanwhile) this.#attachProxy(session, proxyId);
    else if (session.proxies.size === 0) this.#startWindow(session);
  }

  /** `POST /_switchyard/v1/sessions/<reqId>/attach|detach` from a proxy over its tunnel. */
  #onControl(stream: http2.ServerHttp2Stream, path: string, proxyId: string | undefined): void {
    const control = parseControlPath(path);
    const session = control && proxyId ? this.#sessions.get(control.reqId) : undefined;
    if (!control || !proxyId || !session || session.ending) {
      answerControl(stream, 404);
      return;
    }
    if (control.action === 'attach') {
      this.#attachProxy(session, proxyId);
    } else {
      if (session.attaching?.has(proxyId)) session.attaching.set(proxyId, true);
      if (session.proxies.delete(proxyId) && session.proxies.size === 0) this.#startWindow(session);
    }
    answerControl(stream, 200);
  }

  // --- HTTP requests (H2-H4, H10: one-shot, no session record) ---

  /**
   * An HTTP request ticket: no session record (nobody resumes an HTTP request); one capacity unit is
   * held from the ticket until the request's tunnel stream closes, or {@link HTTP_STREAM_WAIT_MS} when
   * the invocation instance never opens it. The unit is registered before the attach, because the
   * stream can arrive over the tunnel before the attach reply arrives over NATS.
   */
  async #takeHttp(pulled: PulledTicket, log: Logger): Promise<void> {
    const { reqId, proxyId, callbackUri, token } = pulled.ticket;
    const hold: HttpHold = { timer: undefined, started: false };
    this.#httpHeld.set(reqId, hold);
    try {
      await this.#attach(proxyId, callbackUri, token, reqId);
      pulled.ack();
    } catch (err) {
      log.warn({ err }, 'could not attach to the invocation instance; ticket dropped');
      pulled.term();
      this.#releaseHttp(reqId, hold);
      return;
    }
    if (!hold.started && this.#httpHeld.get(reqId) === hold) {
      hold.timer = setTimeout(() => this.#releaseHttp(reqId, hold), HTTP_STREAM_WAIT_MS);
      hold.timer.unref();
    }
  }

  /**
   * Relays the tunnel stream of a held HTTP request to the container (undici for `http://` upstreams,
   * the HTTP/2 relay otherwise); its capacity unit is freed when the stream closes.
   * @returns false when `headers` name no held HTTP request (the stream belongs to a session).
   */
  #onHttpStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): boolean {
    const reqId = headers[Metadata.requestId];
    if (typeof reqId === 'string' && headers[TunnelHeaders.direct] !== undefined && !this.#httpHeld.has(reqId)) {
      this.#onDirect(stream, headers, reqId);
      return true;
    }
    const hold = typeof reqId === 'string' ? this.#httpHeld.get(reqId) : undefined;
    if (reqId === undefined || typeof reqId !== 'string' || !hold) return false;
    this.#relayHttp(stream, headers, reqId, hold);
    return true;
  }

  /**
   * The warm path: an invocation instance offers a request without a ticket. Admitted (informational
   * `:status 100`, then relayed like a ticketed request, holding one unit) when this worker serves its
   * version, is not stopping, has a free unit and no tickets of its version are known to wait; else
   * RST_STREAM REFUSED_STREAM, which tells the instance the request was not processed and may take
   * the ticket path (behind the ones already queued).
   */
  #onDirect(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, reqId: string): void {
    stream.on('error', () => undefined);
    if (
      this.#stopping ||
      this.#ticketBacklog ||
      this.freeCapacity <= 0 ||
      headers[TunnelHeaders.functionVersionId] !== this.config.versionId
    ) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const hold: HttpHold = { timer: undefined, started: false };
    this.#httpHeld.set(reqId, hold);
    try {
      // A request with its whole body needs no admission; a streamed body waits for this.
      if (headers[TunnelHeaders.direct] === DirectBody.stream) stream.additionalHeaders({ ':status': 100 });
    } catch {
      this.#releaseHttp(reqId, hold);
      return;
    }
    this.#relayHttp(stream, headers, reqId, hold);
  }

  #relayHttp(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, reqId: string, hold: HttpHold): void {
    if (hold.started) {
      respondWithError(stream, false, 'SY_SESSION_NOT_FOUND');
      return;
    }
    hold.started = true;
    clearTimeout(hold.timer);
    stream.once('close', () => this.#releaseHttp(reqId, hold));
    if (this.#httpUpstream) {
      const context = {
        reqId,
        functionId: this.config.functionId,
        versionId: this.config.versionId,
        region: this.config.region,
      };
      void this.#httpUpstream.relay(stream, headers, context).then((result) => {
        if (result.error) this.#log.debug({ reqId, ...result }, 'HTTP request ended early');
      });
    } else {
      this.#container.relay(stream, headers);
    }
  }

  #releaseHttp(reqId: string, hold: HttpHold): void {
    if (this.#httpHeld.get(reqId) !== hold) return;
    clearTimeout(hold.timer);
    this.#httpHeld.delete(reqId);
    this.#capacityFreed();
  }

  /** Lets in-flight HTTP requests finish (at most {@link HTTP_DRAIN_MS}), then closes the container pool. */
  async #closeHttp(): Promise<void> {
    if (!this.#httpUpstream) return;
    const until = Date.now() + HTTP_DRAIN_MS;
    while ([...this.#httpHeld.values()].some((h) => h.started) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    await this.#httpUpstream.close();
  }

  // --- reconnect and evict (flow 3, S3) ---

  /**
   * A front end asks to attach a session held here (flow 3).
   * @throws SwitchyardError SY_SESSION_NOT_FOUND, SY_CALLBACK_NOT_ALLOWED (W4), or the attach's code.
   */
  async #onReconnect(request: ReconnectRequest): Promise<void> {
    const session = this.#sessions.get(request.reqId);
    if (!session || session.ending) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
    if (!isCallbackAllowed(request.callbackUri, this.config.callbackAllowList))
      throw new SwitchyardError('SY_CALLBACK_NOT_ALLOWED');
    this.#attachStarted(session, request.proxyId);
    try {
      await this.#attach(request.proxyId, request.callbackUri, request.token, request.reqId);
    } catch (err) {
      this.#attachSettled(session, request.proxyId);
      throw isSwitchyardError(err)
        ? err
        : new SwitchyardError('SY_TUNNEL_DIAL_FAILED', { detail: (err as Error).message, cause: err });
    }
    if (session.ending) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
    this.#attachFinished(session, request.proxyId);
  }

  /** Ends session `reqId` now (S3). @returns false when it is not held here. */
  async #onEvict(reqId: string): Promise<boolean> {
    const session = this.#sessions.get(reqId);
    if (!session || session.ending) return false;
    await this.#endSession(session, 'evicted');
    return true;
  }

  // --- session lifecycle (S1, S2, W3) ---

  #windowMs(): number {
    return this.#deps.functionReconnectWindowMs?.() ?? this.config.reconnectWindowMs;
  }

  #startWindow(session: WorkerSession): void {
    if (session.ending || session.windowTimer) return;
    session.windowTimer = setTimeout(
      () => void this.#endSession(session, 'reconnect-window-expired'),
      this.#windowMs(),
    );
    session.windowTimer.unref();
  }

  #stopWindow(session: WorkerSession): void {
    if (session.windowTimer) clearTimeout(session.windowTimer);
    session.windowTimer = undefined;
  }

  async #endSession(session: WorkerSession, reason: SessionEnded['reason']): Promise<void> {
    if (session.ending) return;
    session.ending = true;
    this.#stopWindow(session);
    const { reqId } = session.record;
    this.#sessions.delete(reqId);
    const code: ErrorCode = reason === 'worker-exit' ? 'SY_SHUTTING_DOWN' : 'SY_SESSION_EVICTED';
    for (const [stream, call] of session.streams) endCall(stream, call, code);
    const ended: SessionEnded = { reqId, reason };
    publishSessionEnded(this.#deps.nc, new Set([...session.proxies, ...session.lostProxies]), ended);
    try {
      await this.#deps.directory.delete(reqId);
    } catch (err) {
      // The bucket TTL removes it when the directory is unreachable now (S2).
      this.#log.warn({ err, reqId }, 'could not delete the session record');
    }
    this.#log.debug({ reqId, reason }, 'session ended');
    this.#capacityFreed();
  }

  async #refreshAll(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    const inFlight = 64;
    for (let i = 0; i < sessions.length; i += inFlight) {
      await Promise.all(
        sessions.slice(i, i + inFlight).map(async (s) => {
          if (s.ending) return;
          try {
            s.revision = await this.#deps.directory.refresh(s.record.reqId, s.revision, s.record);
          } catch (err) {
            if (isSwitchyardError(err, 'SY_SESSION_CONFLICT')) {
              // Someone removed or rewrote our record (operator purge): the session is over.
              await this.#endSession(s, 'evicted');
            } else {
              this.#log.warn({ err, reqId: s.record.reqId }, 'session refresh failed; retrying next interval');
            }
          }
        }),
      );
    }
  }
}
