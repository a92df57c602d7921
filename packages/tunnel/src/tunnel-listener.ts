// The proxy end of worker tunnels (W1): the callback listener that accepts `CONNECT /v1/proxy`, checks
// the single-use token and worker ID, answers 200 and then speaks HTTP/2 as the *client* over the
// socket the worker dialled. One tunnel per (function version, worker ID) is kept current; every session
// and call between the worker and this instance shares it.

import { createHash, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  AttachRequestSchema,
  decodeMessage,
  ErrorCatalogue,
  type ErrorCode,
  encodeMessage,
  httpStatusOf,
  TUNNEL_CONNECT_PATH,
  TunnelHeaders,
} from '@switchyard/protocol';
import type { SocketLimits } from './listener-guard.ts';
import { DEFAULT_TUNNEL_WINDOWS, ProxyTunnel, type TunnelWindows } from './proxy-tunnel.ts';
import { DEFAULT_TUNNEL_PING_INTERVAL_MS, type TunnelCloseReason } from './tunnel-ping.ts';
import { DEFAULT_TOKEN_TTL_MS, type PendingAttach, TokenTable } from './tunnel-token.ts';

/** SHA-256 of a worker secret (kept instead of the secret). */
function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** True when `secret` hashes to `hash` (constant-time compare). */
function sameSecret(hash: Buffer, secret: string): boolean {
  return timingSafeEqual(hash, hashSecret(secret));
}

/** True when a pending attach may be redeemed by `workerId` serving `versionId` (its bindings). */
function boundTo(
  pending: Pick<PendingAttach<never>, 'workerId' | 'versionId'>,
  workerId: string,
  versionId: string | undefined,
): boolean {
  if (pending.workerId !== undefined && pending.workerId !== workerId) return false;
  return pending.versionId === undefined || pending.versionId === versionId;
}

/** Worker IDs: a NATS-token-safe name of at most 128 characters. */
const WORKER_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Registry key of a tunnel: its function version and worker ID (issue 8). A worker ID is chosen by the
 * worker, so a worker of version B may name A's ID; keyed by version too, it gets a tunnel of its own
 * beside A's and never stands in A's way. `\n` cannot occur in a worker ID, so keys never collide.
 */
function tunnelKey(versionId: string | undefined, workerId: string): string {
  return `${versionId ?? ''}\n${workerId}`;
}

/**
 * What a {@link TunnelListener} reports for metrics (injected, so this package needs no metrics SDK;
 * `createTunnelRecorder` of @switchyard/telemetry makes one). Called synchronously; must not throw.
 */
export interface TunnelRecorder {
  /** A tunnel was opened (its CONNECT answered 200). */
  opened(): void;
  /** A tunnel closed, for `reason`. */
  closed(reason: TunnelCloseReason): void;
  /** A CONNECT was answered with HTTP `status` (200, or the refusal's status). */
  connectAnswered(status: number): void;
  /** A token was redeemed (CONNECT or NATS attach) `ageMs` after it was issued or refreshed. */
  tokenUsed(ageMs: number): void;
}

/** Error codes a CONNECT may be refused with (besides 404 for another path). */
const CONNECT_REFUSALS = [
  'SY_TUNNEL_AUTH_MISSING',
  'SY_TUNNEL_WORKER_ID_INVALID',
  'SY_TUNNEL_WORKER_MISMATCH',
  'SY_TUNNEL_TOKEN_REJECTED',
] as const satisfies readonly ErrorCode[];

/** Every HTTP status a CONNECT on the callback listener can be answered with (bounded; for metrics). */
export const TUNNEL_CONNECT_STATUSES: readonly number[] = [
  ...new Set([200, 404, ...CONNECT_REFUSALS.map((code) => httpStatusOf(code))]),
].sort((a, b) => a - b);

