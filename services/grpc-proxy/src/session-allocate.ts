// New sessions (flow 1, G10, S4): a ticket through the worker link, after the version's bound here
// (S4) and the key's rate limit (G2), in another region's stream when the function spills over; and
// pre-allocations (G13) that no connection holds.

import type { Authorization } from '@switchyard/control-store';
import { newRequestId } from '@switchyard/protocol';
import type { FrontEndMetrics } from '@switchyard/telemetry';
import type { FrontEndLink } from '@switchyard/worker-link';
import type { ProxyConfig } from './config.ts';
import type { KeySessions } from './key-sessions.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { LocalSession, SessionTable } from './session-table.ts';
import type { SpillRouter } from './spill-over.ts';

/** What a {@link SessionAllocator} needs. */
export interface SessionAllocatorDeps {
  /** Read at each allocation: `attachTimeoutMs` bounds the wait for a worker (G10). */
  config: Pick<ProxyConfig, 'attachTimeoutMs'>;
  /** The worker link: tickets, attach, resume, detach, evict, tunnels. */
  link: FrontEndLink;
  /** The sessions this instance holds and the connections bound to them. */
  sessions: SessionTable;
  /** Where the ticket of a version goes (this region's stream, or a spill-over region's). */
  spill: SpillRouter;
  /** The key's rate limit (G2). @default none (unlimited) */
  rateLimiter?: RateLimiter;
  /** Session init durations (metrics). */
  metrics: FrontEndMetrics;
  /** Open sessions per key on this proxy (issue 11 item 2). @default none (unlimited) */
  keySessions?: KeySessions;
}

/** Allocates sessions on free workers; see the file comment. */
export class SessionAllocator {
  readonly #deps: SessionAllocatorDeps;

  constructor(deps: SessionAllocatorDeps) {
    this.#deps = deps;
  }

  /**
   * A new session on a free worker (flow 1): the version's bound here (S4), the key's rate limit (G2),
   * then a ticket (in another region's stream when the function spills over) and the worker's attach
   * within the attach timeout or the call's deadline (G10). The session is in the table, held by no
   * connection yet.
   * @param deadlineMs the call's deadline from now, ms (G4), or undefined.
   * @throws SwitchyardError SY_KEY_SESSIONS_EXCEEDED, SY_QUEUE_FULL, SY_RATE_LIMITED, SY_ATTACH_TIMEOUT,
   * SY_QUEUE_UNAVAILABLE.
   */
  async allocate(auth: Authorization, deadlineMs: number | undefined): Promise<LocalSession> {
    const done = this.#deps.keySessions?.reserve(auth.key.keyId);
    let session: LocalSession | undefined;
    try {
      session = await this.#allocate(auth, deadlineMs);
      return session;
    } finally {
      done?.(session);
    }
  }

  async #allocate(auth: Authorization, deadlineMs: number | undefined): Promise<LocalSession> {
    const versionId = auth.version.versionId;
    const reqId = newRequestId();
    const waitMs = Math.min(this.#deps.config.attachTimeoutMs, deadlineMs ?? Number.POSITIVE_INFINITY);
    const { rateLimiter, spill } = this.#deps;
    const startedMs = performance.now();
    const tunnel = await this.#deps.link.allocate({
      reqId,
      accountId: auth.key.accountId,
      functionId: auth.fn.functionId,
      versionId,
      kind: auth.fn.kind,
      deadlineMs: Date.now() + waitMs,
      admit: rateLimiter ? () => rateLimiter.take(auth.key.keyId) : undefined,
      // Spill-over (issue 4): another region's stream when this one has no capacity; the ticket still
      // names this proxy's callback, so the remote worker dials back here.
      queue: () => spill.queueFor(auth.fn, versionId),
    });
    this.#deps.metrics.sessionInit(versionId, (performance.now() - startedMs) / 1000);
    return this.#deps.sessions.add({
      reqId,
      accountId: auth.key.accountId,
      functionId: auth.fn.functionId,
      versionId,
      workerId: tunnel.workerId,
    });
  }

  /**
   * G13: a new session that no connection pins or holds ([ours]: a shared HTTP/2 connection never
   * binds two callers to one session). The worker is told at once that nobody uses it here, so its
   * reconnect window starts (S1); a resume within the window attaches again.
   * @throws SwitchyardError as {@link SessionAllocator.allocate}.
   */
  async preallocate(auth: Authorization): Promise<LocalSession> {
    const session = await this.allocate(auth, undefined);
    if (session.connections.size === 0) {
      this.#deps.sessions.forget(session);
      this.#deps.link.detach(session.reqId, session.workerId, session.versionId);
    }
    return session;
  }
}
