// Status polls from any region (H9 [ours]): a 202 result lives in the Redis of the region whose
// invocation service answered the request. A poll that misses locally asks every other region over core
// NATS (`invocation.result.<region>`, queue group `invocation-<region>`, so one instance per region
// answers), all at once, each within `remoteLookupTimeoutMs`. The first 'ready' or 'pending' wins;
// 'unknown' everywhere is a 404; a region that did not answer (and no hit) is a 503, never a wrong 404.
//
// Wire (JSON requests):
//   {op: 'lookup', reqId, accountId}         -> JSON {state: 'pending'|'unknown'|'error'}
//                                               or {state: 'ready', result: {status, headers, claim}}
//   {op: 'chunk', reqId, claim, index, offset} -> one frame: byte 0 = FRAME_*, then the slice's bytes
//   {op: 'release', reqId, claim}             (published, no reply) the poller gave up on the body
// A 'ready' lookup claims the result atomically in the owning region (the same Lua claim as a local
// poll: handed out once). The body stays there under the claim and is pulled slice by slice at the
// poller's pace: each reply is at most the NATS max payload minus 1 KiB, so results of any size (up
// to maxResultBytes) cross the gateway without raising max_payload and without unbounded buffering.

import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { decodeMessage, encodeMessage, isUuid, NatsNames, SwitchyardError } from '@switchyard/protocol';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ClaimedResult, ResultStore } from './result-store.ts';

/** Frame byte of a chunk reply: the body ended (nothing follows; the claim is released). */
const FRAME_END = 0;
/** Frame byte: a slice of chunk `index`; the chunk continues at `offset + slice length`. */
const FRAME_MORE = 1;
/** Frame byte: the last slice of chunk `index`; the next request asks for `index + 1`, offset 0. */
const FRAME_LAST = 2;
/** Frame byte: the owning region's Redis failed. */
const FRAME_ERROR = 3;

/** Room left in a reply for NATS protocol overhead (bytes). */
const PAYLOAD_HEADROOM = 1024;
/** NATS server default max_payload (bytes), used when the connection has no INFO yet. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

const CLAIM = /^[A-Za-z0-9_-]{1,64}$/;

const RemoteRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('lookup'), reqId: z.string().refine(isUuid), accountId: z.string().min(1) }),
  z.object({
    op: z.literal('chunk'),
    reqId: z.string().refine(isUuid),
    claim: z.string().regex(CLAIM),
    index: z.number().int().min(0),
    offset: z.number().int().min(0),
  }),
  z.object({ op: z.literal('release'), reqId: z.string().refine(isUuid), claim: z.string().regex(CLAIM) }),
]);

const LookupReplySchema = z.union([
  z.object({ state: z.enum(['pending', 'unknown', 'error']) }),
  z.object({
    state: z.literal('ready'),
    result: z.object({
      status: z.number().int(),
      headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
      claim: z.string().regex(CLAIM),
    }),
  }),
]);

/** What a remote lookup finds. */
export type RemoteOutcome =
  | { state: 'missing' }
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

/** Answers other regions' lookups from this region's Redis, and asks the other regions on a local miss. */
export class RemoteResults {
  readonly #nc: NatsConnection;
  readonly #store: ResultStore;
  readonly #log: Logger;
  readonly #region: string;
  readonly #timeoutMs: number;
  /** Regions asked on a local miss. */
  readonly remoteRegions: readonly string[];

  constructor(nc: NatsConnection, store: ResultStore, options: RemoteResultsOptions, logger: Logger) {
    this.#nc = nc;
    this.#store = store;
    this.#log = logger;
    this.#region = options.region;
    this.#timeoutMs = options.timeoutMs;
    this.remoteRegions = [...new Set(options.remoteRegions)].filter((r) => r !== options.region);
    for (const r of this.remoteRegions) NatsNames.invocationResult(r); // validates the tokens now
  }

  /** Subscribes this instance to its region's lookup subject (queue group per region). */
  serve(): Subscription {
    return this.#nc.subscribe(NatsNames.invocationResult(this.#region), {
      queue: NatsNames.invocationQueue(this.#region),
      callback: (err, msg) => {
        if (!err) void this.#answer(msg);
      },
    });
  }

  async #answer(msg: Msg): Promise<void> {
    let request: z.infer<typeof RemoteRequestSchema>;
    try {
      request = decodeMessage(RemoteRequestSchema, msg.data);
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
        } else msg.respond(encodeMessage({ state: outcome.state === 'pending' ? 'pending' : 'unknown' }));
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
        await this.#store.release(reqId, claim);
        msg.respond(Buffer.from([FRAME_END]));
        return;
      }
      const max = Math.max(1, (this.#nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - PAYLOAD_HEADROOM);
      const slice = chunk.subarray(offset, offset + max);
      const frame = offset + slice.length >= chunk.length ? FRAME_LAST : FRAME_MORE;
      msg.respond(Buffer.concat([Buffer.from([frame]), slice]));
    } catch (err) {
      this.#log.warn({ err, reqId }, 'remote result chunk: result store unavailable');
      msg.respond(Buffer.from([FRAME_ERROR]));
    }
  }

  /**
   * Asks `regions` (default: every remote region) for the result of `reqId`, all at once, each within
   * the timeout. A 'ready' answer has claimed the result there (handed out once); its body is pulled
   * from that region as the returned iterable is read.
   * @returns the first 'ready' or 'pending' answer, or missing when every region answered 'unknown'.
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE (503) when no region had it and at least one
   *   did not answer in time (or its Redis failed).
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
            const reply = decodeMessage(LookupReplySchema, msg.data);
            if (reply.state === 'ready') {
              if (settled) {
                // Cannot happen (a result lives in one region); do not leak the claim.
                this.#release(region, reqId, reply.result.claim);
                return;
              }
              settled = true;
              const { status, headers, claim } = reply.result;
              resolve({ state: 'ready', region, result: { status, headers, body: this.#pull(region, reqId, claim) } });
              return;
            }
            if (reply.state === 'pending' && !settled) {
              settled = true;
              resolve({ state: 'pending', region });
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
        if (frame === FRAME_END) {
          ended = true;
          return;
        }
        if (frame !== FRAME_MORE && frame !== FRAME_LAST)
          throw new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE', { detail: `region ${region}: result store failed` });
        const slice = Buffer.from(msg.data.subarray(1));
        if (frame === FRAME_LAST) {
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
