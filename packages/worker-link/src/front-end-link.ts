// The front-end end of the exchange with workers (gRPC proxy and invocation instances): everything
// a front end asks of a worker, and everything a worker tells a front end, over NATS and over the
// tunnel's control streams. A front end sees this small surface; subjects, payloads, tokens and how
// failures read stay here.
//
//   allocate()   a ticket, answered by the worker's attach (flow 1, G10, H8, S4)
//   resume()     attach this instance to the worker holding a session (flow 3, G7, G15)
//   reattach()   a held session whose tunnel is gone: the worker dials again (W3)
//   detach()     the last client connection here stopped using a session (S1)
//   evict()      end a session at its worker now (G13 DELETE, S3)
//   serve()      answers workers' NATS attaches (W1) and hears `session-ended` (S3)

import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import {
  decodeMessage,
  isSwitchyardError,
  NatsNames,
  type ReconnectRequest,
  SessionEndedSchema,
  SwitchyardError,
} from '@switchyard/protocol';
import type { TicketQueue } from '@switchyard/ticket-queue';
import { DEFAULT_TOKEN_TTL_MS, type ProxyTunnel, type TunnelListener } from '@switchyard/tunnel';
import { sendControl } from './control-streams.ts';
import { type AllocationObserver, type AllocationRequest, TicketAllocator } from './ticket-allocation.ts';
import { type EvictOutcome, requestEvict, requestReconnect, type WorkerAddress } from './worker-requests.ts';

/** An allocation as a front end asks for it: the token lifetime is optional. */
export type LinkAllocation = Omit<AllocationRequest, 'tokenTtlMs'> & { tokenTtlMs?: number };

/** What a {@link FrontEndLink} needs. */
export interface FrontEndLinkOptions {
  nc: NatsConnection;
  /** This instance's ID: its subjects are `proxy.<instanceId>.*`; its tickets name it. */
  instanceId: string;
  /** This instance's callback listener and tunnel registry (W1). */
  tunnels: TunnelListener;
  /** This region's ticket stream. */
  queue: TicketQueue;
  /** Allocations of one version waiting here at most (S4). */
  maxQueuePerVersion: number;
  /** Budget of a reconnect: the worker's answer, then its tunnel, ms each. @default 5_000 */
  reconnectTimeoutMs?: number;
  /** How long "no responders" from a worker is asked again before it is believed gone, ms. @default 2_000 */
  noRespondersGraceMs?: number;
  /** Told how each allocation ended, and how long its ticket waited (metrics). @default none */
  onAllocationEnd?: AllocationObserver;
}

/** What a front end does when workers speak (see {@link FrontEndLink.serve}). */
export interface FrontEndHandlers {
  /** `http://host:port` of this instance's callback listener, named in tickets and reconnects (W1, W4). */
  callbackUri: string;
  /** A worker ended session `reqId` (evicted, window over, worker exit): close its client connections (S3). */
  onSessionEnded?: (reqId: string) => void;
}

/** Default reconnect budget, ms. */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 5_000;
/** Default grace for "no responders" from a worker, ms. */
export const DEFAULT_NO_RESPONDERS_GRACE_MS = 2_000;

/** One front-end instance's link to workers; see the file comment. */
export class FrontEndLink {
  readonly #nc: NatsConnection;
  readonly #instanceId: string;
  readonly #tunnels: TunnelListener;
  readonly #allocator: TicketAllocator;
  readonly #reconnectTimeoutMs: number;
  readonly #graceMs: number;
  readonly #subs: Subscription[] = [];