/** Options of {@link TunnelListener}; all optional. */
export interface TunnelListenerOptions {
  /** Interface to bind. @default '0.0.0.0' */
  host?: string;
  /** Callback port (W1). @default 10086; 0 picks a free port */
  port?: number;
  /** Lifetime of a token (ms). @default 30_000 */
  tokenTtlMs?: number;
  /** PING interval on tunnels (ms). @default 10_000 */
  pingIntervalMs?: number;
  /**
   * PEM certificate and key: the listener speaks TLS (workers dial `https://` callback URIs and check
   * the certificate against their CA). @default cleartext
   */
  tls?: { cert: Buffer; key: Buffer };
  /**
   * Bounds of the callback listener (issue 11 item 2): headersTimeoutMs (a CONNECT whose headers take
   * longer is closed), maxHeaderListBytes (larger: 431), maxConnections (excess sockets closed);
   * http2StreamWindowBytes and http2ConnectionWindowBytes, the receive windows of each tunnel (what a
   * worker can make this process buffer: the stream window per open stream).
   * @default node's (60 s headers timeout, 16 KiB headers, no connection cap)
   */
  limits?: Pick<SocketLimits, 'headersTimeoutMs' | 'maxHeaderListBytes' | 'maxConnections'> &
    Partial<Pick<SocketLimits, 'http2StreamWindowBytes' | 'http2ConnectionWindowBytes'>>;
  /** Receives tunnel metrics (opened, closed by reason, CONNECT statuses, token ages). @default none */
  recorder?: TunnelRecorder;
}

/** Events: `tunnel` (a new tunnel is current for its worker), `tunnel-closed` (its `close` event). */
interface TunnelListenerEvents {
  tunnel: [ProxyTunnel];
  'tunnel-closed': [ProxyTunnel];
}

/**
 * The callback listener and the registry of this instance's tunnels (W1).
 * `expectAttach` issues a token and a promise of the tunnel the worker will attach with, whichever
 * way it comes (a CONNECT with the token, or {@link TunnelListener.redeem} from a NATS attach).
 */
export class TunnelListener extends EventEmitter<TunnelListenerEvents> {
  readonly #tokens = new TokenTable<ProxyTunnel>();
  /** The current tunnel of each (version, worker ID), by {@link tunnelKey}. */
  readonly #tunnels = new Map<string, ProxyTunnel>();
  /** The current tunnels of each worker ID, whatever their version (at most one per version). */
  readonly #byWorker = new Map<string, Set<ProxyTunnel>>();
  readonly #all = new Set<ProxyTunnel>();
  /** Who dialled each tunnel: the hash of its worker's secret and the version it announced. */
  readonly #identities = new WeakMap<ProxyTunnel, { secretHash: Buffer; versionId: string | undefined }>();
  readonly #server: http.Server | https.Server;
  readonly #options: Required<Omit<TunnelListenerOptions, 'tls' | 'limits' | 'recorder'>>;
  readonly #recorder: TunnelRecorder | undefined;
  /** Receive windows of each tunnel. */
  readonly #windows: TunnelWindows;
  /**
   * Tokens redeemed over NATS, for a token's lifetime: the same worker asking again over the same
   * tunnel (its first reply was lost) is answered as attached, without a second attach.
   */
  readonly #redeemed = new Map<string, { reqId: string; tunnel: ProxyTunnel }>();

