// Status polls from any region (H9 [ours]): a 202 result lives in the Redis of the region whose
// invocation service answered the request. A poll that misses locally asks every other region over core
// NATS (`invocation.result.<region>`, queue group `invocation-<region>`, so one instance per region
// answers), all at once, each within `timeoutMs`. The first 'ready' or 'pending' wins; 'unknown'
// everywhere is a 404; a region that did not answer (and no hit) is a 503, never a wrong 404.
//
// Wire (schemas and frame bytes in @switchyard/protocol: ResultRequestSchema, ResultLookupReplySchema,
// ResultChunkFrame):
//   {op: 'lookup', reqId, accountId}         -> JSON {state: 'pending'|'unknown'|'error'}
//                                               or {state: 'ready', result: {status, headers, claim}}
//   {op: 'chunk', reqId, claim, index, offset} -> one frame: byte 0 = ResultChunkFrame, then the slice's bytes
//   {op: 'release', reqId, claim}             (published, no reply) the poller gave up on the body
// A 'ready' lookup claims the result atomically in the owning region (the same claim as a local poll:
// handed out once). The body stays there under the claim and is pulled slice by slice at the poller's
// pace: each reply is at most the NATS max payload minus 1 KiB, so results of any size cross the
// gateway without raising max_payload and without unbounded buffering.

import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import {
  decodeMessage,
  encodeMessage,
  NatsNames,
  ResultChunkFrame,
  ResultLookupReplySchema,
  type ResultRequest,
  ResultRequestSchema,
  SwitchyardError,
} from '@switchyard/protocol';

/** Room left in a reply for NATS protocol overhead (bytes). */
const PAYLOAD_HEADROOM_BYTES = 1024;
/** NATS server default max_payload (bytes), used when the connection has no INFO yet. */
const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

/** A 202 result as a status poll hands it out. */
export interface ClaimedResult {
  /** HTTP status of the container's answer. */
  status: number;
  /** Its response headers (as stored: hop-by-hop removed, `nvcf-reqid` and `nvcf-status` set). */
  headers: Record<string, string | string[]>;
  /** Body chunks in order, fetched one at a time (the consumer's pace). */
  body: AsyncIterable<Buffer>;
  /**
   * Called once the response was sent: `true` when the body went out in full (the result is deleted),
   * `false` when the poller went away mid-body (the result stays for the next poll). Never throws.
   */
  settle(delivered: boolean): Promise<void>;
}

/** What a claim of a result finds: pending, missing, or ready with the claim token instead of a body. */
export type ClaimOutcome =
  | { state: 'pending' }
  | { state: 'lost' }
  | { state: 'missing' }
  | { state: 'ready'; status: number; headers: Record<string, string | string[]>; claim: string };

/**
 * What the exchange needs of this region's result store (the invocation service's ResultStore): the
 * lookups of other regions are answered from it.
 */
export interface ClaimableResults {
  /**
   * Claims the result of `reqId` for `accountId` atomically: a ready result is handed out once.
   * @returns pending; lost (its owner died or the store failed while keeping it: 500 SY_RESULT_LOST);
   *   missing (unknown, expired, already fetched, or another account's); or ready with
   *   the claim token (`[A-Za-z0-9_-]{1,64}`).
   * @throws when the store is unavailable.
   */
  claim(reqId: string, accountId: string): Promise<ClaimOutcome>;
  /**
   * Body chunk `index` (0-based) of a claimed result, or undefined past the last one (or when the claim
   * expired). @throws when the store is unavailable.
   */
  readClaimed(reqId: string, claim: string, index: number): Promise<Buffer | undefined>;
  /** Gives a claim up (the poller went away mid-body): the result stays for the next poll. Never throws. */
  release(reqId: string, claim: string): Promise<void>;
  /** Deletes a claimed result that was read to its end (handed out once). Never throws. */
  delivered(reqId: string, claim: string): Promise<void>;
}

