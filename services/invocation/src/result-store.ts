// Results of requests answered 202 (H9), kept in the region's Redis so any invocation replica can
// serve the status poll. Layout per request ID (hash-tagged, one cluster slot):
//   switchyard:result:{<reqId>}       hash  state (pending|ready), account, status, headers (JSON)
//   switchyard:result:{<reqId>}:body  list  body chunks of at most `chunkBytes` each
//   switchyard:result:{<reqId>}:claim string  token of the poller delivering it (lease, claimLeaseMs)
// Both expire `ttlMs` after the result is whole (set together, Lua). A result is handed out once: one
// poller at a time claims it (a lease renewed as it reads), and it is deleted only once that poller
// delivered it in full; a poller that drops mid-body gives the claim back (or its lease runs out).
// Every write is retried while Redis is down; a result that still could not be kept is marked lost
// (500 SY_RESULT_LOST), never left pending.

import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type ErrorCode, PROBLEM_CONTENT_TYPE, problemDocument, SwitchyardError } from '@switchyard/protocol';
import type { ClaimableResults, ClaimedResult, ClaimOutcome } from '@switchyard/result-exchange';
import type { Redis } from 'ioredis';
import { CLAIM, DELIVERED, PUSH, READY, RELEASE } from './result-scripts.ts';

/** A stored result as a status poll hands it out, and what a claim finds (defined by the exchange that reads them). */
export type { ClaimedResult, ClaimOutcome };

/** Options of {@link ResultStore}. */
export interface ResultStoreOptions {
  /** Lifetime of a pending or ready result (ms). */
  ttlMs: number;
  /** Largest body kept (bytes); beyond it the result becomes a 500 SY_RESULT_TOO_LARGE problem. */
  maxBytes: number;
  /** Size of each stored body chunk (bytes). */
  chunkBytes: number;
  /** Lease of the owner of a pending result (ms); default {@link DEFAULT_OWNER_LEASE_MS}. */
  ownerLeaseMs?: number;
  /** How long each write is retried while Redis is unavailable (ms); default {@link DEFAULT_WRITE_RETRY_MS}. */
  writeRetryMs?: number;
  /** How long a claim holds a ready result without its poller reading on (ms); default {@link DEFAULT_CLAIM_LEASE_MS}. */
  claimLeaseMs?: number;
  /** Misses answered 503 (not 404) this long after Redis restarted empty (ms); default {@link DEFAULT_RESTART_GRACE_MS}. */
  restartGraceMs?: number;
}

/** What a status poll finds. */
export type PollOutcome =
  | { state: 'pending' }
  | { state: 'lost' }
  | { state: 'ready'; result: ClaimedResult }
  | { state: 'missing' };

/** How long a claim holds a ready result without its poller reading on (ms): then another poll may take it. */
export const DEFAULT_CLAIM_LEASE_MS = 30_000;
/** Lease of the instance that holds a pending result (ms): refreshed every third of it while it lives. */
export const DEFAULT_OWNER_LEASE_MS = 15_000;
/** After a Redis that restarted empty, misses are answered 503 (not 404) this long (ms): owners put their records back. */
export const DEFAULT_RESTART_GRACE_MS = 10_000;
/** Key marking the life of this Redis's data: gone means Redis restarted empty. */
export const EPOCH_KEY = 'switchyard:results:epoch';
/** How long a write to Redis is retried before the result counts as lost (ms). */
export const DEFAULT_WRITE_RETRY_MS = 15_000;

interface ResultCommands {
  switchyardClaimResult(
    meta: string,
    body: string,
    claim: string,
    lease: string,
    account: string,
    token: string,
    leaseMs: number,
  ): Promise<unknown>;
  switchyardPushResult(meta: string, body: string, index: number, chunk: Buffer, ttlMs: number): Promise<number>;
  switchyardReadyResult(
    meta: string,
    body: string,
    lease: string,
    account: string,
    status: string,
    headers: string,
    ttlMs: number,
  ): Promise<number>;
  switchyardDeliveredResult(meta: string, body: string, claim: string, lease: string, token: string): Promise<number>;
  switchyardReleaseResult(claim: string, token: string): Promise<number>;
}

