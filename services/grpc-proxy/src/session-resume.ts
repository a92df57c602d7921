// Sessions named by request ID (flow 3, G7-G9, G15): found here or in the session directories
// (this region's bucket, then the other regions' in parallel), checked against the caller (G9), and
// attached once however many calls resume them at the same time; and ending an owned session (G13).

import type { Authorization, ControlStore, VersionRecord } from '@switchyard/control-store';
import { isSwitchyardError, type SessionRecord, SwitchyardError } from '@switchyard/protocol';
import { type FrontEndMetrics, ResumeResult, ResumeSource } from '@switchyard/telemetry';
import type { FrontEndLink } from '@switchyard/worker-link';
import type { SessionLookup } from './session-lookup.ts';
import type { LocalSession, SessionFields, SessionTable } from './session-table.ts';

/** What a {@link SessionResumer} needs. */
export interface SessionResumerDeps {
  /** The worker link: tickets, attach, resume, detach, evict, tunnels. */
  link: FrontEndLink;
  /** The sessions this instance holds and the connections bound to them. */
  sessions: SessionTable;
  /** The session directories: this region's, then the others' (G15). */
  lookup: SessionLookup;
  /** Control data: a session record's version must be one of the caller's function (issue 8). */
  control: Pick<ControlStore, 'getVersion'>;
  /** Resume durations by source and result (metrics). */
  metrics: FrontEndMetrics;
}

/** Resumes and ends sessions by request ID; see the file comment. */
export class SessionResumer {
  readonly #deps: SessionResumerDeps;
  /** Attaches under way by request ID: concurrent resumes of one session share one. */
  readonly #resuming = new Map<string, Promise<LocalSession>>();

  readonly #getVersion: (versionId: string) => VersionRecord | undefined;

  constructor(deps: SessionResumerDeps) {
    this.#deps = deps;
    this.#getVersion = (versionId) => deps.control.getVersion(versionId);
  }

  /**
   * Session `reqId` of the caller (flow 3): held here, or found in a directory and attached. The
   * session is in the table; binding it to a connection is the caller's.
   * @param versionGiven the call named a function version (G9 then compares it).
   * @throws SwitchyardError SY_SESSION_NOT_FOUND (unknown, ended, another account's, worker gone),
   *   SY_SESSION_MISMATCH, SY_DIRECTORY_UNAVAILABLE, SY_WORKER_UNAVAILABLE.
   */
  async resume(reqId: string, auth: Authorization, versionGiven: boolean): Promise<LocalSession> {
    const startedMs = performance.now();
    const { lookup, metrics } = this.#deps;
    // A miss counts for the widest place looked in: this region's bucket, or the other regions' too.
    let source: ResumeSource = ResumeSource.local;
    try {
      const session = await this.#resume(reqId, auth, versionGiven, (found) => {
        source = found;
      });
      metrics.resumed(source, ResumeResult.found, (performance.now() - startedMs) / 1000);
      return session;
    } catch (err) {
      if (source === ResumeSource.local && !this.#deps.sessions.live(reqId))
        source = lookup.remoteRegions.length > 0 ? ResumeSource.region : ResumeSource.replica;
      const notFound = isSwitchyardError(err, 'SY_SESSION_NOT_FOUND') || isSwitchyardError(err, 'SY_SESSION_MISMATCH');
      metrics.resumed(
        source,
        notFound ? ResumeResult.notFound : ResumeResult.error,
        (performance.now() - startedMs) / 1000,
      );
      throw err;
    }
  }

  /** {@link resume} without the measurement; `foundIn` is told where a directory record was found. */
  async #resume(
    reqId: string,
    auth: Authorization,
    versionGiven: boolean,
    foundIn: (source: ResumeSource) => void,
  ): Promise<LocalSession> {
    let session = this.#deps.sessions.live(reqId);
    if (!session) {
      // Local bucket, then the other regions' in parallel (G15); an unanswered region is UNAVAILABLE.
      const entry = await this.#deps.lookup.find(reqId);
      if (!entry) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
      foundIn(entry.region === this.#deps.lookup.localRegion ? ResumeSource.replica : ResumeSource.region);
      // Checked before the worker is asked to attach: a refused resume must not hold the session (S1).
      checkOwner(entry.record, auth, versionGiven, this.#getVersion);
      let pending = this.#resuming.get(reqId);
      if (!pending) {
        pending = this.#attachExisting(entry.record);
        this.#resuming.set(reqId, pending);
        pending.finally(() => this.#resuming.delete(reqId)).catch(() => undefined);
      }
      session = await pending;
    }
    checkOwner(session, auth, versionGiven, this.#getVersion);
    return session;
  }

  /**
   * Session `reqId` of the caller as held here or recorded in a directory, without attaching to it.
   * @throws SwitchyardError SY_SESSION_NOT_FOUND, SY_SESSION_MISMATCH, SY_DIRECTORY_UNAVAILABLE.
   */
  async findOwned(reqId: string, auth: Authorization, versionGiven: boolean): Promise<SessionFields> {
    const record = this.#deps.sessions.live(reqId) ?? (await this.#deps.lookup.find(reqId))?.record;
    if (!record) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
    checkOwner(record, auth, versionGiven, this.#getVersion);
    return record;
  }

  /**
   * G13 `DELETE`: ends session `reqId` of the caller's account at its worker (G8/G9 when not).
   * @throws SwitchyardError as {@link SessionResumer.findOwned}, SY_SESSION_NOT_FOUND (worker gone),
   *   SY_WORKER_UNAVAILABLE.
   */
  async end(reqId: string, auth: Authorization, versionGiven: boolean): Promise<void> {
    const record = await this.findOwned(reqId, auth, versionGiven);
    await this.#deps.link.evict(reqId, record);
  }

  /** Attaches this proxy to the worker holding the session of `record` (flow 3). */
  async #attachExisting(record: SessionRecord): Promise<LocalSession> {
    await this.#deps.link.resume(record.reqId, record);
    return this.#deps.sessions.live(record.reqId) ?? this.#deps.sessions.add(record);
  }
}

/**
 * G9: a session of another account is not found (a request ID is not a bearer token); one of another
 * function, or of another version when a version was named, is a mismatch. Session records are
 * written by workers and not signed (issue 8 item 6), so the record's version must also be a known
 * version of the caller's function: a record a worker of B forged with A's account and function but
 * B's version and worker is a mismatch, never a resume that routes A's client to B.
 * @param getVersion the control data's version lookup.
 * @throws SwitchyardError SY_SESSION_NOT_FOUND, SY_SESSION_MISMATCH.
 */
export function checkOwner(
  session: Pick<SessionRecord, 'accountId' | 'functionId' | 'versionId'>,
  auth: Authorization,
  versionGiven: boolean,
  getVersion: (versionId: string) => Pick<VersionRecord, 'functionId' | 'accountId'> | undefined,
): void {
  if (session.accountId !== auth.key.accountId) throw new SwitchyardError('SY_SESSION_NOT_FOUND');
  if (session.functionId !== auth.fn.functionId || (versionGiven && session.versionId !== auth.version.versionId)) {
    throw new SwitchyardError('SY_SESSION_MISMATCH');
  }
  const version = session.versionId === auth.version.versionId ? auth.version : getVersion(session.versionId);
  if (version?.functionId !== auth.fn.functionId) throw new SwitchyardError('SY_SESSION_MISMATCH');
}