/** A logger with pino's `warn(object, message)` shape. */
export interface ResultExchangeLogger {
  warn(details: object, message: string): void;
}

/** What a remote lookup finds. */
export type RemoteOutcome =
  | { state: 'missing' }
  | { state: 'lost'; region: string }
  | { state: 'pending'; region: string }
  | { state: 'ready'; region: string; result: ClaimedResult };

/** Options of {@link RemoteResults}. */
export interface RemoteResultsOptions {
  /** This instance's region (the subject it answers on). */
  region: string;
  /** Other regions asked on a local miss; duplicates and `region` are skipped. */
  remoteRegions: readonly string[];
  /** Budget of each request to a remote region (lookup, and each body slice), ms. */
  timeoutMs: number;
}

/** Answers other regions' lookups from this region's store, and asks the other regions on a local miss. */
export class RemoteResults {
  readonly #nc: NatsConnection;
  readonly #store: ClaimableResults;
  readonly #log: ResultExchangeLogger;
  readonly #region: string;
  readonly #timeoutMs: number;
  /** Regions asked on a local miss (deduplicated, without this one). */
  readonly remoteRegions: readonly string[];

  /**
   * @param store this region's results, read when another region asks.
   * @throws Error when a region is not a valid NATS subject token.
   */
  constructor(
    nc: NatsConnection,
    store: ClaimableResults,
    options: RemoteResultsOptions,
    logger: ResultExchangeLogger,
  ) {
    this.#nc = nc;
    this.#store = store;
    this.#log = logger;
    this.#region = options.region;
    this.#timeoutMs = options.timeoutMs;
    this.remoteRegions = [...new Set(options.remoteRegions)].filter((r) => r !== options.region);
    for (const r of this.remoteRegions) NatsNames.invocationResult(r); // validates the tokens now
  }

