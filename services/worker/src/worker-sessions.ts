// The sessions a worker holds (S1, S2, W3, S3, flow 3): each created from a ticket with its record in
// the session directory, counted as held by the proxy instances whose client connections use it, kept
// for a reconnect window when none does, refreshed against the bucket TTL, and ended (record deleted,
// in-flight calls ended, every proxy that held it told).

import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/nats-core';
import {
  type ErrorCode,
  isSwitchyardError,
  type ReconnectRequest,
  type SessionEnded,
  type SessionRecord,
  SwitchyardError,
} from '@switchyard/protocol';
import type { SessionDirectory } from '@switchyard/session-directory';
import type { PulledTicket } from '@switchyard/ticket-queue';
import type { WorkerTunnel } from '@switchyard/tunnel';
import { publishSessionEnded, type WorkerTunnels } from '@switchyard/worker-link';
import type { Logger } from 'pino';
import { endCall, type InFlightCall, type TunnelCall } from './call-end.ts';
import { isCallbackAllowed } from './callback-allow-list.ts';
import type { WorkerConfig } from './config.ts';
import type { WorkerCapacity } from './worker-capacity.ts';

/** Tries of a session record's write while the directory is unavailable (a NATS server failing over). */
export const RECORD_CREATE_ATTEMPTS = 3;
/** Pause between those tries, ms. */
export const RECORD_CREATE_RETRY_MS = 250;

/**
 * Writes a new session's record, again (the same record) while the directory is unavailable, up to
 * {@link RECORD_CREATE_ATTEMPTS} tries: a try whose reply was lost may have landed, and writing the
 * same record again answers its revision (SessionDirectory.create).
 * @returns the record's revision.
 * @throws SwitchyardError as SessionDirectory.create; SY_DIRECTORY_UNAVAILABLE after the last try.
 */
async function createRecord(directory: SessionDirectory, record: SessionRecord): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await directory.create(record);
    } catch (err) {
      if (attempt >= RECORD_CREATE_ATTEMPTS || !isSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE')) throw err;
      await sleep(RECORD_CREATE_RETRY_MS);
    }
  }
}

/** One session this worker holds (S1): one unit of capacity from allocation to its end. */
export interface WorkerSession {
  /** The record written to the session directory when the session was allocated. */
  readonly record: SessionRecord;
  /** Revision of the record in the session directory (compare-and-set of its refreshes, S2). */
  revision: number;
  /** Proxy instances holding client connections of this session. */
  readonly proxies: Set<string>;
  /**
   * Proxy instances whose tunnel was lost while they held the session (W3): not counted as holding
   * it, but told when it ends, since their client connections may still be pinned to it.
   */
  readonly lostProxies: Set<string>;
  /** In-flight calls (tunnel stream -> its relay), ended with UNAVAILABLE on eviction (S3). */
  readonly streams: Map<TunnelCall, InFlightCall>;
  /**
   * Proxies an attach is in progress for (ticket or reconnect), mapped to true when their detach
   * arrived over the tunnel before the attach settled here (the NATS attach reply races the tunnel):
   * such a late attach is not counted. Allocated on first use.
   */
  attaching?: Map<string, boolean>;
  /** Ends the session when the reconnect window passes with no proxy holding it (W3). */
  windowTimer: NodeJS.Timeout | undefined;
  /** Set once the session is ending: it takes no more calls or attaches. */
  ending: boolean;
}

/** What {@link WorkerSessions} needs. */
export interface WorkerSessionsOptions {
  /** This worker's config (ID, region, reconnect window, TTL, callback allow-list). */
  config: WorkerConfig;
  /** Where `session-ended` messages go (through worker-link). */
  nc: NatsConnection;
  /** This region's session directory: the records are written, refreshed and deleted there. */
  directory: SessionDirectory;
  /** This worker's tunnels: attaches go through them; an attach counts only while one is open. */
  tunnels: WorkerTunnels;
  /** Told when a session ends (its unit is free). */
  capacity: WorkerCapacity;
  /** The worker's logger. */
  logger: Logger;
  /** Reconnect window of this worker's function (ms), when the control store has one (S1). */
  functionReconnectWindowMs?: () => number | undefined;
  /** Told when a session's reconnect window ran out (metrics). @default none */
  onWindowExpired?: () => void;
}

/** The sessions of one worker, by request ID; see the file comment. */
export class WorkerSessions {
  readonly #options: WorkerSessionsOptions;
  readonly #log: Logger;
  readonly #sessions = new Map<string, WorkerSession>();
  #refreshTimer: NodeJS.Timeout | undefined;

