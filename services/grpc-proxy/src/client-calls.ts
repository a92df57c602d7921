// Client calls over HTTP/2 (G1-G11, G14): each stream is answered (CORS preflight, G13 absorb, a
// proxy-made error) or authenticated and bound to a worker session, pinned to the connection (G6),
// resumed by request ID (G7) or newly allocated, then relayed over the worker's tunnel. A pinned call
// whose tunnel is up touches neither NATS nor KV, and awaits nothing.
// Tracing: each call is a SERVER span continuing the client's `traceparent` (or a new root), active
// while the call is handled (allocation, resume lookups and logs see it); the relay is a CLIENT span
// `switchyard.tunnel.call` whose context goes to the worker as `traceparent`.

import type http2 from 'node:http2';
import type { Authorization, CallEnding, ControlStore, OpenCalls } from '@switchyard/control-store';
import {
  type ErrorCode,
  isSwitchyardError,
  Metadata,
  SwitchyardError,
  TunnelFeatures,
  TunnelHeaders,
} from '@switchyard/protocol';
import {
  type Context,
  context,
  contextFromHeaders,
  endRelaySpan,
  endStreamSpan,
  type FrontEndMetrics,
  grpcOutcome,
  httpOutcome,
  injectTraceHeaders,
  type Span,
  SpanKind,
  startSpan,
  startTunnelSpan,
  TraceAttr,
  trace,
  tracerFor,
} from '@switchyard/telemetry';
import {
  forwardHeaderList,
  forwardRawHeaderList,
  ignoreStreamError,
  isGrpcContentType,
  type ProxyTunnel,
  type RelayOptions,
  type RelayResult,
  type RelayUpstreamSession,
  relayStream,
  respondWithError,
  type TunnelListener,
} from '@switchyard/tunnel';
import { type FrontEndLink, isControlPath } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { callSpanAttributes, callSpanName } from './call-span.ts';
import { type AbsorbHandler, absorbAction } from './client-absorb.ts';
import { handleHealth } from './grpc-health.ts';
import { KeyConnections } from './key-connections.ts';
import { CLEAR_SESSION_COOKIE, corsHeaders, requestedSessionId, sessionCookie } from './request-id.ts';
import type { SessionAllocator } from './session-allocate.ts';
import type { SessionResumer } from './session-resume.ts';
import type { LocalSession, SessionTable } from './session-table.ts';

const tracer = tracerFor('@switchyard/grpc-proxy');

/**
 * Client headers never forwarded to a worker: the API key, and every tunnel header of ours (the control
 * marker `x-switchyard-control` among them: only a front end may make a control stream).
 */
const DROP_TO_WORKER: ReadonlySet<string> = new Set([Metadata.authorization, ...Object.values(TunnelHeaders)]);

/** One ended client call, as {@link ClientCallsDeps.onCallEnd} is told it. */
export interface CallEnd {
  /** gRPC status as `0`..`16` (`cancelled` when none was sent), or the HTTP status class (`2xx`) of a non-gRPC call. */
  outcome: string;
  /** Time from the request headers to the stream's close, ms. */
  durationMs: number;
}

/** The {@link ClientCall} of a client stream, set by onStream. */
const kCall = Symbol('switchyard.proxy.call');
type WithCall = http2.ServerHttp2Stream & { [kCall]: ClientCall };

/**
 * One client call's state, found from its stream by a 'close' listener every call shares, and the
 * options of its relay (`onEnd` ends the tunnel span): one object per call instead of a closure per
 * listener and a WeakMap entry.
 */
class ClientCall implements RelayOptions {
  readonly span: Span;
  readonly grpc: boolean;
  readonly #metrics: FrontEndMetrics;
  readonly #onCallEnd: ((call: CallEnd) => void) | undefined;
  /** `performance.now()` at the request headers; -1 while the call is not counted in the call metrics. */
  started = -1;
  /** Version the control store authorized, for the call metrics. */
  versionId: string | undefined = undefined;
  /** The relay's CLIENT span (`switchyard.tunnel.call`), when the call's trace is sampled. */
  tunnelSpan: Span | undefined = undefined;
  /** RelayOptions: headers added to the worker's answer. */
  responseHeaders: http2.OutgoingHttpHeaders | undefined = undefined;
  /** RelayOptions: ends the relay when the key is revoked meanwhile. */
  ending: CallEnding | undefined = undefined;
  /** The request headers as node:http2 received them, when given (forwarded without the object). */
  rawHeaders: string[] | undefined = undefined;

