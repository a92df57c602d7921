// In-process cap on what one API key holds open at once on this instance (issue 11 item 2): WebSockets
// on a proxy, requests in flight on an invocation instance. Unlike the token buckets it is not shared
// between replicas: it bounds what one key can make one process hold.

/** What an unlimited {@link KeyConcurrency} hands out: nothing to give back (one function, not one per call). */
const NOTHING_HELD = (): void => {};

/** Places per key ID; a taken place is given back by the function {@link KeyConcurrency.acquire} returns. */
export class KeyConcurrency {
  readonly #held = new Map<string, number>();
  readonly #max: number;

  /** @param max places per key; 0 = unlimited. */
  constructor(max: number) {
    this.#max = max;
  }

  /**
   * Takes a place for `keyId`. @returns the function that gives it back (idempotent), or undefined when
   * the key already holds `max` places (the caller answers its catalogue code, e.g. 429).
   */
  acquire(keyId: string): (() => void) | undefined {
    if (this.#max <= 0) return NOTHING_HELD;
    const held = this.#held.get(keyId) ?? 0;
    if (held >= this.#max) return undefined;
    this.#held.set(keyId, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.#held.get(keyId) ?? 1) - 1;
      if (now <= 0) this.#held.delete(keyId);
      else this.#held.set(keyId, now);
    };
  }

  /** Places `keyId` holds now. */
  count(keyId: string): number {
    return this.#held.get(keyId) ?? 0;
  }
}
