// The sessions this proxy instance holds (S1, S3, G6): each by request ID, the client connections
// using it (HTTP/2 connections and WebSockets), and per HTTP/2 connection its pins. The last
// connection to stop using a session detaches this proxy from the worker; a session the worker ended
// closes its connections.

import type http2 from 'node:http2';
import type { SessionRecord } from '@switchyard/protocol';
import type { FrontEndLink } from '@switchyard/worker-link';

/**
 * A client connection using a session: an HTTP/2 connection, or one WebSocket (G12). `close()` is
 * the clean end an ended session gives it (S3).
 */
export interface SessionHolder {
  /** True once it is closing or closed. */
  readonly closed: boolean;
  /** True once it is gone. */
  readonly destroyed: boolean;
  /** Ends it cleanly (GOAWAY, WebSocket close frame). */
  close(): void;
}

/** A session as this proxy instance holds it: the worker it lives on and the client connections using it. */
export interface LocalSession {
  /** The request ID (`nvcf-reqid`, G5). */
  readonly reqId: string;
  /** The account of the key that started it (G9). */
  readonly accountId: string;
  readonly functionId: string;
  readonly versionId: string;
  /** The worker it lives on; its tunnel is `tunnels.get(workerId, versionId)`. */
  readonly workerId: string;
  /** Client connections bound to it (pinned, resumed, WebSockets); the worker is attached while non-empty. */
  readonly connections: Set<SessionHolder>;
  /** Set when the worker ended it (S3): never bound again. */
  ended: boolean;
}

/** What names a session and its worker: a directory record, or what an allocation learnt. */
export type SessionFields = Pick<SessionRecord, 'reqId' | 'accountId' | 'functionId' | 'versionId' | 'workerId'>;

/**
 * One HTTP/2 connection's pins (G6), by `keyId/function-id/function-version-id` (the version as the
 * call named it, `''` when none): the session, or the allocation under way for the first call.
 */
export type Pins = Map<string, LocalSession | Promise<LocalSession>>;

/** Per client connection: its pins (G6), and every session it used. */
interface ConnState {
  readonly pins: Pins;
  readonly sessions: Set<LocalSession>;
}

/** The sessions of this instance and the connections bound to them; see the file comment. */
export class SessionTable {
  readonly #link: FrontEndLink;
  readonly #sessions = new Map<string, LocalSession>();
  readonly #conns = new WeakMap<http2.ServerHttp2Session, ConnState>();

  /** `link` is used to detach from a worker when a session's last connection is gone (S1). */
  constructor(link: FrontEndLink) {
    this.#link = link;
  }

  /** Sessions this instance holds client connections for (and fresh allocations not yet bound). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Session `reqId` when this instance holds it and it has not ended, else undefined. */
  live(reqId: string): LocalSession | undefined {
    const session = this.#sessions.get(reqId);
    return session && !session.ended ? session : undefined;
  }

  /** A new session on worker `fields.workerId`, held by no connection yet, registered under its request ID. */
  add(fields: SessionFields): LocalSession {
    const session: LocalSession = {
      reqId: fields.reqId,
      accountId: fields.accountId,
      functionId: fields.functionId,
      versionId: fields.versionId,
      workerId: fields.workerId,
      connections: new Set(),
      ended: false,
    };
    this.#sessions.set(session.reqId, session);
    return session;
  }

  /** Drops `session` from the table if it is the one registered under its request ID. */
  forget(session: LocalSession): void {
    if (this.#sessions.get(session.reqId) === session) this.#sessions.delete(session.reqId);
  }

  // --- binding sessions to connections (G6, S1) ---

  /** The pins of HTTP/2 connection `conn` (created empty on first use). */
  pinsOf(conn: http2.ServerHttp2Session): Pins {
    return this.#stateOf(conn).pins;
  }

  /** Pins `session` to `conn` under `pinKey` (G6); `conn` uses it until it closes (S1). */
  bind(conn: http2.ServerHttp2Session, pinKey: string, session: LocalSession): void {
    const state = this.#stateOf(conn);
    state.pins.set(pinKey, session);
    if (session.connections.has(conn)) return;
    session.connections.add(conn);
    state.sessions.add(session);
    if (conn.closed || conn.destroyed) this.release(session, conn);
  }

  /** `holder` (one WebSocket) uses `session` until {@link SessionTable.release}; an ended session closes it. */
  hold(session: LocalSession, holder: SessionHolder): void {
    if (session.ended) {
      holder.close();
      return;
    }
    session.connections.add(holder);
  }

  /** A client connection stopped using `session`; the last one detaches this proxy from the worker (S1). */
  release(session: LocalSession, conn: SessionHolder): void {
    if (!session.connections.delete(conn) || session.connections.size > 0) return;
    this.forget(session);
    if (session.ended) return;
    this.#link.detach(session.reqId, session.workerId, session.versionId);
  }

  /** HTTP/2 connection `conn` closed: it releases every session it used (S1). */
  onConnectionClose(conn: http2.ServerHttp2Session): void {
    const state = this.#conns.get(conn);
    if (!state) return;
    this.#conns.delete(conn);
    for (const session of state.sessions) this.release(session, conn);
  }

  /**
   * Session `session` turned out to be gone (its worker is gone or no longer holds it, G8): it is never
   * bound again, so the next call of a connection pinned to it (G6) without `nvcf-reqid` starts a new
   * session instead of being answered NOT_FOUND again. The connections stay open.
   */
  lost(session: LocalSession): void {
    session.ended = true;
    this.forget(session);
  }

  /** A worker ended session `reqId` (S3): connections bound to it get a clean end (GOAWAY). */
  onSessionEnded(reqId: string): void {
    const session = this.#sessions.get(reqId);
    if (!session) return;
    session.ended = true;
    this.#sessions.delete(reqId);
    // In-flight calls were reset by the worker.
    for (const conn of session.connections) if (!conn.closed) conn.close();
  }

  #stateOf(conn: http2.ServerHttp2Session): ConnState {
    let state = this.#conns.get(conn);
    if (!state) {
      state = { pins: new Map(), sessions: new Set() };
      this.#conns.set(conn, state);
    }
    return state;
  }
}
