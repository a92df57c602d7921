// Taking tickets (W2, W4): pull requests for this worker's function version kept outstanding while it
// has free capacity, each pulled ticket checked (deadline, version, callback allow-list) and handed to
// the sessions (session tickets) or the HTTP holds (HTTP request tickets). Taking a ticket is a CONSUMER
// span `switchyard.ticket.claim`, a child of the front end's queue wait carried in the ticket's headers.

import { context, recordSpanError, SpanKind, SpanNames, startSpan, TraceAttr, tracerFor } from '@switchyard/telemetry';
import type { PulledTicket, TicketQueue } from '@switchyard/ticket-queue';
import type { Logger } from 'pino';
import { isCallbackAllowed } from './callback-allow-list.ts';
import type { WorkerConfig } from './config.ts';
import type { HttpHolds } from './http-holds.ts';
import type { WorkerCapacity } from './worker-capacity.ts';
import type { WorkerSessions } from './worker-sessions.ts';

const tracer = tracerFor('@switchyard/worker');

/** Pull requests a worker keeps outstanding at most (each asks for one ticket). */
const MAX_CONCURRENT_PULLS = 8;

/** What {@link TicketPull} needs. */
export interface TicketPullOptions {
  /** This worker's config (version, pull expiry, callback allow-list). */
  config: WorkerConfig;
  /** The ticket queue of this region. */
  queue: TicketQueue;
  /** Limits the pulls; a reserved unit per ticket being taken; closed when the worker stops. */
  capacity: WorkerCapacity;
  /** Takes session tickets. */
  sessions: WorkerSessions;
  /** Takes HTTP request tickets. */
  holds: HttpHolds;
  /** The worker's logger. */
  logger: Logger;
}

/** The ticket pull loop of one worker; see the file comment. */
export class TicketPull {
  readonly #options: TicketPullOptions;
  readonly #log: Logger;
  /** Pull requests outstanding (each may bring one ticket). */
  #pulling = 0;
  #loop: Promise<void> | undefined;

  constructor(options: TicketPullOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  /** Starts the loop; it runs until the capacity is closed. */
  start(): void {
    this.#loop = this.#pull();
  }

  /** Resolves when the loop has ended and its last pulls settled (after the capacity was closed). */
  async stopped(): Promise<void> {
    await this.#loop?.catch(() => undefined);
  }

  /**
   * Keeps up to {@link MAX_CONCURRENT_PULLS} pull requests outstanding, never more than the free
   * capacity (W2: a ticket is only ever delivered to a worker that can take it). Several pulls in
   * flight let a busy worker take tickets faster than one JetStream round trip each.
   */
  async #pull(): Promise<void> {
    const { capacity, config, queue } = this.#options;
    let consumer: Awaited<ReturnType<TicketQueue['consumer']>> | undefined;
    let backoffMs = 250;
    const pullers = new Set<Promise<void>>();
    while (!capacity.closed) {
      if (capacity.free - this.#pulling <= 0 || this.#pulling >= MAX_CONCURRENT_PULLS) {
        await capacity.whenFreed();
        continue;
      }
      try {
        consumer ??= await queue.consumer(config.versionId);
      } catch (err) {
        this.#log.warn({ err }, 'ticket consumer unavailable; retrying');
        await new Promise((r) => setTimeout(r, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 5_000);
        continue;
      }
      const current = consumer;
      this.#pulling++;
      const puller = (async () => {
        try {
          const pulled = await current.next(config.ticketPullExpiresMs);
          backoffMs = 250;
          if (!pulled) {
            capacity.ticketsWaiting = false; // the pull expired: nothing queued
            return;
          }
          // The warm path may have taken the unit this pull was for: the ticket goes back to the
          // queue (another worker, or this one once a unit is free) rather than overcommitting (W2),
          // and warm offers wait until the queue is drained.
          if (capacity.closed || capacity.free <= 0) {
            capacity.ticketsWaiting = true;
            pulled.nak();
            return;
          }
          capacity.ticketsWaiting = pulled.pending > 0;
          capacity.reserve();
          void this.#claim(pulled).finally(() => capacity.release());
        } catch (err) {
          this.#log.warn({ err }, 'ticket pull failed; retrying');
          if (consumer === current) consumer = undefined;
          await new Promise((r) => setTimeout(r, backoffMs));
          backoffMs = Math.min(backoffMs * 2, 5_000);
        } finally {
          this.#pulling--;
          capacity.freed();
        }
      })();
      pullers.add(puller);
      void puller.finally(() => pullers.delete(puller));
    }
    await Promise.allSettled([...pullers]);
  }

  /** {@link TicketPull.#take} in a CONSUMER span continuing the ticket's trace context; rejects as it does. */
  async #claim(pulled: PulledTicket): Promise<void> {
    const t = pulled.ticket;
    const { config } = this.#options;
    const { span, ctx } = startSpan(tracer, SpanNames.ticketClaim, SpanKind.CONSUMER, pulled.traceContext, () => ({
      [TraceAttr.messagingSystem]: 'nats',
      [TraceAttr.messagingOperationType]: 'process',
      [TraceAttr.messagingDestinationName]: this.#options.queue.stream,
      [TraceAttr.messagingMessageId]: t.reqId,
      [TraceAttr.requestId]: t.reqId,
      [TraceAttr.functionKind]: t.kind,
      [TraceAttr.workerId]: config.workerId,
    }));
    try {
      await context.with(ctx, () => this.#take(pulled));
    } catch (err) {
      recordSpanError(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /** Checks a pulled ticket (deadline, version, W4) and hands it over; drops it (term) when it fails. */
  async #take(pulled: PulledTicket): Promise<void> {
    const { config, sessions, holds } = this.#options;
    const t = pulled.ticket;
    const log = this.#log.child({ reqId: t.reqId, proxyId: t.proxyId });
    if (Date.now() > t.deadlineMs || t.versionId !== config.versionId) {
      pulled.term();
      return;
    }
    if (!isCallbackAllowed(t.callbackUri, config.callbackAllowList)) {
      log.warn({ callbackUri: t.callbackUri }, 'ticket names a callback URI outside the allow-list; dropped (W4)');
      pulled.term();
      return;
    }
    if (t.kind === 'http') await holds.takeTicket(pulled, log);
    else await sessions.takeTicket(pulled, log);
  }
}
