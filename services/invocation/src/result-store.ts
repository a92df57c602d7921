// Results of requests answered 202 (H9), kept in the region's Redis so any invocation replica can
// serve the status poll. Layout per request ID (hash-tagged, one cluster slot):
//   switchyard:result:{<reqId>}       hash  state (pending|ready), account, status, headers (JSON)
//   switchyard:result:{<reqId>}:body  list  body chunks of at most `chunkBytes` each
// Both expire after `ttlMs`. A result is handed out once: the claim deletes the hash and renames the
// body list atomically (Lua), so two concurrent polls never both get it.

import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { type ErrorCode, PROBLEM_CONTENT_TYPE, problemDocument, SwitchyardError } from '@switchyard/protocol';
import type { ClaimableResults, ClaimedResult, ClaimOutcome } from '@switchyard/result-exchange';
import type { Redis } from 'ioredis';

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
}

/** What a status poll finds. */
export type PollOutcome = { state: 'pending' } | { state: 'ready'; result: ClaimedResult } | { state: 'missing' };

// KEYS: meta, body, claimed-body. ARGV: account, claimed TTL ms.
const CLAIM = `
local m = redis.call('HMGET', KEYS[1], 'state', 'account', 'status', 'headers')
if not m[1] or m[2] ~= ARGV[1] then return false end
if m[1] ~= 'ready' then return {'pending'} end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[3])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[2]))
end
return {'ready', m[3], m[4]}
`;

/** Claimed bodies must be read within this (ms); a poller that stalls longer loses the rest. */
const CLAIMED_TTL_MS = 10 * 60_000;

type ClaimCommand = (meta: string, body: string, claimed: string, account: string, ttl: number) => Promise<unknown>;

/** Pending and ready 202 results in Redis. */
export class ResultStore implements ClaimableResults {
  readonly #redis: Redis & { switchyardClaimResult?: ClaimCommand };
  readonly #options: ResultStoreOptions;

  constructor(redis: Redis, options: ResultStoreOptions) {
    this.#redis = redis;
    this.#options = options;
    redis.defineCommand('switchyardClaimResult', { numberOfKeys: 3, lua: CLAIM });
  }

  static metaKey(reqId: string): string {
    return `switchyard:result:{${reqId}}`;
  }

  static bodyKey(reqId: string): string {
    return `switchyard:result:{${reqId}}:body`;
  }

