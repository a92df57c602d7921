// Messages that cross a process boundary (NATS payloads, JSON). Validated with zod at the receiver,
// so a malformed message is a clear error rather than a crash.

import { z } from 'zod';
import { isUuid } from './request-id.ts';

const uuid = z.string().uuid();

/** Kind of function a version belongs to. */
export const FunctionKind = { grpc: 'grpc', http: 'http' } as const;
export type FunctionKind = (typeof FunctionKind)[keyof typeof FunctionKind];

/**
 * A ticket (flow 1, W2): asks some worker of `versionId` to take request `reqId`. Published by a
 * proxy or invocation instance on `rq.<region>.<versionId>.<reqId>`.
 */
export const TicketSchema = z.object({
  reqId: uuid,
  accountId: z.string().min(1),
  functionId: uuid,
  versionId: uuid,
  kind: z.enum(['grpc', 'http']),
  /** Instance that waits for the worker; workers answer on `proxy.<proxyId>.attach`. */
  proxyId: z.string().min(1),
  /** `http://host:port` of that instance's callback listener (W1, W4 allow-list). */
  callbackUri: z.string().url(),
  /** Single-use token, valid 30 s (W1). */
  token: z.string().min(16),
  /** Epoch ms after which the ticket is dropped unanswered (W2). */
  deadlineMs: z.number().int().positive(),
  /** Region whose ticket stream holds the ticket. */
  region: z.string().min(1),
});
export type Ticket = z.infer<typeof TicketSchema>;

/**
 * Request on `proxy.<proxyId>.attach` (W1): a worker that took a ticket or a reconnect request for a
 * front-end instance it already has a tunnel to redeems the single-use token over NATS instead of
 * dialling. Answered with a {@link ControlReplySchema} (`SY_TUNNEL_LOST`: dial a new tunnel).
 */
export const AttachRequestSchema = z.object({
  token: z.string().min(16),
  workerId: z.string().min(1),
  /** The worker's identity secret (see TunnelHeaders.workerSecret): must match its tunnel's. */
  workerSecret: z.string().min(16).max(256),
  reqId: uuid,
  /**
   * Ask for a fresh token instead of attaching: the worker has no tunnel to this instance and the
   * ticket's token is past its 30 s CONNECT lifetime (W1); the reply carries the new token.
   */
  refresh: z.boolean().optional(),
});
export type AttachRequest = z.infer<typeof AttachRequestSchema>;

/** Reply to an attach, reconnect or evict request. `ok: false` carries a catalogue code. */
export const ControlReplySchema = z.object({
  ok: z.boolean(),
  code: z.string().optional(),
  detail: z.string().optional(),
  /** A fresh tunnel token (the answer to an attach request with `refresh`). */
  token: z.string().optional(),
});
export type ControlReply = z.infer<typeof ControlReplySchema>;

/**
 * Request on `worker.<versionId>.<workerId>.reconnect` (flow 3): the worker holding session `reqId` dials (or, with
 * a live tunnel, attaches over NATS to) the named instance with the token. Answered with a
 * {@link ControlReplySchema}.
 */
export const ReconnectRequestSchema = z.object({
  reqId: uuid,
  proxyId: z.string().min(1),
  callbackUri: z.string().url(),
  token: z.string().min(16),
});
export type ReconnectRequest = z.infer<typeof ReconnectRequestSchema>;

/**
 * Request on `worker.<versionId>.<workerId>.evict` (S3): end session `reqId` now. Sent by the operator API and by a
 * client's `DELETE` (G13). Answered with a {@link ControlReplySchema} (`SY_SESSION_NOT_FOUND` when the
 * worker does not hold the session).
 */
export const EvictRequestSchema = z.object({ reqId: uuid });
export type EvictRequest = z.infer<typeof EvictRequestSchema>;

/**
 * Published on `proxy.<proxyId>.session-ended` to every front-end instance that held session `reqId`
 * when it ends (S1, S3): evicted, its reconnect window over, or its worker leaving.
 */
export const SessionEndedSchema = z.object({
  reqId: uuid,
  reason: z.enum(['evicted', 'reconnect-window-expired', 'worker-exit']),
});
export type SessionEnded = z.infer<typeof SessionEndedSchema>;

/** One session directory record (value of key `<reqId>` in `sessions_<region>`). */
export const SessionRecordSchema = z.object({
  reqId: uuid,
  accountId: z.string().min(1),
  functionId: uuid,
  versionId: uuid,
  workerId: z.string().min(1),
  region: z.string().min(1),
  /** Epoch ms. */
  createdAtMs: z.number().int(),
});
export type SessionRecord = z.infer<typeof SessionRecordSchema>;

/** Kinds of instance that publish heartbeats (D2). */
export const InstanceKind = { grpcProxy: 'grpc-proxy', invocation: 'invocation', worker: 'worker' } as const;
export type InstanceKind = (typeof InstanceKind)[keyof typeof InstanceKind];

const addressList = z.array(z.string().min(1)).max(64);

/**
 * One instance's heartbeat on `health.<region>.<kind>.<instanceId>` (core NATS, D2). An instance is
 * live for `staleAfterIntervals * intervalMs` after its last beat; `intervalMs: 0` says it is leaving.
 */
