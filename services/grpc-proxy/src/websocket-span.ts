// The spans of one client WebSocket at the gRPC proxy (G12), shaped like an HTTP/2 call's: a SERVER
// span `switchyard.websocket` continuing the Upgrade request's `traceparent` (or a new root), active
// while the session is bound (allocation and resume spans are its children), and a CLIENT span
// `switchyard.tunnel.call` for the tunnel stream, whose context the worker receives as `traceparent`.
// Both end with how the WebSocket closed (close code, who closed) or, for a refused upgrade, the HTTP
// status the client got.

import type http from 'node:http';
import type http2 from 'node:http2';
import type { Authorization } from '@switchyard/control-store';
import {
  type Context,
  contextFromHeaders,
  endHttpSpan,
  endRelaySpan,
  endWebSocketSpan,
  injectTraceHeaders,
  type Span,
  SpanKind,
  SpanNames,
  type SpanScope,
  startSpan,
  startTunnelSpan,
  TraceAttr,
  trace,
  tracerFor,
} from '@switchyard/telemetry';

const tracer = tracerFor('@switchyard/grpc-proxy');

/** Who sent a WebSocket's first close frame. */
export type ClosedBy = 'client' | 'container' | 'proxy';

/** The spans of one client WebSocket; see the file comment. Cheap when the trace is not sampled. */
export class WebSocketTrace {
  readonly #server: SpanScope;
  #tunnel: Span | undefined;
  /** Set once the worker answered the tunnel stream: `switched` or the status it relayed. */
  #tunnelAnswer: 'switched' | number | undefined;
  #tunnelError: string | undefined;
  #relayError: string | undefined;
  #closeCode: number | undefined;
  #closedBy: 'client' | 'container' | undefined;
  #proxyClose: number | undefined;

  /** Starts the SERVER span of Upgrade request `req`. */
  constructor(req: http.IncomingMessage) {
    this.#server = startSpan(tracer, SpanNames.webSocket, SpanKind.SERVER, contextFromHeaders(req.headers), () => ({
      [TraceAttr.httpRequestMethod]: req.method ?? 'GET',
      [TraceAttr.urlPath]: (req.url ?? '/').split('?')[0],
      [TraceAttr.urlScheme]: 'http',
      [TraceAttr.networkProtocolName]: 'http',
      [TraceAttr.networkProtocolVersion]: req.httpVersion,
      ...(req.headers.host !== undefined ? { [TraceAttr.serverAddress]: req.headers.host } : {}),
    }));
  }

  /** The context with the SERVER span active (run the upgrade's handling in it). */
  get ctx(): Context {
    return this.#server.ctx;
  }

  /** True when the trace is sampled (frame headers are then followed for close codes). */
  get recording(): boolean {
    return this.#server.span.isRecording();
  }

  /** The call was authorized for `auth`'s function version (span attributes). */
  authorized(auth: Authorization): void {
    if (!this.recording) return;
    this.#server.span.setAttributes({
      [TraceAttr.functionId]: auth.fn.functionId,
      [TraceAttr.versionId]: auth.version.versionId,
    });
  }

  /**
   * Starts the tunnel CLIENT span of request `reqId` over `workerId`'s tunnel and writes its context
   * into `headers` (the tunnel stream's request headers) as `traceparent`; untraced, the SERVER span's
   * context (or the client's) is written instead.
   */
  startTunnel(reqId: string, workerId: string, headers: http2.OutgoingHttpHeaders): void {
    const parent = this.#server.ctx;
    this.#tunnel = startTunnelSpan(tracer, reqId, workerId, parent);
    injectTraceHeaders(this.#tunnel === undefined ? parent : trace.setSpan(parent, this.#tunnel), headers);
  }

  /** The worker answered the tunnel stream: the container switched, or its (or the worker's) `status`. */
  tunnelAnswered(answer: 'switched' | number): void {
    this.#tunnelAnswer = answer;
  }

  /** The tunnel stream ended without an answer because of `code` (e.g. SY_REQUEST_TIMEOUT). */
  tunnelFailed(code: string): void {
    this.#tunnelError ??= code;
  }

  /** The relay was cut from the worker's side after the switch (`stream_reset`): an error of the SERVER span. */
  relayFailed(code: string): void {
    this.#relayError ??= code;
  }

  /** A close frame with `code` was relayed from `by`; only the first counts. */
  sawClose(by: 'client' | 'container', code: number): void {
    if (this.#closeCode !== undefined) return;
    this.#closeCode = code;
    this.#closedBy = by;
  }

  /** The proxy ended the WebSocket itself with close `code` (S3 1001, revoked key 1008/1013). */
  proxyClosed(code: number): void {
    this.#proxyClose ??= code;
  }

  /**
   * Ends the tunnel span once its stream closed: a switched WebSocket with its close code (the
   * proxy's own close counts; none is 1006, an error), a refused upgrade with the relayed status, no
   * answer with the failure's code (SY_TUNNEL_LOST when the stream closed while the client waited).
   * @param clientGone the client's socket had closed (no answer: the client left, `cancelled`).
   */
  endTunnel(clientGone: boolean): void {
    const span = this.#tunnel;
    if (span === undefined) return;
    this.#tunnel = undefined;
    const answer = this.#tunnelAnswer;
    if (answer === 'switched') {
      const proxy = this.#closeCode === undefined ? this.#proxyClose : undefined;
      endWebSocketSpan(
        span,
        { closeCode: this.#closeCode ?? proxy, closedBy: proxy === undefined ? this.#closedBy : 'proxy' },
        false,
      );
    } else if (answer !== undefined) endHttpSpan(span, answer, false);
    else if (this.#tunnelError !== undefined) endRelaySpan(span, { error: this.#tunnelError });
    else if (clientGone) endHttpSpan(span, undefined, false);
    else endRelaySpan(span, { error: 'SY_TUNNEL_LOST' });
  }

  /**
   * Ends the SERVER span once the client's connection closed: after a switch (`status` 101) with the
   * close code (the first close frame relayed, else the proxy's, else 1006) and any relay failure;
   * else with the HTTP status the client was answered (undefined: none, `cancelled`).
   */
  end(status: number | undefined): void {
    const span = this.#server.span;
    if (status === 101) {
      const proxy = this.#closeCode === undefined ? this.#proxyClose : undefined;
      endWebSocketSpan(
        span,
        {
          closeCode: this.#closeCode ?? proxy,
          closedBy: proxy === undefined ? this.#closedBy : 'proxy',
          error: this.#relayError,
        },
        true,
      );
    } else endHttpSpan(span, status, true);
  }
}