  /**
   * Records that `reqId` (of `accountId`) was answered 202 and its result is on its way.
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE when Redis fails.
   */
  async begin(reqId: string, accountId: string): Promise<void> {
    try {
      await this.#redis
        .multi()
        .hset(ResultStore.metaKey(reqId), 'state', 'pending', 'account', accountId)
        .pexpire(ResultStore.metaKey(reqId), this.#options.ttlMs)
        .exec();
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
  }

  /**
   * Stores the container's answer: `body` is read at Redis's pace (backpressure) in chunks of
   * `chunkBytes`. When it grows past `maxBytes`, `onTooLarge` is called (the caller cancels the
   * container request) and the result becomes a 500 SY_RESULT_TOO_LARGE problem.
   * @returns the status actually stored. @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async complete(
    reqId: string,
    status: number,
    headers: Record<string, string | string[]>,
    body: Readable,
    onTooLarge: () => void,
  ): Promise<number> {
    const bodyKey = ResultStore.bodyKey(reqId);
    const { chunkBytes, maxBytes, ttlMs } = this.#options;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    let first = true;
    let storeError: unknown;
    const push = async (data: Buffer): Promise<void> => {
      const m = this.#redis.multi().rpush(bodyKey, data);
      if (first) m.pexpire(bodyKey, ttlMs);
      first = false;
      try {
        await m.exec();
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
          await this.#redis.del(bodyKey).catch(() => undefined);
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
      await this.#redis.del(bodyKey).catch(() => undefined);
      if (storeError !== undefined) throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: storeError });
      // The body stream failed: the container died mid-response or the tunnel was lost.
      return this.fail(reqId, 'SY_UPSTREAM_FAILED', `the response failed mid-body: ${(err as Error).message}`);
    }
    await this.#ready(reqId, status, headers);
    return status;
  }

  /**
   * Stores a problem document as the result of `reqId` (tunnel lost, container failed, too large).
   * @returns its status. @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async fail(reqId: string, code: ErrorCode, detail?: string): Promise<number> {
    const problem = problemDocument(code, detail);
    const body = Buffer.from(JSON.stringify(problem));
    try {
      await this.#redis
        .multi()
        .del(ResultStore.bodyKey(reqId))
        .rpush(ResultStore.bodyKey(reqId), body)
        .pexpire(ResultStore.bodyKey(reqId), this.#options.ttlMs)
        .exec();
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
    await this.#ready(reqId, problem.status, {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(body.length),
    });
    return problem.status;
  }

  async #ready(reqId: string, status: number, headers: Record<string, string | string[]>): Promise<void> {
    try {
      await this.#redis
        .multi()
        .hset(
          ResultStore.metaKey(reqId),
          'state',
          'ready',
          'status',
          String(status),
          'headers',
          JSON.stringify(headers),
        )
        .pexpire(ResultStore.metaKey(reqId), this.#options.ttlMs)
        .exec();
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
  }

  /** Redis key of a claimed body; `claim` is the token {@link ResultStore.claim} returned. */
  static claimedKey(reqId: string, claim: string): string {
    return `${ResultStore.bodyKey(reqId)}:claimed:${claim}`;
  }

  /**
   * Claims the result of `reqId` for `accountId` atomically (H9): a ready result is handed out once;
   * its body moves to a claimed key (alive {@link CLAIMED_TTL_MS}) read with {@link readClaimed}.
   * @returns pending, missing (unknown, expired, already fetched, or another account's), or ready with
   *   status, headers and the claim token (`[A-Za-z0-9_-]+`).
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async claim(reqId: string, accountId: string): Promise<ClaimOutcome> {
    const claim = randomUUID();
    let reply: unknown;
    try {
      reply = await this.#redis.switchyardClaimResult!(
        ResultStore.metaKey(reqId),
        ResultStore.bodyKey(reqId),
        ResultStore.claimedKey(reqId, claim),
        accountId,
        CLAIMED_TTL_MS,
      );
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
    if (!Array.isArray(reply)) return { state: 'missing' };
    if (reply[0] === 'pending') return { state: 'pending' };
    return {
      state: 'ready',
      status: Number(reply[1]),
      headers: JSON.parse(String(reply[2])) as Record<string, string | string[]>,
      claim,
    };
  }

  /**
   * Body chunk `index` (0-based) of a claimed result, or undefined past the last one (or when the
   * claim expired). @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async readClaimed(reqId: string, claim: string, index: number): Promise<Buffer | undefined> {
    try {
      const part = await this.#redis.lrangeBuffer(ResultStore.claimedKey(reqId, claim), index, index);
      return part[0];
    } catch (err) {
      throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { cause: err });
    }
  }

  /** Deletes a claimed body (read to its end, or abandoned). Never throws. */
  async release(reqId: string, claim: string): Promise<void> {
    await this.#redis.del(ResultStore.claimedKey(reqId, claim)).catch(() => undefined);
  }

  /**
   * A status poll (H9) by `accountId`: pending, ready (claimed: never handed out again), or missing
   * (unknown, expired, already fetched, or another account's).
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE.
   */
  async poll(reqId: string, accountId: string): Promise<PollOutcome> {
    const outcome = await this.claim(reqId, accountId);
    if (outcome.state !== 'ready') return outcome;
    const { claim } = outcome;
    const chunks = async function* (this: ResultStore): AsyncGenerator<Buffer> {
      try {
        for (let i = 0; ; i++) {
          const part = await this.readClaimed(reqId, claim, i);
          if (part === undefined) return;
          yield part;
        }
      } finally {
        await this.release(reqId, claim);
      }
    }.call(this);
    return { state: 'ready', result: { status: outcome.status, headers: outcome.headers, body: chunks } };
  }
}
