// The regional gRPC proxy (G1-G11, G14, S1-S4): authenticates each call, binds it to a worker session
// (pinned to the connection, resumed by request ID, or newly allocated with a ticket), and relays the
// HTTP/2 stream over the worker's tunnel. Pinned calls touch neither NATS nor KV.

import type http from 'node:http';
import type http2 from 'node:http2';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Authorization, ControlStore } from '@switchyard/control-store';
import {
  ErrorCatalogue,
  type ErrorCode,
  httpStatusOf,
  isSwitchyardError,
  Metadata,
  newRequestId,
  type SessionRecord,
  SwitchyardError,
  TunnelHeaders,
} from '@switchyard/protocol';
import type { RegionHealthView } from '@switchyard/region-health';
import type { SessionDirectory } from '@switchyard/session-directory';
import type { TicketQueue } from '@switchyard/ticket-queue';
import {
  forwardHeaders,
  isGrpcContentType,
  type ProxyTunnel,
  relayStream,
  respondWithError,
  TunnelListener,
} from '@switchyard/tunnel';
import { FrontEndLink } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { AbsorbHandler, absorbAction } from './absorb.ts';
import { ClientListener } from './client-listener.ts';
import type { ProxyConfig } from './config.ts';
import type { RateLimiter } from './rate-limit.ts';
import { CLEAR_SESSION_COOKIE, corsHeaders, requestedSessionId, sessionCookie } from './request-id.ts';
import { SessionLookup } from './session-lookup.ts';
import { SpillRouter } from './spill-over.ts';
import { type BoundSession, WebSocketGateway } from './websocket.ts';

/** Client headers never forwarded to a worker: the API key, and our own tunnel headers. */
const DROP_TO_WORKER: ReadonlySet<string> = new Set([
  Metadata.authorization,
  TunnelHeaders.requestId,
  TunnelHeaders.functionId,
  TunnelHeaders.functionVersionId,
  TunnelHeaders.control,
  TunnelHeaders.workerId,
  TunnelHeaders.upgrade,
]);

/**
 * A client connection using a session: an HTTP/2 connection, or one WebSocket (G12). `close()` is
 * the clean end an ended session gives it (S3).
 */
export interface SessionHolder {
  readonly closed: boolean;
  readonly destroyed: boolean;
  close(): void;
}

/** A session as this proxy instance holds it: the worker it lives on and the client connections using it. */
export interface LocalSession {
  readonly reqId: string;
  readonly accountId: string;
  readonly functionId: string;
  readonly versionId: string;
  readonly workerId: string;
  /** Client connections bound to it (pinned, resumed, WebSockets); the worker is attached while non-empty. */
  readonly connections: Set<SessionHolder>;
  ended: boolean;
}

/** Per client connection: pins (G6) by `keyId/function-id/function-version-id`, and every session it used. */
type Pins = Map<string, LocalSession | Promise<LocalSession>>;
interface ConnState {
  readonly pins: Pins;
  readonly sessions: Set<LocalSession>;
}

/** What {@link GrpcProxy} needs from outside; tests pass real instances. */
export interface GrpcProxyDeps {
  nc: NatsConnection;
  control: ControlStore;
  directory: SessionDirectory;
  queue: TicketQueue;
  logger: Logger;
  rateLimiter?: RateLimiter;
  /**
   * The other regions' session buckets (`openRemoteDirectories`), looked up in parallel when a resume
   * misses locally (G15). @default [] (this region's sessions only)
   */
  remoteDirectories?: SessionDirectory[];
  /** Region heartbeats: free capacity per version for `spill-over` functions. @default none (nothing spills) */
  health?: RegionHealthView;
}

/** The proxy. `listen()` opens both listeners; `close()` drains. */
export class GrpcProxy {
  readonly config: ProxyConfig;
  readonly tunnels: TunnelListener;
  readonly #deps: GrpcProxyDeps;
  readonly #log: Logger;
  readonly #clients: ClientListener;
  readonly #webSockets: WebSocketGateway;
  readonly #absorb: AbsorbHandler;
  readonly #lookup: SessionLookup;
  readonly #spill: SpillRouter;
  readonly #sessions = new Map<string, LocalSession>();
  readonly #resuming = new Map<string, Promise<LocalSession>>();
  readonly #conns = new WeakMap<http2.ServerHttp2Session, ConnState>();
  /** Everything asked of workers and heard from them (tickets, resume, detach, evict, session-ended). */
  readonly #link: FrontEndLink;
  #closing = false;

