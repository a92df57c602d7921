// Single-use tunnel tokens (W1). A token names one pending attach (a ticket or reconnect request
// for one session); it is redeemed either by a CONNECT on the callback listener (new tunnel) or by a
// NATS attach from a worker that already has a tunnel here. Expired or used tokens are gone.

import { randomBytes } from 'node:crypto';

/** Default token lifetime (ms): W1's 30 s. */
export const DEFAULT_TOKEN_TTL_MS = 30_000;

/** What a token stands for, given back to whoever redeems it. */
export interface PendingAttach<T> {
  readonly reqId: string;
  /** Called once by the redeemer with the tunnel the session will use. */
  readonly resolve: (value: T) => void;
}

/** Table of live tokens; `T` is the tunnel type of the redeemer. */
export class TokenTable<T> {
  readonly #entries = new Map<string, { pending: PendingAttach<T>; timer: NodeJS.Timeout }>();

  /**
   * Issues a token for `reqId` valid `ttlMs` ms. `resolve` runs when the token is redeemed;
   * `onExpire` when it expires unused.
   */
  issue(reqId: string, resolve: (value: T) => void, ttlMs = DEFAULT_TOKEN_TTL_MS, onExpire?: () => void): string {
    const token = randomBytes(24).toString('base64url');
    const timer = setTimeout(() => {
      this.#entries.delete(token);
      onExpire?.();
    }, ttlMs);
    timer.unref();
    this.#entries.set(token, { pending: { reqId, resolve }, timer });
    return token;
  }

  /** Takes the token out of the table: its pending attach, or undefined when unknown/expired/used. */
  redeem(token: string): PendingAttach<T> | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    this.#entries.delete(token);
    clearTimeout(entry.timer);
    return entry.pending;
  }

  /** Withdraws a token (the caller gave up waiting). */
  revoke(token: string): void {
    const entry = this.#entries.get(token);
    if (entry) {
      clearTimeout(entry.timer);
      this.#entries.delete(token);
    }
  }

  /** Number of live tokens. */
  get size(): number {
    return this.#entries.size;
  }
}
