// Tickets (DESIGN flow 1, W2, S4): a JetStream work-queue stream per region, subjects
// `rq.<region>.<versionId>.<reqId>`, one durable pull consumer per function version shared by all its
// workers. A ticket is removed when a worker acknowledges it (tunnel up) or when the publisher
// withdraws it (attach timeout, H8). A ticket carries its publisher's trace context in the NATS
// message headers (W3C `traceparent`, `tracestate`), so the worker that takes it continues the trace.

import {
  AckPolicy,
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { type MsgHdrs, type NatsConnection, nanos, headers as natsHeaders } from '@nats-io/nats-core';
import {
  isReplicasExceedCluster,
  isStreamFull,
  retryWhileUnavailable,
  timeNatsOperation,
  toSwitchyardError,
} from '@switchyard/nats-errors';
import {
  decodeMessage,
  encodeMessage,
  NatsNames,
  SwitchyardError,
  type Ticket,
  TicketSchema,
} from '@switchyard/protocol';
import { type Context, context, contextFromHeaders, injectTraceHeaders, ROOT_CONTEXT } from '@switchyard/telemetry';

/** Trace propagation headers a ticket may carry (W3C trace context). */
const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** NATS headers carrying `ctx`'s trace context, or undefined when it has none (nothing allocated). */
function traceHeadersOf(ctx: Context): MsgHdrs | undefined {
  const carrier = injectTraceHeaders(ctx, {} as Record<string, string>);
  if (carrier.traceparent === undefined) return undefined;
  const h = natsHeaders();
  for (const name of TRACE_HEADERS) if (carrier[name] !== undefined) h.set(name, carrier[name]);
  return h;
}

/** The trace context of a delivered ticket's headers (the root context when it carries none). */
function traceContextOf(h: MsgHdrs | undefined): Context {
  const traceparent = h?.get('traceparent');
  if (!traceparent) return ROOT_CONTEXT;
  const tracestate = h?.get('tracestate');
  return contextFromHeaders(tracestate ? { traceparent, tracestate } : { traceparent });
}

/** Options of {@link TicketQueue.open}; all optional. */
export interface TicketQueueOptions {
  /** Region whose stream this is (`TICKETS_<region>`). */
  region: string;
  /** Stream replicas. @default 1 */
  replicas?: number;
  /** Keep tickets in memory (fast; lost on server restart, the publisher then times out) or on file. @default 'memory' */
  storage?: 'memory' | 'file';
  /** Age (ms) after which the server drops a ticket nobody took. @default 120_000 */
  maxAgeMs?: number;
  /** Stream-wide bound on queued tickets; publish fails with SY_QUEUE_FULL beyond it. @default 100_000 */
  maxTickets?: number;
  /** Time a worker has to acknowledge a ticket it pulled before it is redelivered (ms). @default 30_000 */
  ackWaitMs?: number;
  /** Placement tags of the stream, e.g. `['region:us-east']`. */
  placementTags?: string[];
}

/** A ticket pulled by a worker, with the JetStream message to settle it. */
export interface PulledTicket {
  readonly ticket: Ticket;
  /**
   * Tickets of this consumer (this version) still waiting after this one when it was delivered, as
   * JetStream reports in the delivery (`info.pending`): 0 means the queue was drained.
   */
  readonly pending: number;
  /** Trace context the publisher put in the ticket's headers (`traceparent`), else the root context. */
  readonly traceContext: Context;
  /** Acknowledge: the tunnel is up, the ticket is done (W2). */
  ack(): void;
  /** Terminate: drop the ticket for good (expired, not allowed, publisher gone). */
  term(): void;
  /** Give the ticket back for another worker now. */
  nak(): void;
}

function unavailable(err: unknown, what: string): SwitchyardError {
  if (err instanceof SwitchyardError) return err;
  if (isReplicasExceedCluster(err)) return toSwitchyardError(err, 'SY_QUEUE_UNAVAILABLE', what);
  return new SwitchyardError('SY_QUEUE_UNAVAILABLE', {
    detail: `${what}: ${(err as Error)?.message ?? err}`,
    cause: err,
  });
}

/** One region's ticket stream. */
export class TicketQueue {
  readonly region: string;
  readonly stream: string;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #ackWaitMs: number;
  readonly #options: TicketQueueOptions;
  readonly #consumers = new Map<string, Promise<TicketConsumer>>();
  readonly #failed = new Set<string>();
  /** The connection (its operation recorder times consumer fetches). */
  readonly #nc: NatsConnection;

  private constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager, options: TicketQueueOptions) {
    this.#nc = nc;
    this.region = options.region;
    this.stream = NatsNames.ticketStream(options.region);
    this.#js = js;
    this.#jsm = jsm;
    this.#ackWaitMs = options.ackWaitMs ?? 30_000;
    this.#options = options;
  }

  /** Creates the stream when it does not exist (first start, or a memory stream lost in a server restart). */
  static async #ensureStream(jsm: JetStreamManager, options: TicketQueueOptions): Promise<void> {
    const name = NatsNames.ticketStream(options.region);
    try {
      await jsm.streams.info(name);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
      await jsm.streams.add({
        name,
        subjects: [NatsNames.ticketStreamSubjects(options.region)],
        retention: RetentionPolicy.Workqueue,
        storage: options.storage === 'file' ? StorageType.File : StorageType.Memory,
        num_replicas: options.replicas ?? 1,
        max_age: nanos(options.maxAgeMs ?? 120_000),
        max_msgs: options.maxTickets ?? 100_000,
        discard: DiscardPolicy.New,
        duplicate_window: nanos(Math.min(options.maxAgeMs ?? 120_000, 120_000)),
        ...(options.placementTags ? { placement: { cluster: '', tags: options.placementTags } } : {}),
      });
    }
  }

  /**
   * Opens (creating when missing) the ticket stream of `options.region`.
   * @throws SwitchyardError SY_QUEUE_UNAVAILABLE when JetStream does not answer.
   */
  static async open(nc: NatsConnection, options: TicketQueueOptions): Promise<TicketQueue> {
    try {
      const jsm = await jetstreamManager(nc, { timeout: 5_000 });
      // Idempotent (info, then add only when missing): asked again while JetStream cannot answer.
      await retryWhileUnavailable(() => TicketQueue.#ensureStream(jsm, options));
      return new TicketQueue(nc, jetstream(nc, { timeout: 5_000 }), jsm, options);
    } catch (err) {
      throw unavailable(err, `opening ticket stream ${NatsNames.ticketStream(options.region)}`);
    }
  }

  /**
   * Publishes `ticket` (deduplicated by request ID), with the trace context of `traceContext` in its
   * headers. Resolves with the stream sequence, needed to withdraw it.
   * @param traceContext context whose span the taking worker continues. @default the active context
   * @throws SwitchyardError SY_QUEUE_FULL when the stream is at its bound, SY_QUEUE_UNAVAILABLE otherwise.
   */
  async publish(ticket: Ticket, traceContext: Context = context.active()): Promise<number> {
    const subject = NatsNames.ticketSubject(this.region, ticket.versionId, ticket.reqId);
    const data = encodeMessage(ticket);
    const headers = traceHeadersOf(traceContext);
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await this.#js.publish(
          subject,
          data,
          headers ? { msgID: ticket.reqId, headers } : { msgID: ticket.reqId },
        );
        return ack.seq;
      } catch (err) {
        // DiscardPolicy.New: the stream at max_msgs refuses the ticket (a 503 that is not an outage).
        if (isStreamFull(err)) {
          throw new SwitchyardError('SY_QUEUE_FULL', { cause: err });
        }
        if (attempt > 0) throw unavailable(err, 'publishing ticket');
        // The stream may be gone (memory storage across a server restart): recreate it, retry once.
        try {
          await TicketQueue.#ensureStream(this.#jsm, this.#options);
        } catch (ensureErr) {
          throw unavailable(ensureErr, 'publishing ticket');
        }
      }
    }
  }

  /** Withdraws a queued ticket (H8); a ticket already taken or gone is not an error. Never throws. */
  async withdraw(seq: number): Promise<void> {
    try {
      await this.#jsm.streams.deleteMessage(this.stream, seq, false);
    } catch {
      // Already acknowledged by a worker, expired, or JetStream unreachable: the worker drops it by deadline.
    }
  }

  /**
   * The shared durable pull consumer of `versionId` (created when missing).
   * @throws SwitchyardError SY_QUEUE_UNAVAILABLE.
   */
  consumer(versionId: string): Promise<TicketConsumer> {
    let c = this.#consumers.get(versionId);
    if (c && this.#failed.has(versionId)) {
      // Its last pull failed (server restart, stream lost): open it anew.
      this.#failed.delete(versionId);
      c = undefined;
    }
    if (!c) {
      c = this.#openConsumer(versionId);
      this.#consumers.set(versionId, c);
      c.catch(() => this.#consumers.delete(versionId));
    }
    return c;
  }

  async #openConsumer(versionId: string): Promise<TicketConsumer> {
    const name = NatsNames.ticketConsumer(versionId);
    try {
      await TicketQueue.#ensureStream(this.#jsm, this.#options);
      try {
        await this.#jsm.consumers.info(this.stream, name);
      } catch (err) {
        if (!(err instanceof JetStreamApiError) || err.status !== 404) throw err;
        await this.#jsm.consumers.add(this.stream, {
          durable_name: name,
          filter_subject: NatsNames.ticketFilter(this.region, versionId),
          ack_policy: AckPolicy.Explicit,
          ack_wait: nanos(this.#ackWaitMs),
          max_ack_pending: -1,
          inactive_threshold: nanos(24 * 3600_000),
        });
      }
      const nc = this.#nc;
      return new TicketConsumer(
        await this.#js.consumers.get(this.stream, name),
        () => this.#failed.add(versionId),
        (pull) => timeNatsOperation(nc, 'consumer_fetch', pull),
      );
    } catch (err) {
      throw unavailable(err, `opening ticket consumer ${name}`);
    }
  }
}

