// HTTP requests (H2-H4, H8, H10): one-shot, no session record (nobody resumes an HTTP request). Each
// holds one capacity unit from its ticket, or from its warm offer, until its tunnel stream closes, and
// is relayed to the container (undici for `http://` upstreams, the HTTP/2 relay otherwise). The tunnel
// stream is an HTTP/2 stream of the tunnel, or a call framed on its mux stream (issue 12), alike.

import http2 from 'node:http2';
import { DirectBody, Metadata, TunnelHeaders } from '@switchyard/protocol';
import { endRelaySpan } from '@switchyard/telemetry';
import type { PulledTicket } from '@switchyard/ticket-queue';
import { respondWithError } from '@switchyard/tunnel';
import type { WorkerTunnels } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import type { WorkerConfig } from './config.ts';
import { recordHttpRelayEnd, type WorkerRecorder } from './container-calls.ts';
import type { ContainerClient } from './container-client.ts';
import { startContainerSpan } from './container-span.ts';
import { type HttpTunnelCall, HttpUpstream } from './http-upstream.ts';
import type { WorkerCapacity } from './worker-capacity.ts';

const { NGHTTP2_REFUSED_STREAM } = http2.constants;

/**
 * How long an HTTP request ticket holds its capacity unit waiting for the invocation instance to open
 * the request's stream after the attach (ms); it opens it at once unless its client went away.
 */
const HTTP_STREAM_WAIT_MS = 10_000;
/** How long `close()` lets in-flight HTTP requests finish before closing the container pool (ms). */
const HTTP_DRAIN_MS = 5_000;

/** One HTTP request (one-shot, H2): holds one capacity unit from its ticket until its stream closes. */
interface HttpHold {
  timer: NodeJS.Timeout | undefined;
  started: boolean;
}

/** What {@link HttpHolds} needs. */
export interface HttpHoldsOptions {
  /** This worker's config (upstream, IDs, region). */
  config: WorkerConfig;
  /** This worker's tunnels: a ticket's attach goes through them. */
  tunnels: WorkerTunnels;
  /** Whether a warm offer may take a unit; told when a request's unit is free. */
  capacity: WorkerCapacity;
  /** The HTTP/2 connection to the container, used when the upstream is not `http://`. */
  container: ContainerClient;
  /** The worker's logger. */
  logger: Logger;
  /** Receives each HTTP container request's outcome (HTTP containers; h2c ones record in `container`). @default none */
  recorder?: WorkerRecorder;
}

/** The HTTP requests of one worker holding a capacity unit, by request ID; see the file comment. */
export class HttpHolds {
  readonly #options: HttpHoldsOptions;
  readonly #log: Logger;
  readonly #held = new Map<string, HttpHold>();
  /** Set when the upstream is `http://` (HTTP functions): requests go through undici. */
  readonly #httpUpstream: HttpUpstream | undefined;

  constructor(options: HttpHoldsOptions) {
    this.#options = options;
    this.#log = options.logger;
    const { upstream } = options.config;
    this.#httpUpstream = upstream.startsWith('http:') ? new HttpUpstream(upstream) : undefined;
  }

  /** HTTP requests holding a unit now. */
  get size(): number {
    return this.#held.size;
  }

