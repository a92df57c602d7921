// WebSocket clients on the client listener (G12): an HTTP/1.1 Upgrade is authenticated (credentials
// may ride in Sec-WebSocket-Protocol), bound to a session like a gRPC call (resumed or allocated),
// and carried over the worker's tunnel as one HTTP/2 stream marked `x-switchyard-upgrade: websocket`.
// The container answers the upgrade; from then on raw bytes are piped both ways, frames never decoded.
// Tracing (websocket-span.ts): a SERVER span continuing the Upgrade request's `traceparent`, active
// while the session is bound, and a tunnel CLIENT span whose context the worker receives.

import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Authorization, CallEndCode, ControlStore, OpenCalls } from '@switchyard/control-store';
import {
  ErrorCatalogue,
  type ErrorCode,
  httpStatusOf,
  isSwitchyardError,
  Metadata,
  PROBLEM_CONTENT_TYPE,
  problemDocument,
  retryAfterOf,
  SwitchyardError,
  TunnelHeaders,
} from '@switchyard/protocol';
import type { KeyConcurrency } from '@switchyard/rate-limit';
import { ClientProtocol, context, type FrontEndMetrics } from '@switchyard/telemetry';
import { FrameBoundary, forwardHeaders, type ProxyTunnel } from '@switchyard/tunnel';
import { type FrontEndLink, isControlPath } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { containerSubprotocols, webSocketCredentials } from './client-websocket-credentials.ts';
import { CLEAR_SESSION_COOKIE, corsHeaders, requestedSessionId, sessionCookie } from './request-id.ts';
import type { SessionAllocator } from './session-allocate.ts';
import type { SessionResumer } from './session-resume.ts';
import type { LocalSession, SessionHolder, SessionTable } from './session-table.ts';
import { WebSocketTrace } from './websocket-span.ts';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** The marker value of {@link TunnelHeaders.upgrade}, and the only `Upgrade` accepted. */
const WEBSOCKET = 'websocket';

/** Client headers never forwarded to a worker: the API key, ours, and those set again below. */
const DROP_TO_WORKER: ReadonlySet<string> = new Set([
  Metadata.authorization,
  Metadata.requestId,
  Metadata.secWebSocketProtocol,
  ...Object.values(TunnelHeaders),
]);

/** Response fields of the worker's answer that are not passed to the client as they are. */
const DROP_FROM_WORKER: ReadonlySet<string> = new Set([
  'connection',
  'upgrade',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  Metadata.requestId,
  TunnelHeaders.upgrade,
]);

/** HTTP status each client socket was answered (101 once switched), for its span. */
const answerStatus = new WeakMap<Duplex, number>();

/** A session bound for a WebSocket, with the tunnel to its worker. */
export interface BoundSession {
  session: LocalSession;
  tunnel: ProxyTunnel;
  /** True when allocated for this WebSocket (the answer sets the cookie, G5). */
  isNew: boolean;
}

/** What {@link WebSocketGateway} needs. */
export interface WebSocketGatewayDeps {
  /** Keys, functions and versions: authenticates callers (G1, G2). */
  control: ControlStore;
  /** Structured log; carries no API key. */
  logger: Logger;
  /** The worker link: tickets, attach, resume, detach, evict, tunnels. */
  link: FrontEndLink;
  /** A WebSocket holds its session while open (the worker stays attached, S1); an ended one closes it (S3). */
  sessions: SessionTable;
  /** New sessions (flow 1, G10, S4). */
  allocator: SessionAllocator;
  /** Sessions named by request ID (flow 3, G7-G9, G15). */
  resumer: SessionResumer;
  /** Calls in progress by API key: a revoked key's WebSocket is closed (1008, issue 8). */
  openCalls: OpenCalls;
  /**
   * Longest wait (ms) for the container's answer to the upgrade once the tunnel stream is open (G12);
   * then the client gets 504 SY_REQUEST_TIMEOUT and the stream is cancelled.
   */
  handshakeTimeoutMs: number;
  /** Rejections and WebSocket connections (metrics). */
  metrics: FrontEndMetrics;
  /** Open WebSockets per API key (issue 11 item 2): one more gets 429 SY_KEY_WEBSOCKETS_EXCEEDED. @default unlimited */
  keyWebSockets?: KeyConcurrency;
}