/** Pulls tickets of one function version. */
export class TicketConsumer {
  readonly #consumer: Awaited<ReturnType<JetStreamClient['consumers']['get']>>;
  readonly #onFailure: () => void;
  readonly #timed: (pull: () => Promise<JsMsg | null>) => Promise<JsMsg | null>;

  /**
   * @param onFailure called when a pull fails, so the queue opens the consumer anew next time.
   * @param timed runs each pull (the queue times it as a `consumer_fetch`). @default runs it as is
   */
  constructor(
    consumer: Awaited<ReturnType<JetStreamClient['consumers']['get']>>,
    onFailure: () => void = () => undefined,
    timed: (pull: () => Promise<JsMsg | null>) => Promise<JsMsg | null> = (pull) => pull(),
  ) {
    this.#consumer = consumer;
    this.#onFailure = onFailure;
    this.#timed = timed;
  }

  /**
   * Waits up to `expiresMs` for one ticket. Resolves null when none came. A malformed ticket is
   * terminated and skipped (resolves null).
   * @throws SwitchyardError SY_QUEUE_UNAVAILABLE when JetStream does not answer.
   */
  async next(expiresMs: number): Promise<PulledTicket | null> {
    let msg: JsMsg | null;
    try {
      // JetStream pull requests expire after 1 s at the least.
      msg = await this.#timed(() => this.#consumer.next({ expires: Math.max(1_000, expiresMs) }));
    } catch (err) {
      this.#onFailure();
      throw unavailable(err, 'pulling a ticket');
    }
    if (!msg) return null;
    let ticket: Ticket;
    try {
      ticket = decodeMessage(TicketSchema, msg.data);
    } catch {
      msg.term();
      return null;
    }
    const m = msg;
    return {
      ticket,
      pending: m.info.pending,
      traceContext: traceContextOf(m.headers),
      ack: () => m.ack(),
      term: () => m.term(),
      nak: () => m.nak(),
    };
  }
}
