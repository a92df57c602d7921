// The worker's capacity (W2, H8): `concurrency` units, each held by a session, by an HTTP request, or
// reserved for a ticket being taken. Never overcommitted: a ticket is pulled only for a free unit, and a
// warm offer is admitted only when a unit is free and no ticket of this version waits for one.

/** Something holding one capacity unit per entry (the sessions, the HTTP requests). */
export interface UnitHolder {
  /** Units held now. */
  readonly size: number;
}

/** The capacity units of one worker; see the file comment. */
export class WorkerCapacity {
  readonly #concurrency: number;
  #holders: readonly UnitHolder[] = [];
  /** Units reserved for tickets being taken (between the pull and their session or HTTP hold). */
  #reserved = 0;
  #closed = false;
  #waiter: (() => void) | undefined;
  /**
   * True while tickets of this version wait in the queue (a pulled ticket reported more pending, or
   * one had to go back because the warm path took its unit): warm offers are refused meanwhile, so a
   * freed unit goes to the oldest queued request, not to whichever offer arrives first.
   */
  ticketsWaiting = false;

  /** @param concurrency units in all (WorkerConfig.concurrency, >= 1). */
  constructor(concurrency: number) {
    this.#concurrency = concurrency;
  }

  /** Counts the entries of `holders` as held units from now on (called once, at wiring). */
  countHolders(...holders: UnitHolder[]): void {
    this.#holders = holders;
  }

  /**
   * Free units (W2): `concurrency` minus held and reserved ones. A ticket being taken counts twice for
   * a moment (its reservation and its new session or hold), which errs on the safe side: it can make
   * this negative, never too high.
   */
  get free(): number {
    let free = this.#concurrency - this.#reserved;
    const holders = this.#holders;
    for (let i = 0; i < holders.length; i++) free -= holders[i].size;
    return free;
  }

  /** True once {@link close} was called: no unit is given out any more. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Reserves a unit for a ticket being taken; {@link release} gives it back. */
  reserve(): void {
    this.#reserved++;
  }

  /** Gives back a unit of {@link reserve} (the ticket became a session or HTTP hold, or was dropped). */
  release(): void {
    this.#reserved--;
    this.freed();
  }

  /**
   * True when a warm offer (H8) may take a unit: not closed, no ticket known to wait, a unit free.
   * Checked and taken in the same tick, so a ticket pulled meanwhile finds the unit gone (and goes back).
   */
  admitsWarmOffer(): boolean {
    return !this.#closed && !this.ticketsWaiting && this.free > 0;
  }

  /** Something that limits pulling changed (a unit or a pull slot was freed): wakes {@link whenFreed}. */
  freed(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** Resolves at the next {@link freed} or {@link close}. One waiter at a time (the pull loop). */
  whenFreed(): Promise<void> {
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  /** Stops giving out units (the worker stops): tickets are no longer pulled, warm offers refused. */
  close(): void {
    this.#closed = true;
    this.freed();
  }
}