  constructor(options: TunnelListenerOptions = {}) {
    super();
    this.#options = {
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 10086,
      tokenTtlMs: options.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULT_TUNNEL_PING_INTERVAL_MS,
    };
    this.#recorder = options.recorder;
    const limits = options.limits;
    this.#windows = {
      streamBytes: limits?.http2StreamWindowBytes ?? DEFAULT_TUNNEL_WINDOWS.streamBytes,
      connectionBytes: limits?.http2ConnectionWindowBytes ?? DEFAULT_TUNNEL_WINDOWS.connectionBytes,
    };
    const serverOptions: http.ServerOptions = limits
      ? {
          headersTimeout: limits.headersTimeoutMs,
          maxHeaderSize: limits.maxHeaderListBytes,
          // Node enforces headersTimeout only when it checks (every 30 s by default): check often
          // enough that a silent or trickling connection goes within a quarter of the timeout's late.
          connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor(limits.headersTimeoutMs / 4))),
        }
      : {};
    const notConnect = (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'CONNECT' });
      res.end(`use CONNECT ${TUNNEL_CONNECT_PATH}\n`);
    };
    this.#server = options.tls
      ? https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key }, notConnect)
      : http.createServer(serverOptions, notConnect);
    this.#server.on('connect', (req, socket, head) => this.#onConnect(req, socket as Socket, head));
    if (limits) this.#server.maxConnections = limits.maxConnections;
  }

  /** Starts listening; resolves with the bound port. @throws the listen error (EADDRINUSE...). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      // exclusive: in a node:cluster child this listener is its own (a tunnel must reach the process that
      // issued its token), never shared with the other processes; no effect outside a cluster.
      this.#server.listen({ port: this.#options.port, host: this.#options.host, exclusive: true }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as AddressInfo).port;
  }

  /** Bound port (after listen). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /**
   * Issues a single-use token for session `reqId` and returns it with a promise of the tunnel the
   * worker attaches with. The promise never rejects: call `cancel` when giving up (it withdraws the token).
   * A CONNECT may redeem the token only within `tokenTtlMs` (W1's 30 s); a NATS attach, or a refresh
   * for a fresh token, until `ttlMs` (how long the ticket may wait).
   * @param bind only this worker (a reconnect names the session's owner, G9) and/or only a worker of
   *   this function version (a ticket's) may redeem it; anyone else gets SY_TUNNEL_WORKER_MISMATCH.
   */
  expectAttach(
    reqId: string,
    ttlMs = this.#options.tokenTtlMs,
    bind: { workerId?: string; versionId?: string } = {},
  ): { token: string; attached: Promise<ProxyTunnel>; cancel(): void } {
    let resolveTunnel!: (t: ProxyTunnel) => void;
    const attached = new Promise<ProxyTunnel>((resolve) => {
      resolveTunnel = resolve;
    });
    const token = this.#tokens.issue(reqId, resolveTunnel, {
      ttlMs,
      connectTtlMs: this.#options.tokenTtlMs,
      workerId: bind.workerId,
      versionId: bind.versionId,
    });
    // A refresh files the pending attach under a new token: cancel withdraws whichever is current.
    return { token, attached, cancel: () => this.#tokens.withdraw(resolveTunnel) };
  }

  /**
   * Redeems `token` for a worker that already has a tunnel here (the NATS attach path of W1). The
   * worker proves its identity with the secret of that tunnel's CONNECT. Asking again with a token it
   * redeemed, for the same request over the same tunnel, succeeds without a second attach: a worker
   * whose reply was lost (a NATS server failing over) retries, and must not drop a session this
   * instance already bound to it.
   * @returns undefined on success, else the catalogue code to answer with: SY_TUNNEL_LOST (no tunnel
   *   of that worker here: dial one), SY_TUNNEL_WORKER_MISMATCH (another worker's ID or secret, or a
   *   token bound to another worker or version), SY_TUNNEL_TOKEN_REJECTED (unknown, used, expired).
   */
  redeem(token: string, workerId: string, workerSecret: string, reqId: string): ErrorCode | undefined {
    const open = this.#openOf(workerId);
    // The caller's own tunnel: the one whose secret it holds (one process serves one version).
    const tunnel = open.find((t) => {
      const hash = this.#identities.get(t)?.secretHash;
      return hash !== undefined && sameSecret(hash, workerSecret);
    });
    const pending = this.#tokens.peek(token);
    if (!tunnel) {
      if (open.length === 0) return 'SY_TUNNEL_LOST';
      // Another process holds this ID: of the token's version (or of any, for a token bound to none)
      // it is a same-version collision; of other versions only, it is no obstacle: dial (issue 8).
      const versionId = pending?.reqId === reqId ? pending.versionId : undefined;
      const collides = versionId === undefined || open.some((t) => this.#identities.get(t)?.versionId === versionId);
      return collides ? 'SY_TUNNEL_WORKER_MISMATCH' : 'SY_TUNNEL_LOST';
    }
    const identity = this.#identities.get(tunnel);
    if (!identity) return 'SY_TUNNEL_WORKER_MISMATCH';
    if (!pending) {
      const used = this.#redeemed.get(token);
      return used?.reqId === reqId && used.tunnel === tunnel ? undefined : 'SY_TUNNEL_TOKEN_REJECTED';
    }
    if (pending.reqId !== reqId) return 'SY_TUNNEL_TOKEN_REJECTED';
    if (!boundTo(pending, workerId, identity.versionId)) return 'SY_TUNNEL_WORKER_MISMATCH';
    const redeemed = this.#tokens.redeem(token);
    if (redeemed) {
      this.#recorder?.tokenUsed(Date.now() - redeemed.issuedAt);
      this.#redeemed.set(token, { reqId, tunnel });
      setTimeout(() => this.#redeemed.delete(token), this.#options.tokenTtlMs).unref();
      redeemed.resolve(tunnel);
    }
    return undefined;
  }

  /**
   * Answers a worker's NATS attach request (W1: a ticket or reconnect for a worker that already has
   * a tunnel here, or `refresh` for a fresh CONNECT token; a worker repeating its refresh with the
   * old token gets the current one, TokenTable.refresh): the request's JSON bytes in, the reply's
   * JSON bytes out (`{ok}`, `{ok, token}` or `{ok:false, code}`).
   */
  answerAttach(data: Uint8Array): Uint8Array {
    let code: ErrorCode | undefined;
    let fresh: string | undefined;
    try {
      const request = decodeMessage(AttachRequestSchema, data);
      if (request.refresh) {
        const pending = this.#tokens.peekForRefresh(request.token, request.workerId);
        if (!pending || pending.reqId !== request.reqId) code = 'SY_TUNNEL_TOKEN_REJECTED';
        else if (pending.workerId !== undefined && pending.workerId !== request.workerId)
          code = 'SY_TUNNEL_WORKER_MISMATCH';
        else fresh = this.#tokens.refresh(request.token, request.workerId);
      } else code = this.redeem(request.token, request.workerId, request.workerSecret, request.reqId);
    } catch {
      code = 'SY_INTERNAL';
    }
    if (code) return encodeMessage({ ok: false, code });
    return encodeMessage(fresh === undefined ? { ok: true } : { ok: true, token: fresh });
  }

  /**
   * The current open tunnel of worker `workerId` serving version `versionId`, if any. Tunnels are kept
   * per (version, worker ID) (issue 8): a worker ID is chosen by the worker, so a worker of another
   * version may hold the same ID here; it has a tunnel of its own and is never returned for this
   * version. Give `versionId` whenever the tunnel is to carry a session's traffic (pinned calls,
   * resume, detach). Without it: the most recently opened tunnel of `workerId` of any version (for
   * logs and tests; never route a session's bytes by it).
   */
  get(workerId: string, versionId?: string): ProxyTunnel | undefined {
    if (versionId === undefined) return this.#openOf(workerId).at(-1);
    const t = this.#tunnels.get(tunnelKey(versionId, workerId));
    return t && !t.closed ? t : undefined;
  }

  /** The open current tunnels of `workerId`, one per version, oldest first. */
  #openOf(workerId: string): ProxyTunnel[] {
    return [...(this.#byWorker.get(workerId) ?? [])].filter((t) => !t.closed);
  }

  /** Number of open tunnels. */
  get size(): number {
    return this.#all.size;
  }

  /** Number of live (unredeemed, unexpired) tokens. */
  get pendingTokens(): number {
    return this.#tokens.size;
  }

  /** Stops accepting CONNECTs and closes every tunnel (GOAWAY, in-flight streams finish). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const t of this.#all) t.close();
    this.#server.closeAllConnections();
    await closed;
  }

  #reject(socket: Socket, code: (typeof CONNECT_REFUSALS)[number]): void {
    const status = httpStatusOf(code);
    this.#recorder?.connectAnswered(status);
    const body = `${ErrorCatalogue[code].message}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\n${TunnelHeaders.errorCode}: ${code}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  #onConnect(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (req.url !== TUNNEL_CONNECT_PATH) {
      this.#recorder?.connectAnswered(404);
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    const auth = req.headers.authorization;
    const match = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
    if (!match) {
      this.#reject(socket, 'SY_TUNNEL_AUTH_MISSING');
      return;
    }
    const workerId = req.headers[TunnelHeaders.workerId];
    if (typeof workerId !== 'string' || !WORKER_ID.test(workerId)) {
      this.#reject(socket, 'SY_TUNNEL_WORKER_ID_INVALID');
      return;
    }
    const secret = req.headers[TunnelHeaders.workerSecret];
    if (typeof secret !== 'string' || secret.length < 16 || secret.length > 256) {
      this.#reject(socket, 'SY_TUNNEL_AUTH_MISSING');
      return;
    }
    const announcedVersion = req.headers[TunnelHeaders.functionVersionId];
    const versionId = typeof announcedVersion === 'string' ? announcedVersion : undefined;
    // No takeover: while a worker's tunnel is open, only the holder of its secret may replace it. Only
    // a tunnel of the same version counts (tunnels are keyed by version and worker ID; boundTo below
    // checks the announced version against the token's). Checked before the token is used, so a
    // refused CONNECT changes nothing here.
    const held = this.#tunnels.get(tunnelKey(versionId, workerId));
    const current = held && !held.closed ? held : undefined;
    const currentIdentity = current ? this.#identities.get(current) : undefined;
    if (currentIdentity && !sameSecret(currentIdentity.secretHash, secret)) {
      this.#reject(socket, 'SY_TUNNEL_WORKER_MISMATCH');
      return;
    }
    const peeked = this.#tokens.peek(match[1], true);
    if (!peeked) {
      this.#reject(socket, 'SY_TUNNEL_TOKEN_REJECTED');
      return;
    }
    if (!boundTo(peeked, workerId, versionId)) {
      this.#reject(socket, 'SY_TUNNEL_WORKER_MISMATCH');
      return;
    }
    const pending = this.#tokens.redeem(match[1], true);
    if (!pending) {
      this.#reject(socket, 'SY_TUNNEL_TOKEN_REJECTED');
      return;
    }

    this.#recorder?.connectAnswered(200);
    this.#recorder?.tokenUsed(Date.now() - pending.issuedAt);
    // The HTTP/2 session is set up only once the 200 is written: on a TLS socket, node:http2 fails an
    // assertion when its session takes the socket while the TLS layer still writes the answer.
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n', (err) => {
      // A socket gone before the 200 was out: the caller waiting on the token gives up by its own timeout.
      if (err || socket.destroyed) {
        socket.destroy();
        return;
      }
      this.#openTunnel(req, socket, head, workerId, secret, versionId, pending);
    });
  }

  /** Registers the tunnel of an accepted CONNECT (after its 200 is written) and hands it to the token's waiter. */
  #openTunnel(
    req: http.IncomingMessage,
    socket: Socket,
    head: Buffer,
    workerId: string,
    secret: string,
    versionId: string | undefined,
    pending: PendingAttach<ProxyTunnel>,
  ): void {
    if (head.length > 0) socket.unshift(head);
    const announced = req.headers[TunnelHeaders.features];
    const features = typeof announced === 'string' ? announced.split(',').map((f) => f.trim()) : [];
    const tunnel = new ProxyTunnel(workerId, socket, this.#options.pingIntervalMs, features, this.#windows);
    // The version the token was bound to (checked equal to the announced one by boundTo).
    const boundVersion = pending.versionId ?? versionId;
    this.#identities.set(tunnel, { secretHash: hashSecret(secret), versionId: boundVersion });
    this.#all.add(tunnel);
    const key = tunnelKey(boundVersion, workerId);
    const previous = this.#tunnels.get(key);
    this.#tunnels.set(key, tunnel);
    const ofWorker = this.#byWorker.get(workerId) ?? new Set<ProxyTunnel>();
    if (previous) ofWorker.delete(previous);
    ofWorker.add(tunnel);
    this.#byWorker.set(workerId, ofWorker);
    // A worker re-dialled (its old tunnel looked alive to us): the old one finishes its streams and goes.
    if (previous && previous !== tunnel) previous.close(true);
    this.#recorder?.opened();
    tunnel.once('close', () => {
      this.#recorder?.closed(tunnel.closeReasonKind);
      this.#all.delete(tunnel);
      if (this.#tunnels.get(key) === tunnel) {
        this.#tunnels.delete(key);
        ofWorker.delete(tunnel);
        if (ofWorker.size === 0 && this.#byWorker.get(workerId) === ofWorker) this.#byWorker.delete(workerId);
      }
      this.emit('tunnel-closed', tunnel);
    });
    this.emit('tunnel', tunnel);
    pending.resolve(tunnel);
  }
}
