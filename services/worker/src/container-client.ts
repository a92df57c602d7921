// The worker's HTTP/2 connection to its function container (gRPC over h2c). One session, opened on
// first use and re-opened after it closes, so a restarted container is picked up by the next call.
// Tunnel streams are relayed over it without Switchyard's own request headers; a traced call carries
// the worker's container-call span as `traceparent`.
import http2 from 'node:http2';
import net from 'node:net';
import { type ErrorCode, Metadata, TunnelHeaders } from '@switchyard/protocol';
import { endRelaySpan, injectTraceHeaders, type Span } from '@switchyard/telemetry';
import {
  DEFAULT_MAX_SESSION_MEMORY_MB,
  forwardHeaderList,
  H2_SETTINGS,
  isGrpcContentType,
  type RelayInbound,
  type RelayOptions,
  type RelayResult,
  relayStream,
  widenConnectionWindow,
} from '@switchyard/tunnel';
import { recordRelayEnd, type WorkerRecorder } from './container-calls.ts';
import { startContainerSpan } from './container-span.ts';

/** Request headers never forwarded to the container. */
const DROP_TO_CONTAINER: ReadonlySet<string> = new Set([
  TunnelHeaders.requestId,
  TunnelHeaders.functionId,
  TunnelHeaders.functionVersionId,
  TunnelHeaders.control,
  TunnelHeaders.direct,
]);

/** Options of every relay to the container: a failed container stream is the upstream's fault. */
const RELAY_OPTIONS: RelayOptions = { upstreamErrorCode: 'SY_UPSTREAM_UNAVAILABLE' };

/**
 * One container call that is measured or traced: its relay's options, whose `onEnd` records the
 * outcome and ends the span (one object per call instead of an options copy and a closure).
 */
class ContainerCall implements RelayOptions {
  readonly upstreamErrorCode: ErrorCode = 'SY_UPSTREAM_UNAVAILABLE';
  readonly #recorder: WorkerRecorder | undefined;
  readonly #grpc: boolean;
  readonly #startedAt: number;
  readonly #span: Span | undefined;

  constructor(recorder: WorkerRecorder | undefined, grpc: boolean, startedAt: number, span: Span | undefined) {
    this.#recorder = recorder;
    this.#grpc = grpc;
    this.#startedAt = startedAt;
    this.#span = span;
  }

  /** RelayOptions: the relay is over. */
  onEnd(result: RelayResult): void {
    if (this.#recorder !== undefined) recordRelayEnd(this.#recorder, this.#grpc, this.#startedAt, result);
    if (this.#span !== undefined) endRelaySpan(this.#span, result);
  }
}

/** Lazily connected HTTP/2 client session to `authority` (`http://host:port`). */
export class ContainerClient {
  readonly authority: string;
  #session: http2.ClientHttp2Session | undefined;
  readonly #recorder: WorkerRecorder | undefined;

  /**
   * @param authority `http://host:port` of the container.
   * @param recorder receives each relayed call's outcome, duration and container-side failure. @default none
   */
  constructor(authority: string, recorder?: WorkerRecorder) {
    this.authority = authority;
    this.#recorder = recorder;
  }

  /** The open session, connecting when there is none. Errors surface on the streams opened on it. */
  session(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const url = new URL(this.authority);
    const session = http2.connect(this.authority, {
      // TCP_NODELAY: many small frames (headers, trailers) per call; Nagle would hold them for ACKs.
      createConnection: () => net.connect({ host: url.hostname, port: Number(url.port) || 80, noDelay: true }),
      settings: H2_SETTINGS,
      maxSessionMemory: DEFAULT_MAX_SESSION_MEMORY_MB,
      peerMaxConcurrentStreams: 2 ** 31 - 1,
    });
    widenConnectionWindow(session);
    session.on('error', () => {
      // Streams on it fail and answer UNAVAILABLE; the next call reconnects.
    });
    const drop = () => {
      if (this.#session === session) this.#session = undefined;
    };
    session.on('close', drop);
    session.on('goaway', drop);
    this.#session = session;
    return session;
  }

  /**
   * Relays tunnel stream `stream` (an HTTP/2 stream or a call framed on the mux; request `headers`, minus
   * Switchyard's own) to a new stream to the
   * container, and the answer back (relayStream); a container that fails before answering gives the
   * client SY_UPSTREAM_UNAVAILABLE.
   * @returns the container stream, or undefined when none could be opened (the client was answered).
   */
  relay(stream: RelayInbound, headers: http2.IncomingHttpHeaders): http2.ClientHttp2Stream | undefined {
    const recorder = this.#recorder;
    const reqId = headers[Metadata.requestId];
    const traced = startContainerSpan(headers, typeof reqId === 'string' ? reqId : undefined, 'grpc');
    if (recorder === undefined && traced === undefined) {
      return relayStream(stream, this.session(), forwardHeaderList(headers, DROP_TO_CONTAINER), RELAY_OPTIONS);
    }
    const startedAt = performance.now();
    const grpc = isGrpcContentType(headers['content-type']);
    // The span's trace context replaces the front end's.
    const out =
      traced === undefined
        ? forwardHeaderList(headers, DROP_TO_CONTAINER)
        : forwardHeaderList(headers, DROP_TO_CONTAINER, injectTraceHeaders(traced.ctx, {}));
    return relayStream(stream, this.session(), out, new ContainerCall(recorder, grpc, startedAt, traced?.span));
  }

  /** Closes the session. */
  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }
}