/**
 * WebSocket close code (RFC 6455 7.4.1) for a WebSocket ended because its key may no longer be used:
 * 1008 policy violation (revoked, deleted or re-scoped key), 1013 try again later (control data
 * unavailable, so a revocation may have been missed).
 */
const CLOSE_FOR: Record<CallEndCode, { code: number; reason: string }> = {
  SY_AUTH_INVALID: { code: 1008, reason: 'API key revoked' },
  SY_AUTH_FORBIDDEN: { code: 1008, reason: 'API key not allowed' },
  SY_CONTROL_UNAVAILABLE: { code: 1013, reason: 'control store unavailable' },
};

/** Handles `upgrade` events of the client listener's HTTP/1.1 server (G12). */
export class WebSocketGateway {
  readonly #deps: WebSocketGatewayDeps;
  readonly #open = new Set<Duplex>();
  #closing = false;

  constructor(deps: WebSocketGatewayDeps) {
    this.#deps = deps;
  }

  /** Open client WebSockets (and upgrades being bound). */
  get openCount(): number {
    return this.#open.size;
  }

  /** Destroys every client WebSocket; upgrades from now on get 503 (proxy shutdown). */
  close(): void {
    this.#closing = true;
    for (const socket of this.#open) socket.destroy();
  }

  /**
   * One HTTP/1.1 Upgrade request. Errors before the upgrade get an HTTP answer with the G3 status
   * and CORS headers (G14), and NOT_FOUND clears the cookie (G8). After the upgrade, the socket is
   * the session's holder until it closes; an ended session (S3) closes it. Its SERVER span ends when
   * the connection closes.
   */
  handle(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => undefined);
    this.#open.add(socket);
    const call = new WebSocketTrace(req);
    onSocketClose(socket, () => {
      this.#open.delete(socket);
      call.end(answerStatus.get(socket));
    });
    context
      .with(call.ctx, () => this.#upgrade(req, socket, head, call))
      .catch((err: unknown) => {
        this.#deps.logger.error({ err }, 'unexpected error handling a WebSocket upgrade');
        socket.destroy();
      });
  }

  async #upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, call: WebSocketTrace): Promise<void> {
    const cors = corsHeaders(req.headers.origin) as http.OutgoingHttpHeaders;
    if (String(req.headers.upgrade).toLowerCase() !== WEBSOCKET) {
      writeError(socket, 'SY_REQUEST_INVALID', cors, 'only Upgrade: websocket is supported');
      return;
    }
    if (this.#closing) {
      this.#deps.metrics.answeredError('SY_SHUTTING_DOWN');
      writeError(socket, 'SY_SHUTTING_DOWN', cors);
      return;
    }
    if (isControlPath(req.url)) {
      writeError(socket, 'SY_ROUTE_NOT_FOUND', cors);
      return;
    }
    let bound: BoundSession;
    let signal: AbortSignal | undefined;
    try {
      const credentials = webSocketCredentials(req.headers);
      const auth = await this.#deps.control.authorizeFresh(credentials);
      call.authorized(auth);
      // A place among the key's open WebSockets, given back when the socket closes (issue 11 item 2).
      const release = this.#deps.keyWebSockets ? this.#deps.keyWebSockets.acquire(auth.key.keyId) : () => {};
      if (!release) throw new SwitchyardError('SY_KEY_WEBSOCKETS_EXCEEDED');
      onSocketClose(socket, release);
      // Ends the WebSocket if its key is revoked (or control data goes stale) while it is open (issue 8).
      signal = this.#deps.openCalls.track(auth.key.keyId, auth.fn.functionId, socket);
      bound = await this.#bind(auth, requestedSessionId(req.headers), Boolean(credentials.versionId));
      if (signal.aborted) throw new SwitchyardError(signal.reason as CallEndCode);
    } catch (err) {
      const code: ErrorCode = isSwitchyardError(err) ? err.code : 'SY_INTERNAL';
      if (!isSwitchyardError(err)) this.#deps.logger.error({ err }, 'unexpected error binding a WebSocket');
      this.#deps.metrics.answeredError(code);
      writeError(
        socket,
        code,
        code === 'SY_SESSION_NOT_FOUND' ? { ...cors, 'set-cookie': CLEAR_SESSION_COOKIE } : cors,
      );
      return;
    }
    const { session, tunnel, isNew } = bound;
    const holder = new WebSocketHolder(socket);
    const { sessions } = this.#deps;
    sessions.hold(session, holder);
    onSocketClose(socket, () => sessions.release(session, holder));
    if (holder.closed) {
      sessions.release(session, holder);
      return;
    }
    signal.addEventListener(
      'abort',
      () => {
        const close = CLOSE_FOR[signal.reason as CallEndCode] ?? CLOSE_FOR.SY_AUTH_INVALID;
        if (holder.ending) holder.ending(close.code, close.reason);
        else writeError(socket, signal.reason as ErrorCode, cors);
      },
      { once: true },
    );
    this.#relay(req, socket, head, { session, tunnel, isNew }, cors, holder, call);
  }