  constructor(config: ProxyConfig, deps: GrpcProxyDeps) {
    this.config = config;
    this.#deps = deps;
    this.#log = deps.logger;
    this.#lookup = new SessionLookup(deps.directory, deps.remoteDirectories, config.remoteLookupTimeoutMs);
    this.#spill = new SpillRouter({
      nc: deps.nc,
      region: config.region,
      local: deps.queue,
      health: deps.health,
      logger: deps.logger,
    });
    this.tunnels = new TunnelListener({
      host: config.callbackHost,
      port: config.callbackPort,
      tokenTtlMs: Math.max(30_000, config.attachTimeoutMs),
    });
    this.tunnels.on('tunnel-closed', (t) =>
      this.#log.info({ workerId: t.workerId, reason: t.closeReason }, 'tunnel closed'),
    );
    this.#link = new FrontEndLink({
      nc: deps.nc,
      instanceId: config.proxyId,
      tunnels: this.tunnels,
      queue: deps.queue,
      maxQueuePerVersion: config.maxQueuePerVersion,
      reconnectTimeoutMs: config.reconnectTimeoutMs,
      noRespondersGraceMs: config.noRespondersGraceMs,
    });
    this.#clients = new ClientListener({
      host: config.host,
      port: config.port,
      idleTimeoutMs: config.idleTimeoutMs,
      onStream: (stream, headers) => this.#onStream(stream, headers),
      onHttp1Request: (req, res) => this.#onHttp1(req, res),
      onUpgrade: (req, socket, head) => this.#webSockets.handle(req, socket, head),
      onSessionClose: (session) => this.#onConnectionClose(session),
    });
    this.#webSockets = new WebSocketGateway({
      control: deps.control,
      logger: deps.logger,
      isClosing: () => this.#closing,
      bind: (auth, requested, versionGiven) => this.#bindUnpinned(auth, requested, versionGiven),
      hold: (session, holder) => this.#hold(session, holder),
      release: (session, holder) => this.#release(session, holder),
    });
    this.#absorb = new AbsorbHandler({
      control: deps.control,
      logger: deps.logger,
      preallocate: (auth) => this.#preallocate(auth),
      end: (reqId, auth, versionGiven) => this.#endOwned(reqId, auth, versionGiven),
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
    await this.#link.serve({
      callbackUri: this.config.callbackUri ?? `http://127.0.0.1:${callbackPort}`,
      onSessionEnded: (reqId) => this.#onSessionEnded(reqId),
    });
    const port = await this.#clients.listen();
    return { port, callbackPort };
  }

  /** GOAWAY to clients, tunnels closed, subscriptions dropped. Does not close the NATS connection. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#link.close();
    this.#webSockets.close();
    await this.#clients.close();
    await this.tunnels.close();
  }

  // --- calls ---

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const grpc = isGrpcContentType(headers['content-type']);
    if (headers[':method'] === 'OPTIONS') {
      const cors = corsHeaders(headers.origin, headers['access-control-request-headers']);
      stream.respond({ ':status': 204, ...cors }, { endStream: true });
      return;
    }
    if (this.#closing) {
      respondWithError(stream, grpc, 'SY_SHUTTING_DOWN', corsHeaders(headers.origin));
      return;
    }
    const absorb = absorbAction(headers[':method'], headers);
    if (absorb) {
      void this.#absorb.onHttp2(stream, headers, absorb);
      return;
    }
    const input = {
      authorization: headers[Metadata.authorization] as string | undefined,
      functionId: headers[Metadata.functionId] as string | undefined,
      versionId: headers[Metadata.functionVersionId] as string | undefined,
    };
    let auth: Authorization;
    try {
      auth = this.#deps.control.authorize(input);
    } catch {
      // A miss may be a write this copy has not seen yet: answer after catching up (off the hot path).
      this.#deps.control.authorizeFresh(input).then(
        (fresh) => this.#onAuthorized(stream, headers, grpc, fresh),
        (err: unknown) => this.#fail(stream, headers, grpc, err),
      );
      return;
    }
    this.#onAuthorized(stream, headers, grpc, auth);
  }

  #onAuthorized(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    grpc: boolean,
    auth: Authorization,
  ): void {
    if (stream.closed || stream.destroyed) return;
    const versionHeader = (headers[Metadata.functionVersionId] as string | undefined) || '';
    const requested = requestedSessionId(headers);
    const pinKey = `${auth.key.keyId}/${auth.fn.functionId}/${versionHeader}`;
    const conn = stream.session as http2.ServerHttp2Session;
    const pins = this.#pinsOf(conn);
    const pinned = pins.get(pinKey);

    // G6 fast path: the connection already knows its session and its tunnel.
    if (pinned && !(pinned instanceof Promise) && !pinned.ended && (!requested || requested === pinned.reqId)) {
      const tunnel = this.tunnels.get(pinned.workerId);
      if (tunnel) {
        this.#forward(stream, headers, pinned, tunnel, false);
        return;
      }
    }
    void this.#bindAndForward(stream, headers, grpc, auth, versionHeader !== '', requested, conn, pinKey);
  }

  async #bindAndForward(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    grpc: boolean,
    auth: Authorization,
    versionGiven: boolean,
    requested: string | undefined,
    conn: http2.ServerHttp2Session,
    pinKey: string,
  ): Promise<void> {
    const pins = this.#pinsOf(conn);
    let isNew = false;
    try {
      let session: LocalSession;
      const pinned = pins.get(pinKey);
      if (requested && !(pinned && !(pinned instanceof Promise) && pinned.reqId === requested)) {
        session = await this.#resume(requested, auth, versionGiven);
      } else if (pinned instanceof Promise) {
        session = await pinned;
      } else if (pinned && !pinned.ended) {
        session = pinned;
      } else {
        const allocation = this.#allocate(auth, grpcTimeoutMs(headers));
        pins.set(pinKey, allocation);
        try {
          session = await allocation;
        } catch (err) {
          if (pins.get(pinKey) === allocation) pins.delete(pinKey);
          throw err;
        }
        isNew = true;
      }
      this.#bind(conn, pinKey, session);
      const tunnel = await this.#link.tunnelFor(session.reqId, session.workerId);
      if (stream.closed || stream.destroyed) return;
      this.#forward(stream, headers, session, tunnel, isNew);
    } catch (err) {
      const clear = isSwitchyardError(err, 'SY_SESSION_NOT_FOUND');
      this.#fail(stream, headers, grpc, err, clear ? { 'set-cookie': CLEAR_SESSION_COOKIE } : undefined);
    }
  }

  #forward(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    session: LocalSession,
    tunnel: ProxyTunnel,
    isNew: boolean,
  ): void {
    const responseHeaders: http2.OutgoingHttpHeaders = isNew
      ? { [Metadata.requestId]: session.reqId, 'set-cookie': sessionCookie(session.reqId) }
      : { [Metadata.requestId]: session.reqId };
    // A browser reads the answer (and a relay failure, G14) only with CORS headers; gRPC clients send no Origin.
    if (headers.origin) Object.assign(responseHeaders, corsHeaders(headers.origin));
    relayStream(
      stream,
      tunnel.session,
      forwardHeaders(headers, DROP_TO_WORKER, { [Metadata.requestId]: session.reqId }),
      {
        responseHeaders,
      },
    );
  }

  #fail(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    grpc: boolean,
    err: unknown,
    extra?: http2.OutgoingHttpHeaders,
  ): void {
    const code: ErrorCode = isSwitchyardError(err) ? err.code : 'SY_INTERNAL';
    if (!isSwitchyardError(err)) this.#log.error({ err }, 'unexpected error handling a call');
    // The detail (e.g. "worker is gone") never reaches the client; at debug level it is in the log.
    else this.#log.debug({ code, detail: err.detail, path: headers[':path'] }, 'call answered with an error');
    const cors = corsHeaders(headers.origin);
    respondWithError(stream, grpc, code, extra ? { ...cors, ...extra } : cors);
  }

  #onHttp1(req: http.IncomingMessage, res: http.ServerResponse): void {
    void this.#answerHttp1(req, res);
  }

  /**
   * HTTP/1.1 reaches only proxy-made answers (G3, G14): gRPC needs HTTP/2. A request naming a session
   * is told "not found" (and its cookie cleared, G8) only when the session really is not found.
   */
  async #answerHttp1(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const cors = corsHeaders(req.headers.origin) as http.OutgoingHttpHeaders;
    if (req.method === 'OPTIONS') {
      res.writeHead(204, corsHeaders(req.headers.origin, req.headers['access-control-request-headers']));
      res.end();
      return;
    }
    const absorb = absorbAction(req.method, req.headers);
    if (absorb) {
      await this.#absorb.onHttp1(req, res, absorb);
      return;
    }
    let code: ErrorCode = 'SY_UPSTREAM_UNAVAILABLE';
    try {
      const versionId = req.headers[Metadata.functionVersionId] as string | undefined;
      const auth = await this.#deps.control.authorizeFresh({
        authorization: req.headers.authorization,
        functionId: req.headers[Metadata.functionId] as string | undefined,
        versionId,
      });
      const requested = requestedSessionId(req.headers as http2.IncomingHttpHeaders);
      if (requested) {
        const local = this.#sessions.get(requested);
        const record = local && !local.ended ? local : (await this.#lookup.find(requested))?.record;
        if (!record) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
        checkOwner(record, auth, Boolean(versionId));
      }
    } catch (err) {
      code = isSwitchyardError(err) ? err.code : 'SY_INTERNAL';
      if (!isSwitchyardError(err)) this.#log.error({ err }, 'unexpected error answering an HTTP/1.1 request');
    }
    const body = `${ErrorCatalogue[code].message}\n`;
    res.writeHead(httpStatusOf(code), {
      ...cors,
      'content-type': 'text/plain; charset=utf-8',
      ...(code === 'SY_SESSION_NOT_FOUND' ? { 'set-cookie': CLEAR_SESSION_COOKIE } : {}),
    });
    res.end(body);
  }

  // --- binding sessions to connections (G6, S1) ---

  #stateOf(conn: http2.ServerHttp2Session): ConnState {
    let state = this.#conns.get(conn);
    if (!state) {
      state = { pins: new Map(), sessions: new Set() };
      this.#conns.set(conn, state);
    }
    return state;
  }

  #pinsOf(conn: http2.ServerHttp2Session): Pins {
    return this.#stateOf(conn).pins;
  }

  #bind(conn: http2.ServerHttp2Session, pinKey: string, session: LocalSession): void {
    const state = this.#stateOf(conn);
    state.pins.set(pinKey, session);
    if (session.connections.has(conn)) return;
    session.connections.add(conn);
    state.sessions.add(session);
    if (conn.closed || conn.destroyed) this.#release(session, conn);
  }

  #onConnectionClose(conn: http2.ServerHttp2Session): void {
    const state = this.#conns.get(conn);
    if (!state) return;
    this.#conns.delete(conn);
    for (const session of state.sessions) this.#release(session, conn);
  }

  /** A client connection stopped using `session`; the last one detaches this proxy from the worker (S1). */
  #release(session: LocalSession, conn: SessionHolder): void {
    if (!session.connections.delete(conn) || session.connections.size > 0) return;
    if (this.#sessions.get(session.reqId) === session) this.#sessions.delete(session.reqId);
    if (session.ended) return;
    this.#link.detach(session.reqId, session.workerId);
  }

  // --- WebSocket clients (G12) and pre-allocation (G13): sessions bound without a pin ---

  /** Resumes `requested` or allocates a session, with its tunnel; nothing is pinned (G12). */
  async #bindUnpinned(
    auth: Authorization,
    requested: string | undefined,
    versionGiven: boolean,
  ): Promise<BoundSession> {
    const session = requested
      ? await this.#resume(requested, auth, versionGiven)
      : await this.#allocate(auth, undefined);
    const tunnel = await this.#link.tunnelFor(session.reqId, session.workerId);
    return { session, tunnel, isNew: !requested };
  }

  /** `holder` (one WebSocket) uses `session` until {@link GrpcProxy.#release}. */
  #hold(session: LocalSession, holder: SessionHolder): void {
    if (session.ended) {
      holder.close();
      return;
    }
    session.connections.add(holder);
  }

  /**
   * G13: a new session that no connection pins or holds ([ours]: a shared HTTP/2 connection never
   * binds two callers to one session). The worker is told at once that nobody uses it here, so its
   * reconnect window starts (S1); a resume within the window attaches again.
   */
  async #preallocate(auth: Authorization): Promise<LocalSession> {
    const session = await this.#allocate(auth, undefined);
    if (session.connections.size === 0) {
      if (this.#sessions.get(session.reqId) === session) this.#sessions.delete(session.reqId);
      this.#link.detach(session.reqId, session.workerId);
    }
    return session;
  }

  /** G13 `DELETE`: ends session `reqId` of the caller's account at its worker (G8/G9 when not). */
  async #endOwned(reqId: string, auth: Authorization, versionGiven: boolean): Promise<void> {
    const local = this.#sessions.get(reqId);
    const record = local && !local.ended ? local : (await this.#lookup.find(reqId))?.record;
    if (!record) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
    checkOwner(record, auth, versionGiven);
    await this.#link.evict(reqId, record.workerId);
  }

  // --- allocation (flow 1, G10, S4) ---

  /**
   * A new session on a free worker (flow 1): the version's bound here (S4), the key's rate limit (G2),
   * then a ticket (in another region's stream when the function spills over) and the worker's attach
   * within the attach timeout or the call's deadline (G10).
   * @throws SwitchyardError SY_QUEUE_FULL, SY_RATE_LIMITED, SY_ATTACH_TIMEOUT, SY_QUEUE_UNAVAILABLE.
   */
  async #allocate(auth: Authorization, deadlineMs: number | undefined): Promise<LocalSession> {
    const versionId = auth.version.versionId;
    const reqId = newRequestId();
    const waitMs = Math.min(this.config.attachTimeoutMs, deadlineMs ?? Number.POSITIVE_INFINITY);
    const { rateLimiter } = this.#deps;
    const tunnel = await this.#link.allocate({
      reqId,
      accountId: auth.key.accountId,
      functionId: auth.fn.functionId,
      versionId,
      kind: auth.fn.kind,
      deadlineMs: Date.now() + waitMs,
      admit: rateLimiter ? () => rateLimiter.take(auth.key.keyId) : undefined,
      // Spill-over (issue 4): another region's stream when this one has no capacity; the ticket still
      // names this proxy's callback, so the remote worker dials back here.
      queue: () => this.#spill.queueFor(auth.fn, versionId),
    });
    if (!tunnel) throw new SwitchyardError('SY_INTERNAL', { detail: 'allocation given up without a signal' });
    const session: LocalSession = {
      reqId,
      accountId: auth.key.accountId,
      functionId: auth.fn.functionId,
      versionId,
      workerId: tunnel.workerId,
      connections: new Set(),
      ended: false,
    };
    this.#sessions.set(reqId, session);
    return session;
  }

  // --- resume (flow 3, G7-G9, G15) ---

  async #resume(reqId: string, auth: Authorization, versionGiven: boolean): Promise<LocalSession> {
    let session = this.#sessions.get(reqId);
    if (!session || session.ended) {
      // Local bucket, then the other regions' in parallel (G15); an unanswered region is UNAVAILABLE.
      const entry = await this.#lookup.find(reqId);
      if (!entry) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
      // Checked before the worker is asked to attach: a refused resume must not hold the session (S1).
      checkOwner(entry.record, auth, versionGiven);
      let pending = this.#resuming.get(reqId);
      if (!pending) {
        pending = this.#attachExisting(entry.record);
        this.#resuming.set(reqId, pending);
        pending.finally(() => this.#resuming.delete(reqId)).catch(() => undefined);
      }
      session = await pending;
    }
    checkOwner(session, auth, versionGiven);
    return session;
  }

  /** Attaches this proxy to the worker holding the session of `record` (flow 3). */
  async #attachExisting(record: SessionRecord): Promise<LocalSession> {
    await this.#link.resume(record.reqId, record.workerId);
    const current = this.#sessions.get(record.reqId);
    if (current && !current.ended) return current;
    const session = localFromRecord(record);
    this.#sessions.set(record.reqId, session);
    return session;
  }

  /** A worker ended session `reqId` (S3): connections bound to it get a clean end (GOAWAY). */
  #onSessionEnded(reqId: string): void {
    const session = this.#sessions.get(reqId);
    if (!session) return;
    session.ended = true;
    this.#sessions.delete(reqId);
    // In-flight calls were reset by the worker.
    for (const conn of session.connections) if (!conn.closed) conn.close();
  }
}

