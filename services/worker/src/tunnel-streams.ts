// Streams a front end opens over a tunnel (W1, S1, S3, G12, H2): a control request (attach or detach
// of a session), an HTTP request holding a unit (or a warm offer), or a call of a session (gRPC or
// HTTP relayed to the container, or a client WebSocket). This is the hot path (benchmarked): no awaits,
// and nothing allocated per call beyond its InFlightCall and the relay's own (the 'close' listener
// that forgets the call is shared by every call). Calls framed on a tunnel's mux stream (issue 12)
// come through dispatchMuxCall: HTTP requests and session calls, held and relayed like the others.

import type http2 from 'node:http2';
import { Metadata } from '@switchyard/protocol';
import { isGrpcContentType, type MuxServerStream, respondWithError } from '@switchyard/tunnel';
import { answerControl, isControlStream, parseControlPath } from '@switchyard/worker-link';
import type { InFlightCall, TunnelCall } from './call-end.ts';
import type { ContainerClient } from './container-client.ts';
import type { HttpHolds } from './http-holds.ts';
import { isWebSocketStream, type WebSocketUpstream } from './websocket-upstream.ts';
import type { WorkerSessions } from './worker-sessions.ts';

/** The in-flight calls of the session a call stream belongs to, set on the stream when it is held. */
const kHeldBy = Symbol('switchyard.worker.heldBy');
type Held = TunnelCall & { [kHeldBy]: Map<TunnelCall, InFlightCall> };

/** 'close' listener of every held call stream: the session no longer holds it. */
function forgetCall(this: Held): void {
  this[kHeldBy].delete(this);
}

/** What {@link TunnelStreams} dispatches to. */
export interface TunnelStreamsOptions {
  /** Session calls and control requests go here. */
  sessions: WorkerSessions;
  /** HTTP requests holding a unit, and warm offers, go here first. */
  holds: HttpHolds;
  /** Session calls that are not WebSockets are relayed over it. */
  container: ContainerClient;
  /** Client WebSockets of the gRPC proxy (G12): HTTP/1.1 Upgrade to the container. */
  webSocket: WebSocketUpstream;
}

/** Dispatches every stream of a worker's tunnels; see the file comment. */
export class TunnelStreams {
  readonly #sessions: WorkerSessions;
  readonly #holds: HttpHolds;
  readonly #container: ContainerClient;
  readonly #webSocket: WebSocketUpstream;

  constructor(options: TunnelStreamsOptions) {
    this.#sessions = options.sessions;
    this.#holds = options.holds;
    this.#container = options.container;
    this.#webSocket = options.webSocket;
  }

  /**
   * Handles `stream` (request `headers`) opened by front-end instance `proxyId`. A call for no session held here, or one ending, is answered
   * SY_SESSION_NOT_FOUND.
   */
  dispatch(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, proxyId: string): void {
    // Only the marker a front end sets makes a control request; an unmarked `/_switchyard/` path is an
    // ordinary call (front ends refuse such client paths before they get here).
    if (isControlStream(headers)) {
      this.#onControl(stream, headers[':path'] ?? '', proxyId);
      return;
    }
    if (this.#holds.onStream(stream, headers)) return;
    const call = this.#hold(stream, headers, proxyId);
    if (call === undefined) return;
    if (isWebSocketStream(headers)) {
      // G12: held like a call, so an ended session resets it (S3).
      this.#webSocket.relay(stream, headers);
      return;
    }
    call.out = this.#container.relay(stream, headers);
  }

  /**
   * Handles `call`, framed on the mux stream of a tunnel to front-end instance `proxyId` (issue 12): an
   * HTTP request holding a unit or a warm offer (feature `http-mux`), or a call of a session held here,
   * relayed to the container; anything else (no such session, or a control request or WebSocket, which
   * keep streams of their own) is answered SY_SESSION_NOT_FOUND.
   */
  dispatchMuxCall(call: MuxServerStream, headers: http2.IncomingHttpHeaders, proxyId: string): void {
    if (isControlStream(headers) || isWebSocketStream(headers)) {
      respondWithError(call, isGrpcContentType(headers['content-type']), 'SY_SESSION_NOT_FOUND');
      return;
    }
    if (this.#holds.onStream(call, headers)) return;
    const held = this.#hold(call, headers, proxyId);
    if (held !== undefined) held.out = this.#container.relay(call, headers);
  }

  /**
   * Holds a session call in its session (an ended session ends it, S3), or answers SY_SESSION_NOT_FOUND.
   * @returns the in-flight call, or undefined when answered.
   */
  #hold(stream: TunnelCall, headers: http2.IncomingHttpHeaders, proxyId: string): InFlightCall | undefined {
    const grpc = isGrpcContentType(headers['content-type']);
    const reqId = headers[Metadata.requestId];
    const session = typeof reqId === 'string' ? this.#sessions.get(reqId) : undefined;
    if (!session || session.ending) {
      respondWithError(stream, grpc, 'SY_SESSION_NOT_FOUND');
      return undefined;
    }
    // A proxy forwards a call only for a client connection bound to the session: after a lost tunnel
    // was re-dialled for another session, this is how a still-pinned connection re-attaches (W3, S1).
    if (!session.proxies.has(proxyId)) this.#sessions.attachProxy(session, proxyId);
    const call: InFlightCall = { grpc, out: undefined };
    session.streams.set(stream, call);
    (stream as Held)[kHeldBy] = session.streams;
    stream.on('close', forgetCall);
    return call;
  }

  /** `POST /_switchyard/v1/sessions/<reqId>/attach|detach` from a proxy over its tunnel. */
  #onControl(stream: http2.ServerHttp2Stream, path: string, proxyId: string): void {
    const control = parseControlPath(path);
    const session = control ? this.#sessions.get(control.reqId) : undefined;
    if (!control || !session || session.ending) {
      answerControl(stream, 404);
      return;
    }
    if (control.action === 'attach') this.#sessions.attachProxy(session, proxyId);
    else this.#sessions.detachProxy(session, proxyId);
    answerControl(stream, 200);
  }
}