export const HeartbeatSchema = z.object({
  region: z.string().min(1),
  kind: z.enum(['grpc-proxy', 'invocation', 'worker']),
  instanceId: z.string().min(1),
  /** Sender's clock, epoch ms (informational; receivers age beats by their own clock). */
  atMs: z.number().int().nonnegative(),
  /** Time to the sender's next beat, ms; 0 = leaving now. */
  intervalMs: z.number().int().nonnegative(),
  /** Public IPs (or hostnames) clients reach this instance at, per client-facing service. */
  addresses: z
    .object({ grpc: addressList.optional(), http: addressList.optional(), api: addressList.optional() })
    .optional(),
  /** Function version a worker serves. */
  versionId: z.string().min(1).optional(),
  /** Sessions or requests a worker can take now. */
  freeCapacity: z.number().int().nonnegative().optional(),
  /** Capacity units a worker has in all (its concurrency, W2): `capacity - freeCapacity` are in use. */
  capacity: z.number().int().nonnegative().optional(),
  /** Sessions a worker holds, or a gRPC proxy's sessions with client connections, or an invocation instance's requests in flight. */
  sessions: z.number().int().nonnegative().optional(),
  /** A front end's calls over the last window (the live status page; a few dozen bytes). */
  calls: z
    .object({
      /** Length of the window, ms (60 000: the last minute). */
      windowMs: z.number().int().positive(),
      /** Calls that ended in the window. */
      count: z.number().int().nonnegative(),
      /** Of those, server-side failures (gRPC UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS; HTTP 5xx). */
      errors: z.number().int().nonnegative(),
      /** Median call duration, ms (absent when count is 0). */
      p50Ms: z.number().nonnegative().optional(),
      /** 95th percentile call duration, ms (absent when count is 0). */
      p95Ms: z.number().nonnegative().optional(),
    })
    .optional(),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;
/** A front end's call summary over the last window, as heartbeats carry it. */
export type CallSummary = NonNullable<Heartbeat['calls']>;

/** A claim token of a 202 result (H9): the owning region's handle on a claimed body. */
const resultClaim = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);
/** A request ID as the result exchange takes it: a UUID of any version (G7). */
const resultReqId = z.string().refine(isUuid);

/**
 * Request on `invocation.result.<region>` (H9, core NATS, queue group `invocation-<region>`): a status
 * poll that missed in another region asks the region that may hold the 202 result.
 * - `lookup`: claim the result of `reqId` for `accountId`; answered with a {@link ResultLookupReplySchema}.
 * - `chunk`: the slice of claimed body chunk `index` from byte `offset`; answered with one frame whose
 *   byte 0 is a {@link ResultChunkFrame} and the rest the slice's bytes (not JSON).
 * - `release`: published, no reply: the poller gave up on the claimed body (the owner keeps the result
 *   for the next poll and frees the claim).
 */
export const ResultRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('lookup'), reqId: resultReqId, accountId: z.string().min(1) }),
  z.object({
    op: z.literal('chunk'),
    reqId: resultReqId,
    claim: resultClaim,
    index: z.number().int().min(0),
    offset: z.number().int().min(0),
  }),
  z.object({ op: z.literal('release'), reqId: resultReqId, claim: resultClaim }),
]);
export type ResultRequest = z.infer<typeof ResultRequestSchema>;

/**
 * Reply to a `lookup` on `invocation.result.<region>` (H9): `pending`, `unknown` (not there, expired,
 * fetched, or another account's), `error` (that region's Redis failed), `lost` (500 SY_RESULT_LOST), or `ready`: claimed there (handed
 * out once), with the answer's status, headers and the claim token its body is pulled with.
 */
export const ResultLookupReplySchema = z.union([
  z.object({ state: z.enum(['pending', 'unknown', 'error', 'lost']) }),
  z.object({
    state: z.literal('ready'),
    result: z.object({
      status: z.number().int(),
      headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])),
      claim: resultClaim,
    }),
  }),
]);
export type ResultLookupReply = z.infer<typeof ResultLookupReplySchema>;

/**
 * Byte 0 of a reply to a `chunk` request on `invocation.result.<region>` (H9); the slice's bytes follow.
 * `end`: the body ended (nothing follows; the result is deleted: delivered). `more`: a slice of chunk `index`, which
 * continues at `offset + slice length`. `last`: the last slice of chunk `index`; the next request asks for
 * `index + 1`, offset 0. `error`: the owning region's Redis failed.
 */
export const ResultChunkFrame = { end: 0, more: 1, last: 2, error: 3 } as const;
export type ResultChunkFrame = (typeof ResultChunkFrame)[keyof typeof ResultChunkFrame];

/** Encodes a message as JSON bytes. */
export function encodeMessage(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

/**
 * Decodes and validates JSON bytes with `schema`.
 * @throws z.ZodError when the bytes are not JSON of that shape (SyntaxError for bad JSON).
 */
export function decodeMessage<T>(schema: z.ZodType<T>, bytes: Uint8Array): T {
  return schema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
}
