// Allocation (flow 1, G10, H8, S4): one algorithm for the gRPC proxy's new sessions and the invocation
// service's requests. Count the request against its version's bound on this instance (before any
// await, so concurrent requests cannot all pass it), issue a single-use token and expect the worker's
// attach, publish a ticket naming this instance, then race the attach against the deadline (and the
// caller giving up); a ticket nobody took is withdrawn from the stream. Traced (when the caller's span
// records) as `switchyard.allocate` with children `switchyard.ticket.publish` (PRODUCER) and
// `switchyard.ticket.queue_wait`; the ticket carries the queue wait's context to the worker.

import { type FunctionKind, isSwitchyardError, SwitchyardError, type Ticket } from '@switchyard/protocol';
import {
  context,
  recordSpanError,
  type Span,
  SpanKind,
  SpanNames,
  startChildSpan,
  TraceAttr,
  trace,
  tracerFor,
} from '@switchyard/telemetry';
import type { TicketQueue } from '@switchyard/ticket-queue';
import type { ProxyTunnel, TunnelListener } from '@switchyard/tunnel';

const tracer = tracerFor('@switchyard/worker-link');

/** Ends an allocation child span with `outcome`, an error status unless it is `attached`. */
function endAllocationSpan(span: Span | undefined, outcome: string, err?: unknown): void {
  if (span === undefined) return;
  span.setAttribute(TraceAttr.allocationOutcome, outcome);
  if (err !== undefined) recordSpanError(span, err);
  span.end();
}

/** One request for a worker. */
export interface AllocationRequest {
  /** Request ID of the new session or HTTP request (UUIDv4); the worker's attach names it. */
  reqId: string;
  accountId: string;
  functionId: string;
  versionId: string;
  /** `grpc`: a session (the worker writes its record); `http`: one request (no record). */
  kind: FunctionKind;
  /** Epoch ms: the ticket's deadline; the wait ends then with SY_ATTACH_TIMEOUT (G10, H8). */
  deadlineMs: number;
  /** Lifetime of the attach token, ms; the token lives at least until the deadline (W1). */
  tokenTtlMs: number;
  /**
   * Stream for the ticket, asked after the token is issued (the proxy's spill-over may pick another
   * region's). @default the allocator's own region's queue
   */
  queue?: () => TicketQueue | Promise<TicketQueue>;
  /**
   * Runs once the request counts against the bound and before the ticket is published: the proxy's
   * rate limit (G2). Its rejection is the allocation's.
   */
  admit?: () => Promise<void>;
  /** Aborted: the caller gave up (its client went away); the ticket is withdrawn, allocate resolves undefined. */
  signal?: AbortSignal;
  /** Appended to the SY_ATTACH_TIMEOUT detail, e.g. ` (NVCF-POLL-SECONDS)`. @default '' */
  timeoutHint?: string;
}

/**
 * How an allocation ended (metrics): a worker attached; the deadline passed; the version's bound here
 * was reached (S4); `admit` refused it with SY_RATE_LIMITED; the caller gave up; anything else.
 */
export type AllocationOutcome = 'assigned' | 'timeout' | 'queue_full' | 'rate_limited' | 'cancelled' | 'error';

/**
 * Told once per allocation when it ends (metrics). `ticketWaitMs`: time from the ticket's publication
 * to its end, ms; undefined when no ticket was published. Must not throw.
 */
export type AllocationObserver = (
  functionId: string,
  versionId: string,
  outcome: AllocationOutcome,
  ticketWaitMs: number | undefined,
) => void;

/** What {@link TicketAllocator} needs. */
export interface TicketAllocatorOptions {
  /** This instance's tunnels: tokens are issued and attaches arrive here. */
  tunnels: TunnelListener;
  /** This instance's ID (`proxyId` of its tickets; workers answer on `proxy.<id>.attach`). */
  instanceId: string;
  /** This region's ticket stream. */
  queue: TicketQueue;
  /** Allocations of one version waiting here at most; one more is SY_QUEUE_FULL (S4). */
  maxQueuePerVersion: number;
  /** Told how each allocation ended (metrics). @default none */
  onAllocationEnd?: AllocationObserver;
}

/** Publication time of an allocation's ticket (performance.now() ms; undefined until published). */
interface TicketTiming {
  publishedMs: number | undefined;
}

/** Allocates workers for one front-end instance; see the file comment. */
export class TicketAllocator {
  readonly #options: TicketAllocatorOptions;
  readonly #queued = new Map<string, number>();
  #callbackUri = '';

  constructor(options: TicketAllocatorOptions) {
    this.#options = options;
  }

  /** `http://host:port` of this instance's callback listener, named in tickets (set once it listens). */
  set callbackUri(uri: string) {
    this.#callbackUri = uri;
  }

  get callbackUri(): string {
    return this.#callbackUri;
  }

  /** Allocations of `versionId` waiting here now. */
  queued(versionId: string): number {
    return this.#queued.get(versionId) ?? 0;
  }