/**
 * G9: a session of another account is not found (a request ID is not a bearer token); one of another
 * function, or of another version when a version was named, is a mismatch.
 * @throws SwitchyardError SY_SESSION_NOT_FOUND, SY_SESSION_MISMATCH.
 */
function checkOwner(
  session: Pick<SessionRecord, 'accountId' | 'functionId' | 'versionId'>,
  auth: Authorization,
  versionGiven: boolean,
): void {
  if (session.accountId !== auth.key.accountId) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
  if (session.functionId !== auth.fn.functionId || (versionGiven && session.versionId !== auth.version.versionId)) {
    throw new SwitchyardError('SY_SESSION_MISMATCH');
  }
}

function localFromRecord(record: SessionRecord): LocalSession {
  return {
    reqId: record.reqId,
    accountId: record.accountId,
    functionId: record.functionId,
    versionId: record.versionId,
    workerId: record.workerId,
    connections: new Set(),
    ended: false,
  };
}

/** The call's deadline from `grpc-timeout` (G4), in ms, or undefined. */
function grpcTimeoutMs(headers: http2.IncomingHttpHeaders): number | undefined {
  const value = headers['grpc-timeout'];
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  const n = Number(match[1]);
  const factor = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 }[match[2] as 'H'];
  return n * factor;
}