  /**
   * An HTTP request ticket: no session record (nobody resumes an HTTP request); one capacity unit is
   * held from the ticket until the request's tunnel stream closes, or {@link HTTP_STREAM_WAIT_MS} when
   * the invocation instance never opens it. The unit is registered before the attach, because the
   * stream can arrive over the tunnel before the attach reply arrives over NATS. Never throws.
   * @param log the ticket's logger (request and proxy IDs bound).
   */
  async takeTicket(pulled: PulledTicket, log: Logger): Promise<void> {
    const { reqId, proxyId, callbackUri, token } = pulled.ticket;
    const hold: HttpHold = { timer: undefined, started: false };
    this.#held.set(reqId, hold);
    try {
      await this.#options.tunnels.attach(proxyId, callbackUri, token, reqId);
      pulled.ack();
    } catch (err) {
      log.warn({ err }, 'could not attach to the invocation instance; ticket dropped');
      pulled.term();
      this.#release(reqId, hold);
      return;
    }
    if (!hold.started && this.#held.get(reqId) === hold) {
      hold.timer = setTimeout(() => this.#release(reqId, hold), HTTP_STREAM_WAIT_MS);
      hold.timer.unref();
    }
  }

  /**
   * Relays the tunnel stream of a held HTTP request to the container, or takes a warm offer (a
   * stream marked `x-switchyard-direct` for no held request); its capacity unit is freed when the
   * stream closes.
   * @returns false when `headers` name no held HTTP request and no warm offer (the stream belongs to
   *   a session).
   */
  onStream(stream: HttpTunnelCall, headers: http2.IncomingHttpHeaders): boolean {
    const reqId = headers[Metadata.requestId];
    if (typeof reqId === 'string' && headers[TunnelHeaders.direct] !== undefined && !this.#held.has(reqId)) {
      this.#onDirect(stream, headers, reqId);
      return true;
    }
    const hold = typeof reqId === 'string' ? this.#held.get(reqId) : undefined;
    if (reqId === undefined || typeof reqId !== 'string' || !hold) return false;
    this.#relay(stream, headers, reqId, hold);
    return true;
  }

  /** Lets in-flight HTTP requests finish (at most {@link HTTP_DRAIN_MS}), then closes the container pool. */
  async close(): Promise<void> {
    if (!this.#httpUpstream) return;
    const until = Date.now() + HTTP_DRAIN_MS;
    while ([...this.#held.values()].some((h) => h.started) && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    await this.#httpUpstream.close();
  }

  /**
   * The warm path: an invocation instance offers a request without a ticket. Admitted (informational
   * `:status 100`, then relayed like a ticketed request, holding one unit) when this worker serves its
   * version, is not stopping, has a free unit and no tickets of its version are known to wait; else
   * RST_STREAM REFUSED_STREAM, which tells the instance the request was not processed and may take
   * the ticket path (behind the ones already queued).
   */
  #onDirect(stream: HttpTunnelCall, headers: http2.IncomingHttpHeaders, reqId: string): void {
    stream.on('error', () => undefined);
    const { capacity, config } = this.#options;
    if (!capacity.admitsWarmOffer() || headers[TunnelHeaders.functionVersionId] !== config.versionId) {
      stream.close(NGHTTP2_REFUSED_STREAM);
      return;
    }
    const hold: HttpHold = { timer: undefined, started: false };
    this.#held.set(reqId, hold);
    try {
      // A request with its whole body needs no admission; a streamed body waits for this.
      if (headers[TunnelHeaders.direct] === DirectBody.stream) stream.additionalHeaders({ ':status': 100 });
    } catch {
      this.#release(reqId, hold);
      return;
    }
    this.#relay(stream, headers, reqId, hold);
  }

  #relay(stream: HttpTunnelCall, headers: http2.IncomingHttpHeaders, reqId: string, hold: HttpHold): void {
    if (hold.started) {
      respondWithError(stream, false, 'SY_SESSION_NOT_FOUND');
      return;
    }
    hold.started = true;
    clearTimeout(hold.timer);
    stream.on('close', () => this.#release(reqId, hold));
    if (this.#httpUpstream) {
      const { config } = this.#options;
      const context = {
        reqId,
        functionId: config.functionId,
        versionId: config.versionId,
        region: config.region,
      };
      const startedAt = performance.now();
      const recorder = this.#options.recorder;
      const traced = startContainerSpan(headers, reqId, 'http');
      void this.#httpUpstream.relay(stream, headers, context, traced?.ctx).then((result) => {
        if (recorder !== undefined) recordHttpRelayEnd(recorder, startedAt, result);
        if (traced !== undefined) endRelaySpan(traced.span, { httpStatus: result.status, error: result.error });
        if (result.error) this.#log.debug({ reqId, ...result }, 'HTTP request ended early');
      });
    } else {
      this.#options.container.relay(stream, headers);
    }
  }

  #release(reqId: string, hold: HttpHold): void {
    if (this.#held.get(reqId) !== hold) return;
    clearTimeout(hold.timer);
    this.#held.delete(reqId);
    this.#options.capacity.freed();
  }
}
