// Per-API-key cap on the sessions this proxy holds open (issue 11 item 2): a new session (flow 1) of a
// key that already holds `max` here, allocations under way included, gets RESOURCE_EXHAUSTED
// (SY_KEY_SESSIONS_EXCEEDED; HTTP 429 with Retry-After for WebSockets). A session counts until no
// client connection of this proxy uses it any more or its worker ended it. Resumes are never refused:
// the session already exists, and refusing would cost the client its state.

import { SwitchyardError } from '@switchyard/protocol';
import type { LocalSession, SessionTable } from './session-table.ts';

/** Sessions per key ID; see the file comment. */
export class KeySessions {
  readonly #max: number;
  readonly #table: SessionTable;
  readonly #byKey = new Map<string, { pending: number; sessions: Set<LocalSession> }>();

  /**
   * @param max open sessions per key; 0 = unlimited.
   * @param table the proxy's sessions: a session counts while the table holds it live.
   */
  constructor(max: number, table: SessionTable) {
    this.#max = max;
    this.#table = table;
  }

  /**
   * Reserves a place for one new session of `keyId`. @returns `done(session?)`: counts `session` (when
   * the allocation succeeded) and gives the reservation back.
   * @throws SwitchyardError SY_KEY_SESSIONS_EXCEEDED when the key holds `max` sessions and reservations.
   */
  reserve(keyId: string): (session?: LocalSession) => void {
    if (this.#max <= 0) return () => {};
    const entry = this.#byKey.get(keyId) ?? { pending: 0, sessions: new Set<LocalSession>() };
    this.#prune(entry.sessions);
    if (entry.pending + entry.sessions.size >= this.#max) throw new SwitchyardError('SY_KEY_SESSIONS_EXCEEDED');
    entry.pending++;
    this.#byKey.set(keyId, entry);
    let done = false;
    return (session) => {
      if (done) return;
      done = true;
      entry.pending--;
      if (session) entry.sessions.add(session);
      if (entry.pending === 0 && entry.sessions.size === 0) this.#byKey.delete(keyId);
    };
  }

  /** Open sessions counted for `keyId` (sessions no longer held are dropped first). */
  count(keyId: string): number {
    const entry = this.#byKey.get(keyId);
    if (!entry) return 0;
    this.#prune(entry.sessions);
    return entry.sessions.size;
  }

  /** Drops sessions the table no longer holds live (released by their last connection, or ended). */
  #prune(sessions: Set<LocalSession>): void {
    for (const session of sessions) if (this.#table.live(session.reqId) !== session) sessions.delete(session);
  }
}
