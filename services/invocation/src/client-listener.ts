// The client listener (default 8080): HTTP/1.1 and cleartext HTTP/2 (prior knowledge) on one TCP
// port, or TLS with ALPN h2 and http/1.1 when a certificate is configured. Every request, whichever
// protocol, reaches the same handler: the servers' own 'request' listener, with no web framework
// between the socket and the relay (issue 12: fastify's routing, Request/Reply objects and
// content-type pass served a catch-all route that hijacked every reply; bench/RESULTS.md session 17
// has what its removal measured). Cleartext: the first bytes decide (the HTTP/2 preface starts with
// "PRI"); node's allowHTTP1 works only with TLS. Idle connections (no request in flight) are closed
// after idleTimeoutMs; a request in flight is never cut by it (H7): HTTP/2 PINGs are answered by node
// and keep the socket busy.

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type tls from 'node:tls';
import {
  capConnections,
  guardHttp1Headers,
  guardHttp2ErrorCodes,
  guardHttp2FirstStream,
  h1ServerLimits,
  h2ServerLimits,
  SniffedProtocol,
  type SocketLimits,
  sniffClientProtocol,
  widenConnectionWindow,
} from '@switchyard/tunnel';

/** A request handler that takes both protocols: called once per request, must not throw. */
export type ClientHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Options of {@link ClientListener}. */
export interface ClientListenerOptions {
  /** Close a connection with no request in flight after this (ms); 0 = never. */
  idleTimeoutMs: number;
  /** Resource bounds (first byte, headers, connections, streams, header list, session memory). */
  limits: SocketLimits;
  /** PEM files: TLS with ALPN h2 + http/1.1 when both are set. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /**
   * A client connection of `protocol` (`h2`, `http1`) opened (metrics); the returned function is called
   * once when it closes. @default none
   */
  onConnection?: (protocol: 'h2' | 'http1') => () => void;
}

/** Listener of client connections; `listen()` opens `server`, `drain()` closes it. */
export class ClientListener {
  /** The listening server: a sniffing net.Server (cleartext) or an Http2SecureServer (TLS). */
  readonly server: net.Server;
  readonly #h1: http.Server | undefined;
  readonly #h2: http2.Http2Server | http2.Http2SecureServer;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  /**
   * HTTP/1.1 sockets and their requests in flight. Tracked here: node's http.Server tracks only the
   * connections it accepted itself, not those handed over by the sniffer.
   */
  readonly #h1Sockets = new Map<net.Socket, number>();
  /** HTTP/1.1 sockets that have answered at least one request (idle ones may be closed at drain). */
  readonly #h1Served = new WeakSet<net.Socket>();
  readonly #options: ClientListenerOptions;
  #guardHeaders: ((socket: net.Socket) => void) | undefined;
  #draining = false;