/** Runs `op` until it succeeds or `budgetMs` passed (backoff 100 ms doubling to 1 s). @throws its last error. */
async function retrying<T>(budgetMs: number, op: () => Promise<T>): Promise<T> {
  const until = Date.now() + budgetMs;
  for (let wait = 100; ; wait = Math.min(1_000, wait * 2)) {
    try {
      return await op();
    } catch (err) {
      if (Date.now() + wait > until) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** Pending and ready 202 results in Redis. */
export class ResultStore implements ClaimableResults {
  readonly #redis: Redis & ResultCommands;
  readonly #options: ResultStoreOptions;
  /** Account of each result this instance began and has not finished storing. */
  readonly #accounts = new Map<string, string>();

  constructor(redis: Redis, options: ResultStoreOptions) {
    this.#redis = redis as Redis & ResultCommands;
    this.#options = options;
    redis.defineCommand('switchyardClaimResult', { numberOfKeys: 4, lua: CLAIM });
    redis.defineCommand('switchyardPushResult', { numberOfKeys: 2, lua: PUSH });
    redis.defineCommand('switchyardReadyResult', { numberOfKeys: 3, lua: READY });
    redis.defineCommand('switchyardDeliveredResult', { numberOfKeys: 4, lua: DELIVERED });
    redis.defineCommand('switchyardReleaseResult', { numberOfKeys: 1, lua: RELEASE });
    // A Redis that came back (maybe empty, after a restart) gets the pending records of the results
    // this instance still holds again, so their polls say pending (then the result or SY_RESULT_LOST), not 404.
    redis.on('ready', () => void this.#rebegin().then(() => this.#checkEpoch()));
    this.#heartbeat = setInterval(() => void this.#renew(), this.#leaseMs / 3);
    this.#heartbeat.unref();
  }

  readonly #heartbeat: NodeJS.Timeout;
  /** Whether this instance saw the epoch marker once (so a missing one means Redis restarted empty). */
  #sawEpoch = false;

  get #leaseMs(): number {
    return this.#options.ownerLeaseMs ?? DEFAULT_OWNER_LEASE_MS;
  }

  /** Stops renewing the leases of the results held here (at shutdown, after the drain). */
  close(): void {
    clearInterval(this.#heartbeat);
  }

  /** Renews the owner lease of every result this instance still holds. */
  async #renew(): Promise<void> {
    if (this.#accounts.size === 0) return;
    const m = this.#redis.multi();
    // XX: only a lease still there (a result made ready meanwhile keeps none; a reconnect puts them back).
    for (const reqId of this.#accounts.keys()) m.set(ResultStore.leaseKey(reqId), '1', 'PX', this.#leaseMs, 'XX');
    await m.exec().catch(() => undefined);
    await this.#checkEpoch();
  }

  /** Puts back the pending records (and leases) of the results held here, after a reconnect. */
  async #rebegin(): Promise<void> {
    for (const [reqId, accountId] of this.#accounts) {
      const meta = ResultStore.metaKey(reqId);
      await this.#redis
        .multi()
        .hsetnx(meta, 'state', 'pending')
        .hset(meta, 'account', accountId)
        .pexpire(meta, this.#options.ttlMs)
        .set(ResultStore.leaseKey(reqId), '1', 'PX', this.#leaseMs)
        .exec()
        .catch(() => undefined);
    }
  }

  /** Sets the epoch marker when it is missing: `restarted:<epoch ms>` when this instance had seen one. */
  async #checkEpoch(): Promise<void> {
    try {
      const value = this.#sawEpoch ? `restarted:${Date.now()}` : 'fresh';
      await this.#redis.set(EPOCH_KEY, value, 'NX');
      this.#sawEpoch = true;
    } catch {
      // Redis down: tried again at the next reconnect or renewal.
    }
  }

  /** Whether a miss may be a result that vanished with a Redis restart and is being put back (503, not 404). */
  async #recovering(): Promise<boolean> {
    const value = await this.#redis.get(EPOCH_KEY);
    if (value === null) return true;
    if (!value.startsWith('restarted:')) return false;
    return (
      Date.now() - Number(value.slice('restarted:'.length)) < (this.#options.restartGraceMs ?? DEFAULT_RESTART_GRACE_MS)
    );
  }

  static metaKey(reqId: string): string {
    return `switchyard:result:{${reqId}}`;
  }

  static bodyKey(reqId: string): string {
    return `switchyard:result:{${reqId}}:body`;
  }

  /** Redis key of the lease of the instance holding `reqId` while it is pending. */
  static leaseKey(reqId: string): string {
    return `switchyard:result:{${reqId}}:lease`;
  }

  /** Redis key holding the token of the poller that has claimed `reqId`'s ready result. */
  static claimKey(reqId: string): string {
    return `switchyard:result:{${reqId}}:claim`;
  }

  get #claimLeaseMs(): number {
    return this.#options.claimLeaseMs ?? DEFAULT_CLAIM_LEASE_MS;
  }

  get #retryMs(): number {
    return this.#options.writeRetryMs ?? DEFAULT_WRITE_RETRY_MS;
  }

  /**
   * Records that `reqId` (of `accountId`) was answered 202 and its result is on its way.
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE when Redis fails (after a short retry).
   */
  async begin(reqId: string, accountId: string): Promise<void> {
    try {
      // Short: the client is still waiting for its 202 (or a 503).
      await retrying(Math.min(2_000, this.#retryMs), () =>
        this.#redis
          .multi()
          .del(ResultStore.bodyKey(reqId))
          .hset(ResultStore.metaKey(reqId), 'state', 'pending', 'account', accountId)
          .pexpire(ResultStore.metaKey(reqId), this.#options.ttlMs)
          .set(ResultStore.leaseKey(reqId), '1', 'PX', this.#leaseMs)
          .exec(),
      );
      this.#accounts.set(reqId, accountId);
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
  }

  /**
   * Stores the container's answer: `body` is read at Redis's pace (backpressure) in chunks of
   * `chunkBytes`, each write retried for `writeRetryMs`. When it grows past `maxBytes`, `onTooLarge`
   * is called (the caller cancels the container request) and the result becomes a 500
   * SY_RESULT_TOO_LARGE problem. Body and metadata get their expiry together, once the body is whole.
   * @returns the status actually stored.
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE when Redis stayed down past the retries;
   *   SY_RESULT_LOST when the pending record vanished meanwhile (a Redis that restarted empty).
   */
  async complete(
    reqId: string,
    status: number,
    headers: Record<string, string | string[]>,
    body: Readable,
    onTooLarge: () => void,
  ): Promise<number> {
    const metaKey = ResultStore.metaKey(reqId);
    const bodyKey = ResultStore.bodyKey(reqId);
    const { chunkBytes, maxBytes, ttlMs } = this.#options;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    let index = 0;
    let storeError: unknown;
    const push = async (data: Buffer): Promise<void> => {
      try {
        const before = await retrying(this.#retryMs, () =>
          this.#redis.switchyardPushResult(metaKey, bodyKey, index, data, ttlMs),
        );
        if (before < 0 || before < index)
          throw new SwitchyardError('SY_RESULT_LOST', { detail: 'pending record vanished' });
        index++;
      } catch (err) {
        storeError = err;
        throw err;
      }
    };
    try {
      for await (const chunk of body) {
        const buf = chunk as Buffer;
        total += buf.length;
        if (total > maxBytes) {
          onTooLarge();
          body.destroy();
          return this.fail(reqId, 'SY_RESULT_TOO_LARGE', `response body exceeds ${maxBytes} bytes`);
        }
        pending.push(buf);
        pendingBytes += buf.length;
        if (pendingBytes >= chunkBytes) {
          // Stored at Redis's pace: the loop (and so the body stream) waits for each write.
          const data = Buffer.concat(pending, pendingBytes);
          pending = [];
          pendingBytes = 0;
          for (let at = 0; at < data.length; at += chunkBytes) await push(data.subarray(at, at + chunkBytes));
        }
      }
      if (pendingBytes > 0) await push(Buffer.concat(pending, pendingBytes));
    } catch (err) {
      if (storeError !== undefined) {
        if (storeError instanceof SwitchyardError) throw storeError;
        throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: storeError });
      }
      // The body stream failed: the container died mid-response or the tunnel was lost.
      return this.fail(reqId, 'SY_UPSTREAM_FAILED', `the response failed mid-body: ${(err as Error).message}`);
    }
    await this.#ready(reqId, status, headers);
    return status;
  }

  /**
   * Stores a problem document as the result of `reqId` (tunnel lost, container failed, too large, or
   * SY_RESULT_LOST when its answer could not be kept), replacing any body stored so far.
   * @returns its status. @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE (after the retries).
   */
  async fail(reqId: string, code: ErrorCode, detail?: string, retryMs = this.#retryMs): Promise<number> {
    const problem = problemDocument(code, detail);
    const body = Buffer.from(JSON.stringify(problem));
    try {
      await retrying(retryMs, () =>
        this.#redis.multi().del(ResultStore.bodyKey(reqId)).rpush(ResultStore.bodyKey(reqId), body).exec(),
      );
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
    await this.#ready(
      reqId,
      problem.status,
      { 'content-type': PROBLEM_CONTENT_TYPE, 'content-length': String(body.length) },
      retryMs,
    );
    return problem.status;
  }

  async #ready(
    reqId: string,
    status: number,
    headers: Record<string, string | string[]>,
    retryMs = this.#retryMs,
  ): Promise<void> {
    const account = this.#accounts.get(reqId);
    if (account === undefined) throw new SwitchyardError('SY_RESULT_LOST', { detail: 'result was not begun here' });
    try {
      await retrying(retryMs, () =>
        this.#redis.switchyardReadyResult(
          ResultStore.metaKey(reqId),
          ResultStore.bodyKey(reqId),
          ResultStore.leaseKey(reqId),
          account,
          String(status),
          JSON.stringify(headers),
          this.#options.ttlMs,
        ),
      );
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
    this.#accounts.delete(reqId);
  }

  /**
   * Marks `reqId` lost (500 SY_RESULT_LOST on its poll) after its answer could not be stored: tried
   * until Redis answers or the result's TTL passed, so a poll never sees it pending forever. Never throws.
   */
  async markLost(reqId: string, detail: string): Promise<void> {
    try {
      await this.fail(reqId, 'SY_RESULT_LOST', detail, this.#options.ttlMs);
    } catch {
      this.#accounts.delete(reqId);
    }
  }

  /** Forgets a result begun here that will never be stored (its 202 was never sent). */
  abandon(reqId: string): void {
    this.#accounts.delete(reqId);
  }

  /**
   * Claims the ready result of `reqId` for `accountId` (H9) for the claim lease (`claimLeaseMs`), renewed as its
   * body is read: one poller at a time; the result stays stored until {@link delivered}.
   * @returns pending (also while another poller holds the claim), lost (its owner's lease ran out),
   *   missing (unknown, expired, already
   *   fetched, or another account's), or ready with status, headers and the claim token (a UUID).
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE (also for a miss shortly after Redis restarted
   *   empty, while owners put their records back).
   */
  async claim(reqId: string, accountId: string): Promise<ClaimOutcome> {
    const claim = randomUUID();
    let reply: unknown;
    try {
      reply = await this.#redis.switchyardClaimResult(
        ResultStore.metaKey(reqId),
        ResultStore.bodyKey(reqId),
        ResultStore.claimKey(reqId),
        ResultStore.leaseKey(reqId),
        accountId,
        claim,
        this.#claimLeaseMs,
      );
      if (!Array.isArray(reply) && (await this.#recovering()))
        throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { detail: 'the result store restarted; recovering' });
    } catch (err) {
      if (err instanceof SwitchyardError) throw err;
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
    if (!Array.isArray(reply)) return { state: 'missing' };
    if (reply[0] === 'pending') return { state: 'pending' };
    if (reply[0] === 'lost') return { state: 'lost' };
    return {
      state: 'ready',
      status: Number(reply[1]),
      headers: JSON.parse(String(reply[2])) as Record<string, string | string[]>,
      claim,
    };
  }

  /**
   * Body chunk `index` (0-based) of a claimed result, or undefined past the last one; renews the claim.
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async readClaimed(reqId: string, claim: string, index: number): Promise<Buffer | undefined> {
    void claim;
    try {
      const replies = await this.#redis
        .multi()
        .pexpire(ResultStore.claimKey(reqId), this.#claimLeaseMs)
        .lrangeBuffer(ResultStore.bodyKey(reqId), index, index)
        .exec();
      const [err, part] = replies?.[1] ?? [new Error('transaction aborted'), undefined];
      if (err) throw err;
      return (part as Buffer[])[0];
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
  }

  /** Gives a claim up (its poller went away mid-body): the result stays for the next poll. Never throws. */
  async release(reqId: string, claim: string): Promise<void> {
    await this.#redis.switchyardReleaseResult(ResultStore.claimKey(reqId), claim).catch(() => undefined);
  }

  /** Deletes a result its claimer delivered in full (H9: handed out once). Never throws. */
  async delivered(reqId: string, claim: string): Promise<void> {
    await retrying(this.#retryMs, () =>
      this.#redis.switchyardDeliveredResult(
        ResultStore.metaKey(reqId),
        ResultStore.bodyKey(reqId),
        ResultStore.claimKey(reqId),
        ResultStore.leaseKey(reqId),
        claim,
      ),
    ).catch(() => undefined);
  }

  /**
   * A status poll (H9) by `accountId`: pending, ready (claimed; `settle` it once sent), or missing
   * (unknown, expired, already fetched, or another account's).
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async poll(reqId: string, accountId: string): Promise<PollOutcome> {
    const outcome = await this.claim(reqId, accountId);
    if (outcome.state !== 'ready') return outcome;
    const { claim } = outcome;
    const chunks = async function* (this: ResultStore): AsyncGenerator<Buffer> {
      for (let i = 0; ; i++) {
        const part = await this.readClaimed(reqId, claim, i);
        if (part === undefined) return;
        yield part;
      }
    }.call(this);
    return {
      state: 'ready',
      result: {
        status: outcome.status,
        headers: outcome.headers,
        body: chunks,
        settle: (delivered) => (delivered ? this.delivered(reqId, claim) : this.release(reqId, claim)),
      },
    };
  }
}
