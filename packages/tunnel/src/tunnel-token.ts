// Single-use tunnel tokens (W1). A token names one pending attach (a ticket or reconnect request
// for one session); it is redeemed either by a CONNECT on the callback listener (new tunnel) or by a
// NATS attach from a worker that already has a tunnel here. Expired or used tokens are gone.
//
// A token opens a new tunnel (CONNECT) only within W1's 30 s of being issued. The pending attach
// itself lives as long as its ticket may wait (an HTTP request can queue for minutes): a worker that
// claims an older ticket redeems it over NATS on the tunnel it already has, or first asks for a fresh
// token (`refresh`), so a token copied from a ticket is never a long-lived credential. The worker that
// asked for a refresh may ask again with the old token (its answer was lost on the way): it gets the
// token now current, and nobody else does.

import { randomBytes } from 'node:crypto';

/** Default token lifetime (ms): W1's 30 s. */
export const DEFAULT_TOKEN_TTL_MS = 30_000;

/** What a token stands for, given back to whoever redeems it. */
export interface PendingAttach<T> {
  readonly reqId: string;
  /** Only this worker may redeem it (a reconnect names the session's owner, G9); undefined: any. */
  readonly workerId?: string;
  /** Only a worker of this function version may redeem it (a ticket's version); undefined: any. */
  readonly versionId?: string;
  /** Called once by the redeemer with the tunnel the session will use. */
  readonly resolve: (value: T) => void;
  /** Epoch ms its current token was issued (a refresh issues a new one): the token's age at use is now minus this. */
  readonly issuedAt: number;
}

/** Options of {@link TokenTable.issue}. */
export interface IssueOptions {
  /** The pending attach ends (token withdrawn) after this many ms. @default 30_000 */
  ttlMs?: number;
  /** A CONNECT may redeem the token only this many ms after issue (W1). @default 30_000, at most `ttlMs` */
  connectTtlMs?: number;
  /** Runs when the pending attach expires unused. */
  onExpire?: () => void;
  /** Bind the token to one worker ID. */
  workerId?: string;
  /** Bind the token to one function version. */
  versionId?: string;
}

interface Entry<T> {
  /** The token it is filed under (changes on refresh). */
  token: string;
  pending: PendingAttach<T>;
  timer: NodeJS.Timeout;
  /** Epoch ms after which a CONNECT may no longer redeem this token. */
  connectUntil: number;
  connectTtlMs: number;
  /** Tokens it was filed under before, each with the worker whose refresh replaced it. */
  former?: Map<string, string>;
}

/** Table of live tokens; `T` is the tunnel type of the redeemer. */
export class TokenTable<T> {
  readonly #entries = new Map<string, Entry<T>>();
  /** Entries by their `resolve`, so a pending attach can be withdrawn whatever its current token. */
  readonly #byResolve = new WeakMap<(value: T) => void, Entry<T>>();
  /** Live entries by a token a refresh replaced (kept while the entry is in the table). */
  readonly #replaced = new Map<string, Entry<T>>();

  /** Issues a token for `reqId`; `resolve` runs when the token is redeemed. */
  issue(reqId: string, resolve: (value: T) => void, options: IssueOptions = {}): string {
    const ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    const connectTtlMs = Math.min(options.connectTtlMs ?? DEFAULT_TOKEN_TTL_MS, ttlMs);
    const token = randomBytes(24).toString('base64url');
    const entry: Entry<T> = {
      token,
      pending: { reqId, resolve, workerId: options.workerId, versionId: options.versionId, issuedAt: Date.now() },
      timer: setTimeout(() => {
        this.#remove(entry);
        options.onExpire?.();
      }, ttlMs),
      connectUntil: Date.now() + connectTtlMs,
      connectTtlMs,
    };
    entry.timer.unref();
    this.#entries.set(token, entry);
    this.#byResolve.set(resolve, entry);
    return token;
  }

  /**
   * The pending attach of `token` without using it: undefined when unknown, expired or used, and, with
   * `forConnect`, when it is older than its CONNECT lifetime.
   */
  peek(token: string, forConnect = false): PendingAttach<T> | undefined {
    const entry = this.#entries.get(token);
    if (!entry || (forConnect && Date.now() > entry.connectUntil)) return undefined;
    return entry.pending;
  }

  /**
   * The pending attach of `token`, or of the token a refresh by worker `workerId` replaced it with
   * (that worker asking again), else undefined. What {@link refresh} would act on.
   */
  peekForRefresh(token: string, workerId: string): PendingAttach<T> | undefined {
    return this.#entryForRefresh(token, workerId)?.pending;
  }

  /**
   * Takes the token out of the table: its pending attach, or undefined when unknown/expired/used (and,
   * with `forConnect`, past its CONNECT lifetime: the token then stays for a NATS attach or a refresh).
   */
  redeem(token: string, forConnect = false): PendingAttach<T> | undefined {
    const entry = this.#entries.get(token);
    if (!entry || (forConnect && Date.now() > entry.connectUntil)) return undefined;
    this.#remove(entry);
    return entry.pending;
  }

  /**
   * Replaces `token` by a fresh one for the same pending attach, with a new CONNECT lifetime (worker
   * `workerId` claimed a ticket older than it); the old token no longer redeems anything. The same
   * worker asking again with the old token (its answer was lost) gets the token now current, its
   * CONNECT lifetime renewed.
   * @returns the token to use, or undefined when `token` is unknown, expired, used, or replaced at
   *   another worker's request.
   */
  refresh(token: string, workerId: string): string | undefined {
    const entry = this.#entryForRefresh(token, workerId);
    if (!entry) return undefined;
    const now = Date.now();
    if (entry.token === token) {
      this.#entries.delete(token);
      entry.token = randomBytes(24).toString('base64url');
      entry.pending = { ...entry.pending, issuedAt: now };
      this.#entries.set(entry.token, entry);
      entry.former ??= new Map();
      entry.former.set(token, workerId);
      this.#replaced.set(token, entry);
    }
    entry.connectUntil = now + entry.connectTtlMs;
    return entry.token;
  }

  /** Withdraws the pending attach issued with `resolve`, under whichever token it now has. */
  withdraw(resolve: (value: T) => void): void {
    const entry = this.#byResolve.get(resolve);
    if (entry && this.#entries.get(entry.token) === entry) this.revoke(entry.token);
  }

  /** Withdraws a token (the caller gave up waiting). */
  revoke(token: string): void {
    const entry = this.#entries.get(token);
    if (entry) this.#remove(entry);
  }

  /** Number of live tokens. */
  get size(): number {
    return this.#entries.size;
  }

  /** The live entry `token` names, or that a refresh by `workerId` replaced `token` by. */
  #entryForRefresh(token: string, workerId: string): Entry<T> | undefined {
    const entry = this.#entries.get(token);
    if (entry) return entry;
    const replaced = this.#replaced.get(token);
    return replaced?.former?.get(token) === workerId ? replaced : undefined;
  }

  /** Takes `entry` out of the table, with the tokens it replaced. */
  #remove(entry: Entry<T>): void {
    clearTimeout(entry.timer);
    if (this.#entries.get(entry.token) === entry) this.#entries.delete(entry.token);
    for (const token of entry.former?.keys() ?? []) this.#replaced.delete(token);
  }
}