  /**
   * Binds a session exactly like a gRPC call without a pin: resumes `requested` (G7-G9, G15) or
   * allocates (flow 1, G10, S4), and finds the tunnel to its worker. Nothing is pinned (G12).
   * @throws SwitchyardError with the code the client gets.
   */
  async #bind(auth: Authorization, requested: string | undefined, versionGiven: boolean): Promise<BoundSession> {
    const session = requested
      ? await this.#deps.resumer.resume(requested, auth, versionGiven)
      : await this.#deps.allocator.allocate(auth, undefined);
    const tunnel = await this.#deps.link.tunnelFor(session.reqId, session);
    return { session, tunnel, isNew: !requested };
  }

  /**
   * Opens the tunnel stream (with `call`'s tunnel span) and answers the client with the container's
   * answer to the upgrade.
   */
  #relay(
    req: http.IncomingMessage,
    socket: Duplex,
    head: Buffer,
    { session, tunnel, isNew }: BoundSession,
    cors: http.OutgoingHttpHeaders,
    holder: WebSocketHolder,
    call: WebSocketTrace,
  ): void {
    const protocols = containerSubprotocols(req.headers[Metadata.secWebSocketProtocol]);
    const requestHeaders = forwardHeaders(req.headers as http2.IncomingHttpHeaders, DROP_TO_WORKER, {
      ':method': 'GET',
      ':path': req.url ?? '/',
      ':scheme': 'http',
      ':authority': req.headers.host ?? 'localhost',
      [Metadata.requestId]: session.reqId,
      [TunnelHeaders.upgrade]: WEBSOCKET,
      ...(protocols ? { [Metadata.secWebSocketProtocol]: protocols } : {}),
    });
    call.startTunnel(session.reqId, tunnel.workerId, requestHeaders);
    let stream: http2.ClientHttp2Stream;
    try {
      stream = tunnel.session.request(requestHeaders, { endStream: false });
    } catch {
      call.tunnelFailed('SY_TUNNEL_LOST');
      call.endTunnel(false);
      writeError(socket, 'SY_TUNNEL_LOST', cors);
      return;
    }
    stream.on('error', () => undefined);
    // Registered before the relay's own close handling: the tunnel span sees the stream as it ended.
    stream.once('close', () => call.endTunnel(socket.destroyed));
    // Bytes a client sent right behind its request wait in the stream until the container switched.
    if (head.length > 0) stream.write(head);
    const ours: http.OutgoingHttpHeaders = isNew
      ? { [Metadata.requestId]: session.reqId, 'set-cookie': sessionCookie(session.reqId) }
      : { [Metadata.requestId]: session.reqId };
    let answered = false;
    // A container that holds the Upgrade and never answers must not hold the client forever.
    const handshake = setTimeout(() => {
      if (answered) return;
      answered = true;
      call.tunnelFailed('SY_REQUEST_TIMEOUT');
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
      if (!socket.destroyed) writeError(socket, 'SY_REQUEST_TIMEOUT', cors);
    }, this.#deps.handshakeTimeoutMs);
    handshake.unref();
    stream.once('response', (headers) => {
      clearTimeout(handshake);
      if (answered) return;
      answered = true;
      if (socket.destroyed) {
        stream.close(NGHTTP2_CANCEL);
        return;
      }
      if (headers[TunnelHeaders.upgrade] === WEBSOCKET) {
        call.tunnelAnswered('switched');
        answerStatus.set(socket, 101);
        socket.write(responseHead(101, { upgrade: WEBSOCKET, connection: 'Upgrade' }, headers, ours));
        onSocketClose(socket, this.#deps.metrics.connectionOpened(ClientProtocol.websocket));
        holder.ending = splice(socket, stream, head, call);
        return;
      }
      // The container (or the worker) refused the upgrade: its answer, then the connection ends.
      const status = Number(headers[':status']) || 502;
      call.tunnelAnswered(status);
      answerStatus.set(socket, status);
      socket.write(responseHead(status, { ...cors, connection: 'close' }, headers, ours));
      stream.pipe(socket);
      // Nothing more goes to the container: our side ends, so the stream closes once its answer did.
      stream.end();
      onSocketClose(socket, () => {
        if (!stream.closed) stream.close(NGHTTP2_CANCEL);
      });
    });
    stream.once('close', () => {
      clearTimeout(handshake);
      if (answered || socket.destroyed) return;
      writeError(socket, 'SY_TUNNEL_LOST', cors);
    });
    onSocketClose(socket, () => {
      if (!answered && !stream.closed) stream.close(NGHTTP2_CANCEL);
    });
  }
}

/**
 * A client WebSocket as a session holder. Closing it (S3) after the upgrade ends the WebSocket with a
 * close frame when the relay is between frames; before, or mid-frame, the TCP connection is closed.
 */
class WebSocketHolder implements SessionHolder {
  readonly #socket: Duplex;
  /** Set once spliced: ends the relay and the WebSocket (see {@link splice}). */
  ending: ((code?: number, reason?: string) => void) | undefined;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  get closed(): boolean {
    return this.#socket.destroyed;
  }

  get destroyed(): boolean {
    return this.#socket.destroyed;
  }

  close(): void {
    if (this.ending) this.ending();
    else this.#socket.destroy();
  }
}

/**
 * Pipes the upgraded client socket and the tunnel stream into each other. A clean end of either side
 * (FIN, END_STREAM) is passed on as a clean end; a client error resets the stream; a reset stream
 * (session ended, tunnel lost) ends the client's WebSocket with a close frame (1001) when the bytes
 * relayed so far end on a frame boundary, else closes the connection.
 * Close frames either side relays, the proxy's own, and a reset from the worker's side are told to
 * `call` (spans); the client's frame headers (from `head` on) are followed only when it is sampled.
 * @returns a function that ends the relay that way (S3), with close `code` and `reason` (default 1001
 *   "session ended"; 1008 for a revoked key).
 */
function splice(
  socket: Duplex,
  stream: http2.ClientHttp2Stream,
  head: Buffer,
  call: WebSocketTrace,
): (code?: number, reason?: string) => void {
  (socket as Duplex & { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  const frames = new FrameBoundary((code) => call.sawClose('container', code));
  stream.on('data', (chunk: Buffer) => frames.push(chunk));
  socket.pipe(stream);
  if (call.recording) {
    const fromClient = new FrameBoundary((code) => call.sawClose('client', code));
    fromClient.push(head);
    socket.on('data', (chunk: Buffer) => fromClient.push(chunk));
  }
  // A reset stream also ends its readable side, and its reset code is known only a moment later:
  // only a clean END_STREAM becomes the client's FIN; a reset is handled on 'close' below.
  stream.pipe(socket, { end: false });
  stream.once('end', () =>
    setImmediate(() => {
      if (!socket.destroyed && !(stream.closed && stream.rstCode !== NGHTTP2_NO_ERROR)) socket.end();
    }),
  );
  let gone = false;
  const goAway = (code = 1001, reason = 'session ended') => {
    if (gone) return;
    gone = true;
    stream.unpipe(socket);
    socket.unpipe(stream);
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    if (socket.destroyed || socket.writableEnded) return; // already ended cleanly (FIN sent)
    if (!frames.atBoundary) {
      socket.destroy();
      return;
    }
    call.proxyClosed(code);
    socket.end(closeFrame(code, reason));
    setTimeout(() => socket.destroy(), 5_000).unref();
  };
  onSocketClose(socket, () => {
    if (stream.closed || stream.destroyed) return;
    if (socket.errored) {
      stream.close(NGHTTP2_CANCEL);
      return;
    }
    // The client is gone: nothing more can reach it. Close once what it sent is relayed.
    if (!stream.writableEnded) stream.end();
    stream.close(NGHTTP2_NO_ERROR);
  });
  stream.once('close', () => {
    if (socket.destroyed) return;
    if (stream.rstCode !== NGHTTP2_NO_ERROR) {
      if (!gone) call.relayFailed('stream_reset');
      goAway();
      return;
    }
    socket.end(() => socket.destroy());
    setTimeout(() => socket.destroy(), 5_000).unref();
  });
  return goAway;
}

const kClosers = Symbol('switchyard.closers');

/**
 * Runs `fn` once when `socket` closes (as `socket.once('close', fn)` would: never if it already has),
 * after the functions registered before it. Every concern of this file shares one 'close' listener:
 * an upgraded socket also carries node:http's, pipe()'s, the listener bounds' and the key caps', which
 * passed EventEmitter's leak warning (11 listeners) on every WebSocket.
 */
function onSocketClose(socket: Duplex, fn: () => void): void {
  const holder = socket as Duplex & { [kClosers]?: (() => void)[] };
  let closers = holder[kClosers];
  if (closers === undefined) {
    const list: (() => void)[] = [];
    closers = list;
    holder[kClosers] = list;
    socket.once('close', () => {
      for (const close of list) close();
    });
  }
  closers.push(fn);
}

/** An unmasked close frame (RFC 6455 5.5.1) with `code` and a short UTF-8 `reason` (< 124 bytes). */
function closeFrame(code: number, reason: string): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);
  return Buffer.concat([Buffer.from([0x88, payload.length]), payload]);
}

/** An HTTP/1.1 response head: status line, `first` fields, the worker's fields, then `ours`. */
function responseHead(
  status: number,
  first: http.OutgoingHttpHeaders,
  fromWorker: http2.IncomingHttpHeaders,
  ours: http.OutgoingHttpHeaders,
): string {
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? 'Unknown'}`];
  const add = (name: string, value: http.OutgoingHttpHeader | undefined) => {
    if (value === undefined) return;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${String(v).replace(/[\r\n]/g, '')}`);
  };
  for (const [name, value] of Object.entries(first)) add(name, value);
  for (const [name, value] of Object.entries(fromWorker)) {
    if (name.startsWith(':') || DROP_FROM_WORKER.has(name) || name in first || name in ours) continue;
    add(name, value);
  }
  for (const [name, value] of Object.entries(ours)) add(name, value);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/**
 * A proxy-made answer to an upgrade request (G3 text, HTTP status from the code), then the end. A
 * capacity answer (a code with a Retry-After, e.g. 429 SY_KEY_WEBSOCKETS_EXCEEDED) is problem+json.
 */
function writeError(socket: Duplex, code: ErrorCode, extra: http.OutgoingHttpHeaders, detail?: string): void {
  if (socket.destroyed) return;
  const status = httpStatusOf(code);
  if (!answerStatus.has(socket)) answerStatus.set(socket, status);
  const retryAfter = retryAfterOf(code);
  const body =
    retryAfter === undefined
      ? `${detail ?? ErrorCatalogue[code].message}\n`
      : JSON.stringify(problemDocument(code, detail));
  const headers: http.OutgoingHttpHeaders = {
    ...extra,
    'content-type': retryAfter === undefined ? 'text/plain; charset=utf-8' : PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }),
    connection: 'close',
  };
  socket.end(responseHead(status, headers, {}, {}) + body);
  setTimeout(() => socket.destroy(), 5_000).unref();
}