  constructor(options: FrontEndLinkOptions) {
    this.#nc = options.nc;
    this.#instanceId = options.instanceId;
    this.#tunnels = options.tunnels;
    this.#reconnectTimeoutMs = options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    this.#graceMs = options.noRespondersGraceMs ?? DEFAULT_NO_RESPONDERS_GRACE_MS;
    this.#allocator = new TicketAllocator({
      tunnels: options.tunnels,
      instanceId: options.instanceId,
      queue: options.queue,
      maxQueuePerVersion: options.maxQueuePerVersion,
      onAllocationEnd: options.onAllocationEnd,
    });
  }

  /**
   * Subscribes to `proxy.<instanceId>.attach` (answered from the tunnel registry, W1) and, with
   * `onSessionEnded`, `proxy.<instanceId>.session-ended` (S3); resolves once the server has them.
   * @throws the NATS error when the connection is closed.
   */
  async serve(handlers: FrontEndHandlers): Promise<void> {
    this.#allocator.callbackUri = handlers.callbackUri;
    this.#subs.push(
      this.#nc.subscribe(NatsNames.proxyAttach(this.#instanceId), {
        callback: (err, msg) => {
          if (!err) msg.respond(this.#tunnels.answerAttach(msg.data));
        },
      }),
    );
    const { onSessionEnded } = handlers;
    if (onSessionEnded) {
      this.#subs.push(
        this.#nc.subscribe(NatsNames.proxySessionEnded(this.#instanceId), {
          callback: (err, msg) => {
            if (err) return;
            let reqId: string;
            try {
              reqId = decodeMessage(SessionEndedSchema, msg.data).reqId;
            } catch {
              return; // not a session-ended message: nothing to close
            }
            onSessionEnded(reqId);
          },
        }),
      );
    }
    await this.#nc.flush();
  }

  /** Stops answering workers (subscriptions dropped). Does not close the NATS connection. */
  close(): void {
    for (const sub of this.#subs.splice(0)) sub.unsubscribe();
  }

  /** `http://host:port` of this instance's callback listener (after {@link serve}). */
  get callbackUri(): string {
    return this.#allocator.callbackUri;
  }

  /** Allocations of `versionId` waiting for a worker here now (S4). */
  queued(versionId: string): number {
    return this.#allocator.queued(versionId);
  }

  /**
   * A worker for a new session or HTTP request (flow 1): see {@link TicketAllocator.allocate}. The token
   * lives at least `tokenTtlMs` (default W1's 30 s).
   * @returns the tunnel of the worker that took it; undefined only when `request.signal` aborted.
   * @throws SwitchyardError SY_QUEUE_FULL, SY_ATTACH_TIMEOUT, SY_QUEUE_UNAVAILABLE, or what `admit` throws.
   */
  allocate(request: LinkAllocation & { signal?: undefined }): Promise<ProxyTunnel>;
  allocate(request: LinkAllocation): Promise<ProxyTunnel | undefined>;
  allocate(request: LinkAllocation): Promise<ProxyTunnel | undefined> {
    return this.#allocator.allocate({ tokenTtlMs: DEFAULT_TOKEN_TTL_MS, ...request });
  }

  /** The open tunnel to `workerId`, if any; with `versionId`, only one bound to that version (issue 8). */
  tunnelTo(workerId: string, versionId?: string): ProxyTunnel | undefined {
    return this.#tunnels.get(workerId, versionId);
  }

  /**
   * Attaches this instance to worker `worker` (its version and ID, from the session record), which holds session `reqId` (flow 3): a control
   * request over the tunnel when one is up (no NATS round trip), else a reconnect over NATS; a
   * tunnel that cannot carry the control request falls back to a reconnect.
   * @throws SwitchyardError SY_SESSION_NOT_FOUND (the worker does not hold it, or is gone),
   *   SY_WORKER_UNAVAILABLE (no answer in time; never NOT_FOUND then).
   */
  async resume(reqId: string, worker: WorkerAddress): Promise<void> {
    // Only a tunnel of the session's version: another version's worker may hold that ID here (issue 8).
    const tunnel = this.#tunnels.get(worker.workerId, worker.versionId);
    if (tunnel) {
      const status = await sendControl(tunnel, 'attach', reqId).catch(() => undefined);
      if (status === 404) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
      if (status === 200) return;
    }
    await this.#reconnect(reqId, worker);
  }

  /**
   * The tunnel to worker `worker` for session `reqId`: the open one, else the worker is asked to
   * dial again (W3).
   * @throws as {@link resume}, and SY_TUNNEL_LOST when the new tunnel closed at once.
   */
  async tunnelFor(reqId: string, worker: WorkerAddress): Promise<ProxyTunnel> {
    const { workerId, versionId } = worker;
    const open = this.#tunnels.get(workerId, versionId);
    if (open) return open;
    await this.#reconnect(reqId, worker);
    const tunnel = this.#tunnels.get(workerId, versionId);
    if (!tunnel) throw new SwitchyardError('SY_TUNNEL_LOST');
    return tunnel;
  }

  /**
   * Tells worker `workerId` that no client connection here uses session `reqId` any more, so its
   * reconnect window starts (S1). Nothing to tell without a tunnel: the worker already counts a lost
   * tunnel as a detach (W3). Never throws; a failure is a lost tunnel, which detaches too.
   * @param versionId the session's version: only its tunnel is told (tunnels are keyed by version and
   *   worker ID, issue 8; another version's worker may hold the same ID here).
   */
  detach(reqId: string, workerId: string, versionId: string): void {
    const tunnel = this.#tunnels.get(workerId, versionId);
    if (tunnel) sendControl(tunnel, 'detach', reqId).catch(() => undefined);
  }

  /**
   * Ends session `reqId` at worker `worker` now (G13 `DELETE`, S3).
   * @throws SwitchyardError SY_SESSION_NOT_FOUND (the worker does not hold it, or is gone),
   *   SY_WORKER_UNAVAILABLE (no answer in time, or any other refusal).
   */
  async evict(reqId: string, worker: WorkerAddress, timeoutMs = this.#reconnectTimeoutMs): Promise<void> {
    let outcome: EvictOutcome;
    try {
      outcome = await requestEvict(this.#nc, worker, reqId, { timeoutMs, noRespondersGraceMs: this.#graceMs });
    } catch (err) {
      // The client hears NOT_FOUND or UNAVAILABLE only; the worker's own refusal code stays in the detail.
      if (isSwitchyardError(err, 'SY_SESSION_NOT_FOUND') || isSwitchyardError(err, 'SY_WORKER_UNAVAILABLE')) throw err;
      throw new SwitchyardError('SY_WORKER_UNAVAILABLE', { detail: (err as Error).message, cause: err });
    }
    if (outcome === 'worker-gone') throw new SwitchyardError('SY_SESSION_NOT_FOUND', { detail: 'worker is gone' });
  }

  /**
   * Asks worker `worker` (core NATS) to attach session `reqId` here, and waits for its tunnel.
   * @throws SwitchyardError SY_SESSION_NOT_FOUND, SY_WORKER_UNAVAILABLE (see {@link requestReconnect};
   *   also when the worker accepted but no tunnel came in time).
   */
  async #reconnect(reqId: string, worker: WorkerAddress): Promise<void> {
    // Only the session's owner may redeem this token (G9), whatever worker learns of it.
    const { token, attached, cancel } = this.#tunnels.expectAttach(reqId, this.#reconnectTimeoutMs + 1_000, {
      workerId: worker.workerId,
      versionId: worker.versionId,
    });
    const request: ReconnectRequest = { reqId, proxyId: this.#instanceId, callbackUri: this.callbackUri, token };
    try {
      await requestReconnect(this.#nc, worker, request, {
        timeoutMs: this.#reconnectTimeoutMs,
        noRespondersGraceMs: this.#graceMs,
      });
    } catch (err) {
      cancel();
      throw err;
    }
    let timer: NodeJS.Timeout | undefined;
    const tunnel = await Promise.race([
      attached,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.#reconnectTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!tunnel) {
      cancel();
      throw new SwitchyardError('SY_WORKER_UNAVAILABLE', { detail: 'worker accepted but did not attach' });
    }
  }
}