  constructor(span: Span, grpc: boolean, metrics: FrontEndMetrics, onCallEnd: ((call: CallEnd) => void) | undefined) {
    this.span = span;
    this.grpc = grpc;
    this.#metrics = metrics;
    this.#onCallEnd = onCallEnd;
  }

  /** RelayOptions: the relay is over. */
  onEnd(result: RelayResult): void {
    if (this.tunnelSpan !== undefined) endRelaySpan(this.tunnelSpan, result);
  }

  /**
   * The call's stream closed: ends its span and, for a counted call, records its outcome (sent
   * grpc-status as `0`..`16`, or the HTTP status class `2xx` of a non-gRPC call; `cancelled` when none
   * was sent) and duration (request headers to stream close).
   */
  closed(stream: http2.ServerHttp2Stream): void {
    const grpc = this.grpc;
    endStreamSpan(this.span, stream, grpc, true);
    if (this.started < 0) return;
    const sent = stream as http2.ServerHttp2Stream & {
      sentHeaders?: http2.OutgoingHttpHeaders;
      sentTrailers?: http2.OutgoingHttpHeaders;
    };
    const outcome = grpc
      ? grpcOutcome(sent.sentTrailers?.['grpc-status'] ?? sent.sentHeaders?.['grpc-status'])
      : httpOutcome(Number(sent.sentHeaders?.[':status'] ?? 0));
    const durationMs = performance.now() - this.started;
    this.#metrics.callEnded(this.versionId, outcome, durationMs / 1000);
    this.#onCallEnd?.({ outcome, durationMs });
  }
}

/** The 'close' listener of every client stream (see {@link ClientCall.closed}). */
function onCallClose(this: WithCall): void {
  this[kCall].closed(this);
}

/** What {@link ClientCalls} needs. */
export interface ClientCallsDeps {
  /** Keys, functions and versions: authenticates callers (G1, G2). */
  control: ControlStore;
  /** Structured log; carries no API key. */
  logger: Logger;
  /** The tunnel registry: a pinned call takes its worker's tunnel from it. */
  tunnels: TunnelListener;
  /** The worker link: tickets, attach, resume, detach, evict, tunnels. */
  link: FrontEndLink;
  /** The sessions this instance holds and the connections bound to them. */
  sessions: SessionTable;
  /** New sessions (flow 1, G10, S4). */
  allocator: SessionAllocator;
  /** Sessions named by request ID (flow 3, G7-G9, G15). */
  resumer: SessionResumer;
  /** Answers G13 requests (`X-NVCF-ABSORB`, `DELETE`). */
  absorb: AbsorbHandler;
  /** Calls in progress by API key: a revoked key's calls end (G2 status in the trailers, issue 8). */
  openCalls: OpenCalls;
  /** Per-key cap on open connections (issue 11 item 2). @default unlimited */
  keyConnections?: KeyConnections;
  /**
   * Calls by version and outcome, and rejections (metrics). Versions are those the control store
   * authorized, else `unknown`, so label values stay bounded by the deployed functions.
   */
  metrics: FrontEndMetrics;
  /** Told when each call's stream closes, after its metrics (the heartbeat's call summary). @default none */
  onCallEnd?: (call: CallEnd) => void;
  /**
   * Relay calls over the framed tunnel (ProxyTunnel.mux(), issue 12) of workers that announced
   * TunnelFeatures.mux. @default false: an HTTP/2 stream of the tunnel per call
   */
  tunnelMux?: boolean;
  /** Mux streams per tunnel at most (ProxyTunnel.mux). @default DEFAULT_TUNNEL_MUX_STREAMS */
  tunnelMuxStreams?: number;
}

/** Handles the client listener's HTTP/2 streams; see the file comment. */
export class ClientCalls {
  readonly #control: ControlStore;
  readonly #log: Logger;
  readonly #tunnels: TunnelListener;
  readonly #link: FrontEndLink;
  readonly #sessions: SessionTable;
  readonly #allocator: SessionAllocator;
  readonly #resumer: SessionResumer;
  readonly #absorb: AbsorbHandler;
  readonly #openCalls: OpenCalls;
  readonly #keyConnections: KeyConnections;
  readonly #tunnelMux: boolean;
  readonly #tunnelMuxStreams: number | undefined;
  #closing = false;
  readonly #metrics: FrontEndMetrics;
  readonly #onCallEnd: ((call: CallEnd) => void) | undefined;
  /** Whether the proxy still serves (grpc.health.v1): one closure for every health call. */
  readonly #serving = (): boolean => !this.#closing;

