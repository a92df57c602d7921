// The proxy end of worker tunnels (W1): the callback listener that accepts `CONNECT /v1/proxy`, checks
// the single-use token and worker ID, answers 200 and then speaks HTTP/2 as the *client* over the
// socket the worker dialled. One tunnel per worker is kept current; every session and call between the
// worker and this instance shares it.

import { EventEmitter } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
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
import { DEFAULT_MAX_SESSION_MEMORY_MB, H2_SETTINGS, widenConnectionWindow } from './h2-settings.ts';
import { TunnelEnd } from './tunnel-end.ts';
import { DEFAULT_TUNNEL_PING_INTERVAL_MS } from './tunnel-ping.ts';
import { DEFAULT_TOKEN_TTL_MS, TokenTable } from './tunnel-token.ts';

/** Worker IDs: a NATS-token-safe name of at most 128 characters. */
const WORKER_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * One tunnel as the proxy sees it: an HTTP/2 client session to a worker. Emits `close` once it takes no
 * new streams (GOAWAY sent or received, PINGs unanswered, socket gone); streams in flight after a
 * GOAWAY still finish on `session`.
 */
export class ProxyTunnel extends TunnelEnd<http2.ClientHttp2Session> {
  /** Worker that dialled this tunnel (X-Worker-ID). */
  readonly workerId: string;
  /** Features the worker announced when it dialled (`x-switchyard-features`; `TunnelFeatures` values). */
  readonly features: ReadonlySet<string>;

  /** @param features the worker's announced features. @default none */
  constructor(workerId: string, socket: Socket, pingIntervalMs: number, features: Iterable<string> = []) {
    super(clientSessionOver(workerId, socket, pingIntervalMs), pingIntervalMs);
    this.workerId = workerId;
    this.features = new Set(features);
  }
}

/** The proxy's HTTP/2 client session over the socket a worker dialled. */
function clientSessionOver(workerId: string, socket: Socket, pingIntervalMs: number): http2.ClientHttp2Session {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, pingIntervalMs);
  // Sockets of an http.Server are half-open; a worker that dies sends FIN and nothing more, so the
  // tunnel must close on 'end' rather than wait for the PING check (calls would hang meanwhile).
  socket.allowHalfOpen = false;
  socket.once('end', () => socket.destroy());
  const session = http2.connect(`http://${workerId}.tunnel`, {
    createConnection: () => socket,
    settings: H2_SETTINGS,
    maxSessionMemory: DEFAULT_MAX_SESSION_MEMORY_MB,
    peerMaxConcurrentStreams: 2 ** 31 - 1,
  });
  widenConnectionWindow(session);
  return session;
}

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
  readonly #tunnels = new Map<string, ProxyTunnel>();
  readonly #all = new Set<ProxyTunnel>();
  readonly #server: http.Server;
  readonly #options: Required<TunnelListenerOptions>;

  constructor(options: TunnelListenerOptions = {}) {
    super();
    this.#options = {
      host: options.host ?? '0.0.0.0',
      port: options.port ?? 10086,
      tokenTtlMs: options.tokenTtlMs ?? DEFAULT_TOKEN_TTL_MS,
      pingIntervalMs: options.pingIntervalMs ?? DEFAULT_TUNNEL_PING_INTERVAL_MS,
    };
    this.#server = http.createServer((_req, res) => {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'CONNECT' });
      res.end(`use CONNECT ${TUNNEL_CONNECT_PATH}\n`);
    });
    this.#server.on('connect', (req, socket, head) => this.#onConnect(req, socket as Socket, head));
  }

  /** Starts listening; resolves with the bound port. @throws the listen error (EADDRINUSE...). */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
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
   */
  expectAttach(
    reqId: string,
    ttlMs = this.#options.tokenTtlMs,
  ): { token: string; attached: Promise<ProxyTunnel>; cancel(): void } {
    let resolveTunnel!: (t: ProxyTunnel) => void;
    const attached = new Promise<ProxyTunnel>((resolve) => {
      resolveTunnel = resolve;
    });
    const token = this.#tokens.issue(reqId, resolveTunnel, ttlMs);
    return { token, attached, cancel: () => this.#tokens.revoke(token) };
  }

  /**
   * Redeems `token` for a worker that already has a tunnel here (the NATS attach path of W1).
   * @returns undefined on success, else the catalogue code to answer with.
   */
  redeem(token: string, workerId: string, reqId: string): ErrorCode | undefined {
    const tunnel = this.get(workerId);
    if (!tunnel) return 'SY_TUNNEL_LOST';
    const pending = this.#tokens.redeem(token);
    if (!pending || pending.reqId !== reqId) return 'SY_TUNNEL_TOKEN_REJECTED';
    pending.resolve(tunnel);
    return undefined;
  }

  /**
   * Answers a worker's NATS attach request (W1: a ticket or reconnect for a worker that already has
   * a tunnel here): the request's JSON bytes in, the reply's JSON bytes out (`{ok}` or `{ok:false, code}`).
   */
  answerAttach(data: Uint8Array): Uint8Array {
    let code: ErrorCode | undefined;
    try {
      const request = decodeMessage(AttachRequestSchema, data);
      code = this.redeem(request.token, request.workerId, request.reqId);
    } catch {
      code = 'SY_INTERNAL';
    }
    return encodeMessage(code ? { ok: false, code } : { ok: true });
  }

  /** The current open tunnel of `workerId`, if any. */
  get(workerId: string): ProxyTunnel | undefined {
    const t = this.#tunnels.get(workerId);
    return t && !t.closed ? t : undefined;
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

  #reject(socket: Socket, code: ErrorCode): void {
    const status = httpStatusOf(code);
    const body = `${ErrorCatalogue[code].message}\n`;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }

  #onConnect(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (req.url !== TUNNEL_CONNECT_PATH) {
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
    const pending = this.#tokens.redeem(match[1]);
    if (!pending) {
      this.#reject(socket, 'SY_TUNNEL_TOKEN_REJECTED');
      return;
    }

    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const announced = req.headers[TunnelHeaders.features];
    const features = typeof announced === 'string' ? announced.split(',').map((f) => f.trim()) : [];
    const tunnel = new ProxyTunnel(workerId, socket, this.#options.pingIntervalMs, features);
    this.#all.add(tunnel);
    const previous = this.#tunnels.get(workerId);
    this.#tunnels.set(workerId, tunnel);
    // A worker re-dialled (its old tunnel looked alive to us): the old one finishes its streams and goes.
    if (previous && previous !== tunnel) previous.close();
    tunnel.once('close', () => {
      this.#all.delete(tunnel);
      if (this.#tunnels.get(workerId) === tunnel) this.#tunnels.delete(workerId);
      this.emit('tunnel-closed', tunnel);
    });
    this.emit('tunnel', tunnel);
    pending.resolve(tunnel);
  }
}
