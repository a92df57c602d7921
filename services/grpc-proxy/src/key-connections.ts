// Per-API-key cap on open client HTTP/2 connections (issue 11 item 2). A connection counts for a key
// from its first authorized stream until it closes; a stream of a key already at its cap on a
// connection not yet counted gets RESOURCE_EXHAUSTED (SY_KEY_CONNECTIONS_EXCEEDED) and the
// connection stays open (its other keys are served); closing a counted connection frees its place.
import type http2 from 'node:http2';

/** Connections per key ID, each released when it closes. */
export class KeyConnections {
  readonly #byKey = new Map<string, Set<http2.ServerHttp2Session>>();
  readonly #max: number;

  /** @param max open connections per key; 0 = unlimited. */
  constructor(max: number) {
    this.#max = max;
  }

  /**
   * Counts `conn` for `keyId` (idempotent). @returns false when the key already has `max` other open
   * connections (the caller answers SY_KEY_CONNECTIONS_EXCEEDED).
   */
  admit(keyId: string, conn: http2.ServerHttp2Session): boolean {
    if (this.#max <= 0) return true;
    let conns = this.#byKey.get(keyId);
    if (conns?.has(conn)) return true;
    if (conns && conns.size >= this.#max) return false;
    if (!conns) {
      conns = new Set();
      this.#byKey.set(keyId, conns);
    }
    const set = conns;
    set.add(conn);
    conn.once('close', () => {
      set.delete(conn);
      if (set.size === 0 && this.#byKey.get(keyId) === set) this.#byKey.delete(keyId);
    });
    return true;
  }

  /** Open connections counted for `keyId`. */
  count(keyId: string): number {
    return this.#byKey.get(keyId)?.size ?? 0;
  }
}