  /**
   * Finds a worker for `request` (see the file comment).
   * @returns the tunnel of the worker that attached, or undefined when `request.signal` aborted first.
   * @throws SwitchyardError SY_QUEUE_FULL (the version's bound here is reached), SY_ATTACH_TIMEOUT (no
   *   worker took it by the deadline), SY_QUEUE_UNAVAILABLE (the ticket could not be published), or
   *   whatever `admit` throws.
   */
  async allocate(request: AllocationRequest): Promise<ProxyTunnel | undefined> {
    const { versionId } = request;
    const observe = this.#options.onAllocationEnd;
    const queued = this.queued(versionId);
    if (queued >= this.#options.maxQueuePerVersion) {
      observe?.(request.functionId, versionId, 'queue_full', undefined);
      throw new SwitchyardError('SY_QUEUE_FULL', { detail: `${queued} requests of this version are queued here` });
    }
    // Counted before any await, so concurrent allocations cannot all pass the bound (S4).
    this.#queued.set(versionId, queued + 1);
    const timing: TicketTiming = { publishedMs: undefined };
    let outcome: AllocationOutcome = 'error';
    const span = startChildSpan(tracer, SpanNames.allocate, SpanKind.INTERNAL, () => ({
      [TraceAttr.requestId]: request.reqId,
      [TraceAttr.functionId]: request.functionId,
      [TraceAttr.versionId]: request.versionId,
      [TraceAttr.functionKind]: request.kind,
    }));
    try {
      if (request.admit) {
        try {
          await request.admit();
        } catch (err) {
          if (isSwitchyardError(err, 'SY_RATE_LIMITED')) outcome = 'rate_limited';
          throw err;
        }
      }
      const tunnel =
        span === undefined
          ? await this.#ticket(request, timing)
          : await context.with(trace.setSpan(context.active(), span), () => this.#ticket(request, timing));
      outcome = tunnel === undefined ? 'cancelled' : 'assigned';
      if (tunnel !== undefined) span?.setAttribute(TraceAttr.workerId, tunnel.workerId);
      endAllocationSpan(span, tunnel === undefined ? 'gone' : 'attached');
      return tunnel;
    } catch (err) {
      if (isSwitchyardError(err, 'SY_ATTACH_TIMEOUT')) outcome = 'timeout';
      endAllocationSpan(span, (err as { code?: string }).code ?? 'error', err);
      throw err;
    } finally {
      const n = this.queued(versionId) - 1;
      if (n > 0) this.#queued.set(versionId, n);
      else this.#queued.delete(versionId);
      if (observe !== undefined) {
        const waitMs = timing.publishedMs === undefined ? undefined : performance.now() - timing.publishedMs;
        observe(request.functionId, versionId, outcome, waitMs);
      }
    }
  }

  async #ticket(request: AllocationRequest, timing: TicketTiming): Promise<ProxyTunnel | undefined> {
    const waitMs = Math.max(1, request.deadlineMs - Date.now());
    // The token opens a tunnel for 30 s (W1); the pending attach lasts while the ticket may wait, and
    // only a worker of this version may redeem it.
    const { token, attached, cancel } = this.#options.tunnels.expectAttach(
      request.reqId,
      Math.max(request.tokenTtlMs, waitMs),
      { versionId: request.versionId },
    );
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let waitSpan: Span | undefined;
    try {
      const queue = request.queue ? await request.queue() : this.#options.queue;
      const ticket: Ticket = {
        reqId: request.reqId,
        accountId: request.accountId,
        functionId: request.functionId,
        versionId: request.versionId,
        kind: request.kind,
        proxyId: this.#options.instanceId,
        callbackUri: this.#callbackUri,
        token,
        deadlineMs: request.deadlineMs,
        region: queue.region,
      };
      const given = new Promise<'gone'>((resolve) => {
        onAbort = () => resolve('gone');
        if (request.signal?.aborted) resolve('gone');
        else request.signal?.addEventListener('abort', onAbort, { once: true });
      });
      // The queue wait starts with the publish (the ticket carries its context to the worker).
      const attributes = () => ({
        [TraceAttr.messagingSystem]: 'nats',
        [TraceAttr.messagingDestinationName]: queue.stream,
        [TraceAttr.region]: queue.region,
      });
      waitSpan = startChildSpan(tracer, SpanNames.queueWait, SpanKind.INTERNAL, attributes);
      const publishSpan = startChildSpan(tracer, SpanNames.ticketPublish, SpanKind.PRODUCER, () => ({
        ...attributes(),
        [TraceAttr.messagingOperationType]: 'send',
        [TraceAttr.messagingMessageId]: request.reqId,
      }));
      let seq: number;
      try {
        seq = await queue.publish(ticket, waitSpan ? trace.setSpan(context.active(), waitSpan) : context.active());
      } catch (err) {
        endAllocationSpan(publishSpan, (err as { code?: string }).code ?? 'error', err);
        throw err;
      }
      timing.publishedMs = performance.now();
      publishSpan?.end();
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(1, request.deadlineMs - Date.now()));
      });
      const outcome = await Promise.race([attached, timeout, given]);
      endAllocationSpan(waitSpan, typeof outcome === 'string' ? outcome : 'attached');
      waitSpan = undefined;
      if (outcome === 'timeout' || outcome === 'gone') {
        cancel();
        void queue.withdraw(seq);
        if (outcome === 'gone') return undefined;
        throw new SwitchyardError('SY_ATTACH_TIMEOUT', {
          detail: `no worker took ${request.kind === 'http' ? 'the request' : 'the session'} within ${waitMs} ms${request.timeoutHint ?? ''}`,
        });
      }
      return outcome;
    } catch (err) {
      cancel();
      endAllocationSpan(waitSpan, (err as { code?: string }).code ?? 'error', err);
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) request.signal?.removeEventListener('abort', onAbort);
    }
  }
}
