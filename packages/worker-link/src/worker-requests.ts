// Requests from a front end (or the operator API) to one worker over core NATS: `reconnect` (flow 3)
// and `evict` (S3), on the worker's own subjects `worker.<versionId>.<workerId>.*`. How their failures read is
// decided here, once: "no responders" is believed only after a grace (a worker moving to another NATS
// server after a node died has no subscription for a moment) and then means the worker is gone; a
// timeout or any other failure is UNAVAILABLE, never NOT_FOUND (G8: a live session must not look lost).

import type { Msg, NatsConnection } from '@nats-io/nats-core';
import { isNoResponders, isTimeout, requestWithGrace } from '@switchyard/nats-errors';
import {
  type ControlReply,
  ControlReplySchema,
  decodeMessage,
  ErrorCatalogue,
  type ErrorCode,
  type EvictRequest,
  encodeMessage,
  NatsNames,
  type ReconnectRequest,
  SwitchyardError,
} from '@switchyard/protocol';

/** Where a worker listens: its version and its ID (both NATS tokens), as a session record names them. */
export interface WorkerAddress {
  /** Function version the worker serves (UUID). */
  readonly versionId: string;
  /** The worker's ID. */
  readonly workerId: string;
}

/** Budgets of one request to a worker. */
export interface WorkerRequestOptions {
  /** Budget of each attempt, ms (nats.js request timeout). */
  timeoutMs: number;
  /** How long "no responders" is asked again before the worker is believed gone, ms (0: at once). */
  noRespondersGraceMs: number;
}

/** The outcome of a request that the worker answered, or `worker-gone` when nobody listened. */
type Answer = { kind: 'reply'; reply: ControlReply } | { kind: 'worker-gone' };

/**
 * Sends `data` to `subject` (a worker's subject) with the grace for "no responders".
 * @throws SwitchyardError SY_WORKER_UNAVAILABLE (timeout, NATS down, malformed reply; the detail says which).
 */
async function ask(
  nc: NatsConnection,
  workerId: string,
  what: string,
  subject: string,
  data: Uint8Array,
  options: WorkerRequestOptions,
): Promise<Answer> {
  let msg: Msg;
  try {
    msg = await requestWithGrace(nc, subject, data, options);
  } catch (err) {
    if (isNoResponders(err)) return { kind: 'worker-gone' };
    const detail = isTimeout(err)
      ? `worker ${workerId} did not answer the ${what} request within ${options.timeoutMs} ms`
      : `${what} request to worker ${workerId} failed: ${(err as Error).message}`;
    throw new SwitchyardError('SY_WORKER_UNAVAILABLE', { detail, cause: err });
  }
  try {
    return { kind: 'reply', reply: decodeMessage(ControlReplySchema, msg.data) };
  } catch (err) {
    throw new SwitchyardError('SY_WORKER_UNAVAILABLE', {
      detail: `worker ${workerId} sent a malformed ${what} reply`,
      cause: err,
    });
  }
}

/** The subject of `workerId`, or SY_INTERNAL when a record names a worker ID that is not a NATS token. */
function subjectOf(
  make: (versionId: string, workerId: string) => string,
  worker: WorkerAddress,
  reqId: string,
): string {
  try {
    return make(worker.versionId, worker.workerId);
  } catch (err) {
    throw new SwitchyardError('SY_INTERNAL', { detail: `session ${reqId} names an invalid worker`, cause: err });
  }
}

/** Outcome of {@link requestEvict} when the worker was asked. */
export type EvictOutcome = 'evicted' | 'worker-gone';

/**
 * Asks worker `worker` to end session `reqId` now (S3; `worker.<versionId>.<workerId>.evict`, {@link EvictRequest}).
 * The operator API's `DELETE /v1/sessions/:reqId` and a client's G13 `DELETE` both use this.
 * @returns 'evicted' when the worker ended it; 'worker-gone' when nobody listened on the worker's
 *   subject for the whole grace (its record is stale; the bucket TTL removes it).
 * @throws SwitchyardError with the worker's own catalogue code when it refused (SY_SESSION_NOT_FOUND:
 *   it does not hold the session), else SY_WORKER_UNAVAILABLE (no answer in time, bad reply, NATS
 *   down), SY_INTERNAL for a worker ID that is not a NATS token.
 */
export async function requestEvict(
  nc: NatsConnection,
  worker: WorkerAddress,
  reqId: string,
  options: WorkerRequestOptions,
): Promise<EvictOutcome> {
  const { workerId } = worker;
  const subject = subjectOf(NatsNames.workerEvict, worker, reqId);
  const request: EvictRequest = { reqId };
  const answer = await ask(nc, workerId, 'evict', subject, encodeMessage(request), options);
  if (answer.kind === 'worker-gone') return 'worker-gone';
  if (answer.reply.ok) return 'evicted';
  throw refusal(answer.reply, `worker ${workerId} refused the eviction`);
}

/**
 * Asks worker `worker` to attach session `reqId` to the front-end instance named in `request`
 * (flow 3; `worker.<versionId>.<workerId>.reconnect`): it dials `request.callbackUri` with the token, or redeems
 * it over NATS when it has a tunnel there already. Resolves once the worker says it attached.
 * @throws SwitchyardError SY_SESSION_NOT_FOUND (the worker does not hold the session, or is gone),
 *   SY_WORKER_UNAVAILABLE (no answer in time, NATS down, or the worker could not attach).
 */
export async function requestReconnect(
  nc: NatsConnection,
  worker: WorkerAddress,
  request: ReconnectRequest,
  options: WorkerRequestOptions,
): Promise<void> {
  const { workerId } = worker;
  const subject = subjectOf(NatsNames.workerReconnect, worker, request.reqId);
  const answer = await ask(nc, workerId, 'reconnect', subject, encodeMessage(request), options);
  if (answer.kind === 'worker-gone') throw new SwitchyardError('SY_SESSION_NOT_FOUND', { detail: 'worker is gone' });
  if (answer.reply.ok) return;
  if (answer.reply.code === 'SY_SESSION_NOT_FOUND') throw new SwitchyardError('SY_SESSION_NOT_FOUND');
  throw new SwitchyardError('SY_WORKER_UNAVAILABLE', {
    detail: `${answer.reply.code}: ${answer.reply.detail ?? ''}`,
  });
}

/** A worker's `{ok: false}` as an error: its code when the catalogue has it, else SY_WORKER_UNAVAILABLE. */
function refusal(reply: ControlReply, what: string): SwitchyardError {
  const code: ErrorCode =
    reply.code !== undefined && Object.hasOwn(ErrorCatalogue, reply.code)
      ? (reply.code as ErrorCode)
      : 'SY_WORKER_UNAVAILABLE';
  return new SwitchyardError(code, { detail: `${what}${reply.detail ? `: ${reply.detail}` : ''}` });
}
