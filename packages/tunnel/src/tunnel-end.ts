// The lifecycle both ends of a tunnel share: one HTTP/2 session, PINGs to notice a vanished peer,
// the reason it closed (for logs), and a single `close` event once it takes no new streams.

import { EventEmitter } from 'node:events';
import type http2 from 'node:http2';
import { startPinging, type TunnelCloseReason, trackCloseReason } from './tunnel-ping.ts';

/**
 * One end of a tunnel over `session`. Emits `close` once it takes no new streams (GOAWAY sent or
 * received, PINGs unanswered for several intervals, socket gone); streams in flight after a GOAWAY
 * still finish on `session`.
 */
export class TunnelEnd<S extends http2.Http2Session> extends EventEmitter<{ close: [] }> {
  /** The HTTP/2 session of this end (client at the proxy, server at the worker). */
  readonly session: S;
  #closed = false;
  readonly #reason: ReturnType<typeof trackCloseReason>;
  readonly #stopPinging: () => void;

  /** @param pingIntervalMs PING interval (ms); unanswered PINGs drop the tunnel (W3). */
  constructor(session: S, pingIntervalMs: number) {
    super();
    this.session = session;
    session.on('error', () => {
      // 'close' follows; the tunnel is dropped there.
    });
    session.on('close', () => this.#onClose());
    session.on('goaway', () => this.#onClose());
    this.#reason = trackCloseReason(session);
    this.#stopPinging = startPinging(session, pingIntervalMs, undefined, () =>
      this.#reason.set('ping timeout', 'ping_timeout'),
    );
  }

  /** Why the tunnel closed (for logs): `ping timeout`, `goaway received: code N`, `error: CODE`, `closed locally`... */
  get closeReason(): string {
    return this.#reason.get();
  }

  /** Why the tunnel closed, as a bounded label value (one of `TUNNEL_CLOSE_REASONS`). */
  get closeReasonKind(): TunnelCloseReason {
    return this.#reason.kind();
  }

  /** True once the tunnel closed or received GOAWAY: no new streams may use it. */
  get closed(): boolean {
    return this.#closed || this.session.closed || this.session.destroyed;
  }

  /**
   * GOAWAY: in-flight streams finish, then the socket closes.
   * @param replaced true when a newer tunnel of the same worker replaces this one (close reason `replaced`).
   */
  close(replaced = false): void {
    if (replaced) this.#reason.set('replaced by a newer tunnel', 'replaced');
    else this.#reason.set('closed locally', 'closed_locally');
    if (!this.session.closed) this.session.close();
    this.#onClose();
  }

  /** Drops the tunnel at once (in-flight streams fail). */
  destroy(): void {
    this.#reason.set('destroyed locally', 'destroyed_locally');
    this.session.destroy();
    this.#onClose();
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPinging();
    this.emit('close');
  }
}