  constructor(deps: ClientCallsDeps) {
    this.#metrics = deps.metrics;
    this.#onCallEnd = deps.onCallEnd;
    this.#tunnelMux = deps.tunnelMux === true;
    this.#tunnelMuxStreams = deps.tunnelMuxStreams;
    this.#control = deps.control;
    this.#log = deps.logger;
    this.#tunnels = deps.tunnels;
    this.#link = deps.link;
    this.#sessions = deps.sessions;
    this.#allocator = deps.allocator;
    this.#resumer = deps.resumer;
    this.#absorb = deps.absorb;
    this.#openCalls = deps.openCalls;
    this.#keyConnections = deps.keyConnections ?? new KeyConnections(0);
  }

  /** From now on, calls are answered SY_SHUTTING_DOWN (proxy shutdown; CORS preflights still 204). */
  close(): void {
    this.#closing = true;
  }

  /**
   * One client stream: answered here, or relayed to its session's worker. Never throws.
   * @param rawHeaders `headers` as node:http2 received them (the 'stream' event's flat list), when at hand.
   */
  onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders?: string[]): void {
    stream.on('error', ignoreStreamError);
    // A stream reset in the same read as its HEADERS arrives already destroyed: respond() would throw.
    if (stream.destroyed || stream.closed) return;
    const grpc = isGrpcContentType(headers['content-type']);
    if (headers[':method'] === 'OPTIONS') {
      const cors = corsHeaders(headers.origin, headers['access-control-request-headers']);
      stream.respond({ ':status': 204, ...cors }, { endStream: true });
      return;
    }
    // grpc.health.v1.Health for the proxy itself: NOT_SERVING once draining.
    if (handleHealth(stream, headers, this.#serving)) return;
    const scope = startSpan(tracer, callSpanName(headers, grpc), SpanKind.SERVER, contextFromHeaders(headers), () =>
      callSpanAttributes(headers, grpc),
    );
    const call = new ClientCall(scope.span, grpc, this.#metrics, this.#onCallEnd);
    call.rawHeaders = rawHeaders;
    (stream as WithCall)[kCall] = call;
    stream.on('close', onCallClose);
    context.with(scope.ctx, this.#onCall, this, stream, headers, call);
  }

  /** A client call (not a preflight nor a health check), run with its span active. */
  #onCall(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, call: ClientCall): void {
    const grpc = call.grpc;
    if (this.#closing) {
      this.#metrics.answeredError('SY_SHUTTING_DOWN');
      respondWithError(stream, grpc, 'SY_SHUTTING_DOWN', corsHeaders(headers.origin));
      return;
    }
    call.started = performance.now();
    if (isControlPath(headers[':path'])) {
      // The tunnel's control namespace is not a client's to call (G3 shape: NOT_FOUND / 404).
      respondWithError(stream, grpc, 'SY_ROUTE_NOT_FOUND', corsHeaders(headers.origin));
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
      auth = this.#control.authorize(input);
    } catch {
      // A miss may be a write this copy has not seen yet: answer after catching up (off the hot path).
      this.#control.authorizeFresh(input).then(
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
    const call = (stream as WithCall)[kCall];
    call.versionId = auth.version.versionId;
    const span = call.span;
    if (span.isRecording()) {
      span.setAttributes({
        [TraceAttr.functionId]: auth.fn.functionId,
        [TraceAttr.versionId]: auth.version.versionId,
      });
    }
    if (!this.#keyConnections.admit(auth.key.keyId, stream.session as http2.ServerHttp2Session)) {
      this.#metrics.answeredError('SY_KEY_CONNECTIONS_EXCEEDED');
      respondWithError(stream, grpc, 'SY_KEY_CONNECTIONS_EXCEEDED', corsHeaders(headers.origin));
      return;
    }
    // Ends the call if its key is revoked (or control data goes stale) while it runs (issue 8).
    const ending = this.#openCalls.watch(auth.key.keyId, auth.fn.functionId, stream);
    const versionHeader = (headers[Metadata.functionVersionId] as string | undefined) || '';
    const requested = requestedSessionId(headers);
    const pinKey = `${auth.key.keyId}/${auth.fn.functionId}/${versionHeader}`;
    const conn = stream.session as http2.ServerHttp2Session;
    const pins = this.#sessions.pinsOf(conn);
    const pinned = pins.get(pinKey);

    // G6 fast path: the connection already knows its session and its tunnel.
    if (pinned && !(pinned instanceof Promise) && !pinned.ended && (!requested || requested === pinned.reqId)) {
      const tunnel = this.#tunnels.get(pinned.workerId, pinned.versionId);
      if (tunnel) {
        this.#forward(stream, headers, pinned, tunnel, false, ending);
        return;
      }
    }
    void this.#bindAndForward(stream, headers, grpc, auth, versionHeader !== '', requested, conn, pinKey, ending);
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
    ending: CallEnding,
  ): Promise<void> {
    const pins = this.#sessions.pinsOf(conn);
    let isNew = false;
    let session: LocalSession | undefined;
    try {
      const pinned = pins.get(pinKey);
      if (requested && !(pinned && !(pinned instanceof Promise) && pinned.reqId === requested)) {
        session = await this.#resumer.resume(requested, auth, versionGiven);
      } else if (pinned instanceof Promise) {
        session = await pinned;
      } else if (pinned && !pinned.ended) {
        session = pinned;
      } else {
        const allocation = this.#allocator.allocate(auth, grpcTimeoutMs(headers));
        pins.set(pinKey, allocation);
        try {
          session = await allocation;
        } catch (err) {
          if (pins.get(pinKey) === allocation) pins.delete(pinKey);
          throw err;
        }
        isNew = true;
      }
      this.#sessions.bind(conn, pinKey, session);
      const tunnel = await this.#link.tunnelFor(session.reqId, session);
      if (stream.closed || stream.destroyed) return;
      if (ending.code !== undefined) throw new SwitchyardError(ending.code);
      this.#forward(stream, headers, session, tunnel, isNew, ending);
    } catch (err) {
      const clear = isSwitchyardError(err, 'SY_SESSION_NOT_FOUND');
      if (clear && session !== undefined) this.#sessions.lost(session);
      this.#fail(stream, headers, grpc, err, clear ? { 'set-cookie': CLEAR_SESSION_COOKIE } : undefined);
    }
  }

  #forward(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    session: LocalSession,
    tunnel: ProxyTunnel,
    isNew: boolean,
    ending: CallEnding,
  ): void {
    const responseHeaders: http2.OutgoingHttpHeaders = isNew
      ? { [Metadata.requestId]: session.reqId, 'set-cookie': sessionCookie(session.reqId) }
      : { [Metadata.requestId]: session.reqId };
    // A browser reads the answer (and a relay failure, G14) only with CORS headers; gRPC clients send no Origin.
    if (headers.origin) Object.assign(responseHeaders, corsHeaders(headers.origin));
    const call = (stream as WithCall)[kCall];
    const active: Context = context.active();
    // An unsampled call starts no tunnel span (nor the attributes closure startTunnelSpan would make).
    const span = call.span.isRecording() ? startTunnelSpan(tracer, session.reqId, tunnel.workerId, active) : undefined;
    // Ours (request ID, trace context) replace the client's fields of the same names.
    const ours: Record<string, string | undefined> = { [Metadata.requestId]: session.reqId };
    injectTraceHeaders(span === undefined ? active : trace.setSpan(active, span), ours);
    const raw = call.rawHeaders;
    const outgoing =
      raw === undefined
        ? forwardHeaderList(headers, DROP_TO_WORKER, ours)
        : forwardRawHeaderList(raw, DROP_TO_WORKER, ours);
    call.tunnelSpan = span;
    call.responseHeaders = responseHeaders;
    call.ending = ending;
    // A framed tunnel when on and the worker takes one, else a stream of the tunnel's session per call.
    const upstream: RelayUpstreamSession = tunnel.upstream(
      this.#tunnelMux ? TunnelFeatures.mux : undefined,
      this.#tunnelMuxStreams,
    );
    relayStream(stream, upstream, outgoing, call);
  }

  #fail(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    grpc: boolean,
    err: unknown,
    extra?: http2.OutgoingHttpHeaders,
  ): void {
    const code: ErrorCode = isSwitchyardError(err) ? err.code : 'SY_INTERNAL';
    this.#metrics.answeredError(code);
    if (!isSwitchyardError(err)) this.#log.error({ err }, 'unexpected error handling a call');
    // The detail (e.g. "worker is gone") never reaches the client; at debug level it is in the log.
    else this.#log.debug({ code, detail: err.detail, path: headers[':path'] }, 'call answered with an error');
    const cors = corsHeaders(headers.origin);
    respondWithError(stream, grpc, code, extra ? { ...cors, ...extra } : cors);
  }
}

/** The call's deadline from `grpc-timeout` (G4), in ms, or undefined (absent or malformed). */
export function grpcTimeoutMs(headers: http2.IncomingHttpHeaders): number | undefined {
  const value = headers['grpc-timeout'];
  if (typeof value !== 'string') return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  const n = Number(match[1]);
  const factor = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 }[match[2] as 'H'];
  return n * factor;
}