  constructor(options: WorkerSessionsOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  /** Sessions held now (each holds one capacity unit). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Request IDs of the sessions held now. */
  ids(): string[] {
    return [...this.#sessions.keys()];
  }

  /** Session `reqId` when held here (it may be ending). */
  get(reqId: string): WorkerSession | undefined {
    return this.#sessions.get(reqId);
  }

  /**
   * A session ticket (S1): writes the session record, attaches the ticket's proxy, then acks the
   * ticket. A record that already exists terminates the ticket; a directory that cannot write it
   * within {@link RECORD_CREATE_ATTEMPTS} tries naks it, after removing what a lost try may have
   * written (another worker may take it; the same record is written again each try, so a try whose
   * reply was lost but whose write landed counts as written);
   * a failed attach drops the ticket and the record. Never throws.
   * @param log the ticket's logger (request and proxy IDs bound).
   */
  async takeTicket(pulled: PulledTicket, log: Logger): Promise<void> {
    const t = pulled.ticket;
    const { config, directory } = this.#options;
    const record: SessionRecord = {
      reqId: t.reqId,
      accountId: t.accountId,
      functionId: t.functionId,
      versionId: t.versionId,
      workerId: config.workerId,
      region: config.region,
      createdAtMs: Date.now(),
    };
    let revision: number;
    try {
      revision = await createRecord(directory, record);
    } catch (err) {
      if (isSwitchyardError(err, 'SY_SESSION_EXISTS')) pulled.term();
      else {
        // A try whose reply was lost may have landed: remove it (best effort), or the ticket's next
        // taker would find this record in its way (SY_SESSION_EXISTS) and nobody would take the session.
        await directory.delete(t.reqId).catch(() => undefined);
        pulled.nak();
      }
      log.warn({ err }, 'could not write the session record');
      return;
    }
    const session: WorkerSession = {
      record,
      revision,
      proxies: new Set(),
      lostProxies: new Set(),
      streams: new Map(),
      windowTimer: undefined,
      ending: false,
    };
    this.#sessions.set(t.reqId, session);
    try {
      this.#attachStarted(session, t.proxyId);
      await this.#options.tunnels.attach(t.proxyId, t.callbackUri, t.token, t.reqId);
      this.#attachFinished(session, t.proxyId);
      pulled.ack();
      log.debug('session allocated');
    } catch (err) {
      log.warn({ err }, 'could not attach to the proxy; ticket dropped');
      pulled.term();
      this.#sessions.delete(t.reqId);
      await directory.delete(t.reqId).catch(() => undefined);
    }
  }

  // --- attach bookkeeping (S1, W3) ---

  /**
   * Counts `proxyId` as holding `session` (its window stops), unless the tunnel to it was lost in the
   * meantime: the proxy may have forwarded a call and lost the tunnel before an attach finished here,
   * and a proxy without a tunnel must not hold the session past its window (W3).
   */
  attachProxy(session: WorkerSession, proxyId: string): void {
    if (!this.#options.tunnels.open(proxyId)) {
      session.lostProxies.add(proxyId);
      if (session.proxies.size === 0) this.#startWindow(session);
      return;
    }
    session.proxies.add(proxyId);
    session.lostProxies.delete(proxyId);
    this.#stopWindow(session);
  }

  /**
   * `proxyId` says its last client connection of `session` stopped (a detach over its tunnel): it no
   * longer holds the session, and an attach of it still in progress will not count when it settles.
   * The reconnect window starts when no proxy holds the session any more.
   */
  detachProxy(session: WorkerSession, proxyId: string): void {
    if (session.attaching?.has(proxyId)) session.attaching.set(proxyId, true);
    if (session.proxies.delete(proxyId) && session.proxies.size === 0) this.#startWindow(session);
  }

  /**
   * The tunnel to `proxyId` closed: the proxy no longer holds any session here, but is told when the
   * ones it held end; those no other proxy holds start their reconnect window.
   */
  tunnelClosed(proxyId: string, tunnel: WorkerTunnel): void {
    this.#log.info({ proxyId, reason: tunnel.closeReason }, 'tunnel closed');
    // W3: an unclean loss keeps the sessions for the reconnect window; a resume re-dials.
    for (const session of this.#sessions.values()) {
      if (!session.proxies.delete(proxyId)) continue;
      session.lostProxies.add(proxyId);
      if (session.proxies.size === 0) this.#startWindow(session);
    }
  }

  /** Marks an attach of `proxyId` to `session` as in progress (see WorkerSession.attaching). */
  #attachStarted(session: WorkerSession, proxyId: string): void {
    if (!session.attaching) session.attaching = new Map();
    session.attaching.set(proxyId, false);
  }

  #attachSettled(session: WorkerSession, proxyId: string): void {
    if (session.attaching?.delete(proxyId) && session.attaching.size === 0) session.attaching = undefined;
  }