  constructor(handler: ClientHandler, options: ClientListenerOptions) {
    this.#options = options;
    const h2Options = h2ServerLimits(options.limits);
    if (options.tlsCertFile && options.tlsKeyFile) {
      this.#h2 = http2.createSecureServer(
        {
          ...h2Options,
          cert: readFileSync(options.tlsCertFile),
          key: readFileSync(options.tlsKeyFile),
          allowHTTP1: true,
          ALPNProtocols: ['h2', 'http/1.1'],
        },
        handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
      );
      this.server = this.#h2;
      this.#h1 = undefined;
      // HTTP/2 connections are counted per session; the others (ALPN http/1.1 or none) here.
      this.#h2.on('secureConnection', (socket: tls.TLSSocket) => {
        if (socket.alpnProtocol !== 'h2') this.#countHttp1(socket);
      });
    } else {
      this.#h2 = http2.createServer(
        h2Options,
        handler as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
      );
      this.#h1 = http.createServer(
        {
          // Large uploads and long calls: no whole-request deadline (requestTimeoutMs is ours).
          requestTimeout: 0,
          ...h1ServerLimits(options.limits),
          keepAliveTimeout: options.idleTimeoutMs,
          noDelay: true,
        },
        (req, res) => this.#onHttp1Request(req, res, handler),
      );
      this.#h1.timeout = 0;
      this.#guardHeaders = guardHttp1Headers(this.#h1, options.limits);
      this.server = net.createServer({ noDelay: true }, (socket) => this.#sniff(socket));
    }
    capConnections(this.server, options.limits);
    this.#h2.on('session', (session) => this.#onSession(session));
  }

  /**
   * Starts listening on `host`:`port` (0 = any free port); resolves with the bound port.
   * @throws the listen error (EADDRINUSE, EACCES...).
   */
  async listen(port: number, host: string): Promise<number> {
    this.server.listen(port, host);
    // 'listening', or the listen error as a rejection.
    await once(this.server, 'listening');
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Open HTTP/2 client connections. */
  get connectionCount(): number {
    return this.#sessions.size;
  }

  /**
   * HTTP/1.1 connections whose first request has begun to arrive (the sniffer read its first bytes)
   * but has not reached the handler yet: a drain waits for them, as for requests in flight.
   */
  get pendingHttp1(): number {
    let n = 0;
    for (const [socket, inFlight] of this.#h1Sockets) if (inFlight === 0 && !this.#h1Served.has(socket)) n++;
    return n;
  }

  /**
   * Drains: the listening socket closes (new connections are refused, so clients and load balancers
   * go to another instance), GOAWAY on HTTP/2 connections, idle kept-alive HTTP/1.1 connections closed;
   * a connection whose request has begun to arrive is answered (`Connection: close`), never reset.
   * After `graceMs` every connection is destroyed.
   */
  drain(graceMs: number): void {
    this.#draining = true;
    if (this.server.listening) this.server.close(() => undefined);
    for (const s of this.#sessions) if (!s.closed) s.close();
    for (const [socket, inFlight] of this.#h1Sockets)
      if (inFlight === 0 && this.#h1Served.has(socket)) socket.destroy();
    const force = setTimeout(() => this.destroyAll(), graceMs);
    force.unref();
  }

  /** Destroys every connection now. */
  destroyAll(): void {
    for (const s of this.#sessions) s.destroy();
    for (const socket of this.#h1Sockets.keys()) socket.destroy();
  }

  /** Counts an HTTP/1.1 connection until its socket closes. */
  #countHttp1(socket: net.Socket): void {
    const onConnection = this.#options.onConnection;
    if (onConnection !== undefined) socket.once('close', onConnection('http1'));
  }

  #onHttp1Request(req: http.IncomingMessage, res: http.ServerResponse, handler: ClientHandler): void {
    const socket = req.socket;
    this.#h1Sockets.set(socket, (this.#h1Sockets.get(socket) ?? 0) + 1);
    if (this.#draining) res.shouldKeepAlive = false;
    res.once('close', () => {
      this.#h1Served.add(socket);
      const left = (this.#h1Sockets.get(socket) ?? 1) - 1;
      if (!this.#h1Sockets.has(socket)) return;
      this.#h1Sockets.set(socket, left);
      if (this.#draining && left === 0) socket.destroy();
    });
    handler(req, res);
  }

  #sniff(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    sniffClientProtocol(socket, this.#options.limits, (protocol) => {
      if (protocol === SniffedProtocol.Http2) {
        // The HTTP/2 session reads the bytes already buffered on the socket itself: no resume here.
        this.#h2.emit('connection', socket);
      } else {
        this.#countHttp1(socket);
        this.#h1Sockets.set(socket, 0);
        socket.once('close', () => this.#h1Sockets.delete(socket));
        this.#guardHeaders?.(socket);
        this.#h1?.emit('connection', socket);
        socket.resume();
      }
    });
  }

  #onSession(session: http2.ServerHttp2Session): void {
    this.#sessions.add(session);
    const closed = this.#options.onConnection?.('h2');
    if (closed !== undefined) session.once('close', closed);
    widenConnectionWindow(session, this.#options.limits.http2ConnectionWindowBytes);
    guardHttp2FirstStream(session, this.#options.limits);
    guardHttp2ErrorCodes(session);
    let open = 0;
    let idle: NodeJS.Timeout | undefined;
    const idleMs = this.#options.idleTimeoutMs;
    const arm = () => {
      if (idleMs <= 0) return;
      if (idle) idle.refresh();
      else {
        idle = setTimeout(() => {
          if (open === 0 && !session.closed) session.close();
        }, idleMs);
        idle.unref();
      }
    };
    arm();
    session.on('stream', (stream) => {
      open++;
      if (idle) {
        clearTimeout(idle);
        idle = undefined;
      }
      stream.once('close', () => {
        open--;
        if (open === 0) arm();
      });
    });
    session.on('error', () => {
      // 'close' follows.
    });
    session.once('close', () => {
      if (idle) clearTimeout(idle);
      this.#sessions.delete(session);
    });
  }
}
