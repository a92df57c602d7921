// The client listener (default 10081): one TCP port for gRPC over h2c and for HTTP/1.1 requests
// (non-gRPC clients, CORS preflights). The first bytes decide: the HTTP/2 preface goes to the HTTP/2
// server, anything else to the HTTP/1.1 server. With a certificate the port speaks TLS only and
// ALPN decides instead: h2 to the HTTP/2 server, http/1.1 (CORS, WebSocket G12) to the HTTP/1.1 server.
// Idle HTTP/2 connections get GOAWAY (G11).

import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { TlsFilePair } from '@switchyard/config';
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

/** Options of {@link ClientListener}. */
export interface ClientListenerOptions {
  host: string;
  port: number;
  /** Close an HTTP/2 connection with no open stream after this long (ms, G11); 0 = never. */
  idleTimeoutMs: number;
  /** Certificate and key: the port speaks TLS only (ALPN h2 and http/1.1); undefined = cleartext (h2c sniffing). */
  tls?: TlsFilePair;
  /** Resource bounds (first byte, headers, connections, streams, header list, session memory). */
  limits: SocketLimits;
  /**
   * Every HTTP/2 stream, with its request headers as an object and as node:http2 received them (the
   * flat list `[name, value, ...]`, lower-case names, in order).
   */
  onStream: (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    flags: number,
    rawHeaders: string[],
  ) => void;
  /** Every HTTP/1.1 request. */
  onHttp1Request: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Every HTTP/1.1 request with `Upgrade` (WebSocket, G12): the socket is the handler's from now on. */
  onUpgrade?: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** A client HTTP/2 connection closed (its sessions are released). */
  onSessionClose: (session: http2.ServerHttp2Session) => void;
  /**
   * A client connection of `protocol` (`h2`, `http1`) opened (metrics); the returned function is called
   * once when it closes. @default none
   */
  onConnection?: (protocol: 'h2' | 'http1') => () => void;
}

/** Number of open streams and the idle timer of a client connection. */
interface ConnectionState {
  open: number;
  /** (Re)starts the idle timer; called when the last open stream closes. */
  readonly arm: () => void;
}

/** The ConnectionState of a client stream's connection, set when the stream opens. */
const kConnection = Symbol('switchyard.client.connection');

/** 'close' listener of every client stream (shared: no closure per stream). */
function onClientStreamClose(this: http2.ServerHttp2Stream & { [kConnection]: ConnectionState }): void {
  const state = this[kConnection];
  if (--state.open === 0) state.arm();
}

/** Listener of client connections (gRPC h2c and HTTP/1.1 on one port). */
export class ClientListener {
  readonly #server: net.Server;
  readonly #h2: http2.Http2Server;
  readonly #h1: http.Server;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #options: ClientListenerOptions;
  readonly #guardHeaders: (socket: net.Socket) => void;

  constructor(options: ClientListenerOptions) {
    this.#options = options;
    this.#h2 = http2.createServer(h2ServerLimits(options.limits));
    this.#h2.on('session', (session) => this.#onSession(session));
    this.#h2.on('stream', options.onStream);
    this.#h1 = http.createServer(h1ServerLimits(options.limits), options.onHttp1Request);
    this.#guardHeaders = guardHttp1Headers(this.#h1, options.limits);
    if (options.onUpgrade) this.#h1.on('upgrade', options.onUpgrade);
    this.#h1.keepAliveTimeout = options.idleTimeoutMs || 5_000;
    this.#server = options.tls
      ? tls.createServer({ ...options.tls, ALPNProtocols: ['h2', 'http/1.1'], noDelay: true }, (socket) =>
          this.#byAlpn(socket),
        )
      : net.createServer({ noDelay: true }, (socket) => this.#sniff(socket));
    capConnections(this.#server, options.limits);
  }

  /** Starts listening; resolves with the bound port. @throws the listen error. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#options.port, this.#options.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Open HTTP/2 client connections. */
  get connectionCount(): number {
    return this.#sessions.size;
  }

  /** Sends GOAWAY on every connection and stops accepting; resolves when the listener is closed. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sessions) s.close();
    this.#h1.closeAllConnections();
    setTimeout(() => {
      for (const s of this.#sessions) s.destroy();
    }, 5_000).unref();
    await closed;
  }

  /** A TLS connection: the protocol the client chose with ALPN (none = HTTP/1.1). */
  #byAlpn(socket: tls.TLSSocket): void {
    socket.on('error', () => socket.destroy());
    if (socket.alpnProtocol === 'h2') this.#h2.emit('connection', socket);
    else {
      this.#countHttp1(socket);
      this.#h1.emit('connection', socket);
    }
  }

  /** Counts an HTTP/1.1 connection until its socket closes (HTTP/2 ones are counted per session). */
  #countHttp1(socket: net.Socket): void {
    const onConnection = this.#options.onConnection;
    if (onConnection !== undefined) socket.once('close', onConnection('http1'));
  }

  #sniff(socket: net.Socket): void {
    socket.on('error', () => socket.destroy());
    sniffClientProtocol(socket, this.#options.limits, (protocol) => {
      if (protocol === SniffedProtocol.Http2) {
        // The HTTP/2 session reads the bytes already buffered on the socket itself.
        this.#h2.emit('connection', socket);
      } else {
        this.#countHttp1(socket);
        this.#guardHeaders(socket);
        this.#h1.emit('connection', socket);
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
    // One idle timer per connection, re-armed (refresh) each time its last stream closes; a stream
    // opening does not stop it: when it fires with streams open it does nothing.
    const idleMs = this.#options.idleTimeoutMs;
    let idle: NodeJS.Timeout | undefined;
    const state: ConnectionState = {
      open: 0,
      arm: () => {
        if (idleMs <= 0) return;
        if (idle) idle.refresh();
        else {
          idle = setTimeout(() => {
            if (state.open === 0 && !session.closed) session.close();
          }, idleMs);
          idle.unref();
        }
      },
    };
    state.arm();
    session.on('stream', (stream: http2.ServerHttp2Stream & { [kConnection]: ConnectionState }) => {
      state.open++;
      stream[kConnection] = state;
      stream.on('close', onClientStreamClose);
    });
    session.on('error', () => {
      // 'close' follows.
    });
    session.once('close', () => {
      if (idle) clearTimeout(idle);
      this.#sessions.delete(session);
      this.#options.onSessionClose(session);
    });
  }
}