  /**
   * A ticket's or reconnect's attach of `proxyId` finished: count the proxy as holding the session,
   * unless it already detached meanwhile (then only the window starts).
   */
  #attachFinished(session: WorkerSession, proxyId: string): void {
    const detachedMeanwhile = session.attaching?.get(proxyId) === true;
    this.#attachSettled(session, proxyId);
    if (!detachedMeanwhile) this.attachProxy(session, proxyId);
    else if (session.proxies.size === 0) this.#startWindow(session);
  }

  // --- reconnect and evict (flow 3, S3) ---

  /**
   * A front end asks to attach a session held here (flow 3).
   * @throws SwitchyardError SY_SESSION_NOT_FOUND, SY_CALLBACK_NOT_ALLOWED (W4), or the attach's code.
   */
  async reconnect(request: ReconnectRequest): Promise<void> {
    const session = this.#sessions.get(request.reqId);
    if (!session || session.ending) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
    if (!isCallbackAllowed(request.callbackUri, this.#options.config.callbackAllowList))
      throw new SwitchyardError('SY_CALLBACK_NOT_ALLOWED');
    this.#attachStarted(session, request.proxyId);
    try {
      await this.#options.tunnels.attach(request.proxyId, request.callbackUri, request.token, request.reqId);
    } catch (err) {
      this.#attachSettled(session, request.proxyId);
      throw isSwitchyardError(err)
        ? err
        : new SwitchyardError('SY_TUNNEL_DIAL_FAILED', { detail: (err as Error).message, cause: err });
    }
    if (session.ending) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
    this.#attachFinished(session, request.proxyId);
  }

  /** Ends session `reqId` now (S3). @returns false when it is not held here (or already ending). */
  async evict(reqId: string): Promise<boolean> {
    const session = this.#sessions.get(reqId);
    if (!session || session.ending) return false;
    await this.#end(session, 'evicted');
    return true;
  }

  /** Ends every session (the worker stops): records deleted, in-flight calls end, proxies told. */
  async endAll(reason: SessionEnded['reason']): Promise<void> {
    await Promise.allSettled([...this.#sessions.values()].map((s) => this.#end(s, reason)));
  }

  // --- windows and end (S1, W3) ---

  #windowMs(): number {
    return this.#options.functionReconnectWindowMs?.() ?? this.#options.config.reconnectWindowMs;
  }

  #startWindow(session: WorkerSession): void {
    if (session.ending || session.windowTimer) return;
    session.windowTimer = setTimeout(() => {
      this.#options.onWindowExpired?.();
      void this.#end(session, 'reconnect-window-expired');
    }, this.#windowMs());
    session.windowTimer.unref();
  }

  #stopWindow(session: WorkerSession): void {
    if (session.windowTimer) clearTimeout(session.windowTimer);
    session.windowTimer = undefined;
  }

  async #end(session: WorkerSession, reason: SessionEnded['reason']): Promise<void> {
    if (session.ending) return;
    session.ending = true;
    this.#stopWindow(session);
    const { reqId } = session.record;
    this.#sessions.delete(reqId);
    const code: ErrorCode = reason === 'worker-exit' ? 'SY_SHUTTING_DOWN' : 'SY_SESSION_EVICTED';
    for (const [stream, call] of session.streams) endCall(stream, call, code);
    const ended: SessionEnded = { reqId, reason };
    publishSessionEnded(this.#options.nc, new Set([...session.proxies, ...session.lostProxies]), ended);
    try {
      await this.#options.directory.delete(reqId);
    } catch (err) {
      // The bucket TTL removes it when the directory is unreachable now (S2).
      this.#log.warn({ err, reqId }, 'could not delete the session record');
    }
    this.#log.debug({ reqId, reason }, 'session ended');
    this.#options.capacity.freed();
  }

  // --- refresh (S2) ---

  /** Starts refreshing every record at a third of the bucket TTL (at least every 250 ms). */
  startRefreshing(): void {
    // S2: refresh against the bucket's real TTL; a bucket created earlier by someone else keeps its own.
    const ttlMs = Math.min(this.#options.config.sessionTtlMs, this.#options.directory.ttlMs);
    const every = Math.max(250, Math.floor(ttlMs / 3));
    this.#refreshTimer = setInterval(() => void this.#refreshAll(), every);
    this.#refreshTimer.unref();
  }

  /** Stops the refreshes of {@link startRefreshing}. */
  stopRefreshing(): void {
    clearInterval(this.#refreshTimer);
  }

  async #refreshAll(): Promise<void> {
    const sessions = [...this.#sessions.values()];
    const inFlight = 64;
    for (let i = 0; i < sessions.length; i += inFlight) {
      await Promise.all(
        sessions.slice(i, i + inFlight).map(async (s) => {
          if (s.ending) return;
          try {
            s.revision = await this.#options.directory.refresh(s.record.reqId, s.revision, s.record);
          } catch (err) {
            if (isSwitchyardError(err, 'SY_SESSION_CONFLICT')) {
              // Someone removed or rewrote our record (operator purge): the session is over.
              await this.#end(s, 'evicted');
            } else {
              this.#log.warn({ err, reqId: s.record.reqId }, 'session refresh failed; retrying next interval');
            }
          }
        }),
      );
    }
  }
}