  /** Subscribes this instance to its region's lookup subject (queue group per region); unsubscribe to stop. */
  serve(): Subscription {
    return this.#nc.subscribe(NatsNames.invocationResult(this.#region), {
      queue: NatsNames.invocationQueue(this.#region),
      callback: (err, msg) => {
        if (!err) void this.#answer(msg);
      },
    });
  }

  async #answer(msg: Msg): Promise<void> {
    let request: ResultRequest;
    try {
      request = decodeMessage(ResultRequestSchema, msg.data);
    } catch {
      if (msg.reply) msg.respond(encodeMessage({ state: 'error' }));
      return;
    }
    if (request.op === 'release') {
      await this.#store.release(request.reqId, request.claim);
      return;
    }
    if (request.op === 'lookup') {
      try {
        const outcome = await this.#store.claim(request.reqId, request.accountId);
        if (outcome.state === 'ready') {
          const { status, headers, claim } = outcome;
          msg.respond(encodeMessage({ state: 'ready', result: { status, headers, claim } }));
        } else msg.respond(encodeMessage({ state: outcome.state === 'missing' ? 'unknown' : outcome.state }));
      } catch (err) {
        this.#log.warn({ err, reqId: request.reqId }, 'remote result lookup: result store unavailable');
        msg.respond(encodeMessage({ state: 'error' }));
      }
      return;
    }
    const { reqId, claim, index, offset } = request;
    try {
      const chunk = await this.#store.readClaimed(reqId, claim, index);
      if (chunk === undefined || offset >= chunk.length) {
        await this.#store.delivered(reqId, claim);
        msg.respond(Buffer.from([ResultChunkFrame.end]));
        return;
      }
      const max = Math.max(1, (this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD_BYTES) - PAYLOAD_HEADROOM_BYTES);
      const slice = chunk.subarray(offset, offset + max);
      const frame = offset + slice.length >= chunk.length ? ResultChunkFrame.last : ResultChunkFrame.more;
      msg.respond(Buffer.concat([Buffer.from([frame]), slice]));
    } catch (err) {
      this.#log.warn({ err, reqId }, 'remote result chunk: result store unavailable');
      msg.respond(Buffer.from([ResultChunkFrame.error]));
    }
  }

  /**
   * Asks `regions` (default: every remote region) for the result of `reqId`, all at once, each within
   * the timeout. A 'ready' answer has claimed the result there (handed out once); its body is pulled
   * from that region as the returned iterable is read (the iterable throws SwitchyardError
   * SY_RESULT_STORE_UNAVAILABLE when that region stops answering or its store fails).
   * @returns the first 'ready' or 'pending' answer, or missing when every region answered 'unknown'.
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE (503) when no region had it and at least one
   *   did not answer in time (or its store failed).
   */
  lookup(reqId: string, accountId: string, regions: readonly string[] = this.remoteRegions): Promise<RemoteOutcome> {
    const request = encodeMessage({ op: 'lookup', reqId, accountId });
    return new Promise<RemoteOutcome>((resolve, reject) => {
      let left = regions.length;
      const silent: string[] = [];
      let settled = false;
      const done = () => {
        if (settled || --left > 0) return;
        settled = true;
        if (silent.length === 0) resolve({ state: 'missing' });
        else
          reject(
            new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', {
              detail: `region ${silent.join(', ')} did not answer the result lookup`,
            }),
          );
      };
      if (left === 0) {
        resolve({ state: 'missing' });
        return;
      }
      for (const region of regions) {
        this.#nc
          .request(NatsNames.invocationResult(region), request, { timeout: this.#timeoutMs })
          .then((msg) => {
            const reply = decodeMessage(ResultLookupReplySchema, msg.data);
            if (reply.state === 'ready') {
              if (settled) {
                // Cannot happen (a result lives in one region); do not leak the claim.
                this.#release(region, reqId, reply.result.claim);
                return;
              }
              settled = true;
              const { status, headers, claim } = reply.result;
              resolve({
                state: 'ready',
                region,
                result: {
                  status,
                  headers,
                  body: this.#pull(region, reqId, claim),
                  // The owning region deleted it when its end was pulled; an abandoned pull released it.
                  settle: async () => undefined,
                },
              });
              return;
            }
            if ((reply.state === 'pending' || reply.state === 'lost') && !settled) {
              settled = true;
              resolve({ state: reply.state, region });
              return;
            }
            if (reply.state === 'error') silent.push(region);
            done();
          })
          .catch(() => {
            silent.push(region);
            done();
          });
      }
    });
  }

  /** The claimed body in `region`, slice by slice (one request per slice, at the consumer's pace). */
  async *#pull(region: string, reqId: string, claim: string): AsyncGenerator<Buffer> {
    let index = 0;
    let offset = 0;
    let ended = false;
    try {
      for (;;) {
        let msg: Msg;
        try {
          msg = await this.#nc.request(
            NatsNames.invocationResult(region),
            encodeMessage({ op: 'chunk', reqId, claim, index, offset }),
            { timeout: this.#timeoutMs },
          );
        } catch (err) {
          throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', {
            detail: `region ${region} did not answer`,
            cause: err,
          });
        }
        const frame = msg.data[0];
        if (frame === ResultChunkFrame.end) {
          ended = true;
          return;
        }
        if (frame !== ResultChunkFrame.more && frame !== ResultChunkFrame.last)
          throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { detail: `region ${region}: result store failed` });
        const slice = Buffer.from(msg.data.subarray(1));
        if (frame === ResultChunkFrame.last) {
          index++;
          offset = 0;
        } else offset += slice.length;
        yield slice;
      }
    } finally {
      if (!ended) this.#release(region, reqId, claim);
    }
  }

  #release(region: string, reqId: string, claim: string): void {
    try {
      this.#nc.publish(NatsNames.invocationResult(region), encodeMessage({ op: 'release', reqId, claim }));
    } catch {
      // Connection closed: the claim expires on its own.
    }
  }
}
