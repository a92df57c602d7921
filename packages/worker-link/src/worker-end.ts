// The worker end of the exchange: the requests front ends send a worker over NATS (reconnect, evict on
// `worker.<versionId>.<workerId>.*`), validated here so the worker's handlers get typed requests; the worker's
// own messages to front ends (attach over NATS, session-ended); and its tunnels, one per front-end
// instance (see worker-tunnels.ts).

import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import {
  type AttachRequest,
  type ControlReply,
  ControlReplySchema,
  decodeMessage,
  ErrorCatalogue,
  type ErrorCode,
  EvictRequestSchema,
  encodeMessage,
  NatsNames,
  type ReconnectRequest,
  ReconnectRequestSchema,
  type SessionEnded,
  SwitchyardError,
} from '@switchyard/protocol';
import type { WorkerAddress } from './worker-requests.ts';

/** What a worker does when a front end asks (see {@link serveWorkerLink}). */
export interface WorkerLinkHandlers {
  /**
   * Attach session `request.reqId` to the front end named in `request` (flow 3): dial it or attach
   * over NATS. Resolve when attached.
   * @throws SwitchyardError with the code the front end gets (SY_SESSION_NOT_FOUND when the session is
   *   not held here, SY_CALLBACK_NOT_ALLOWED, a dial failure...).
   */
  reconnect(request: ReconnectRequest): Promise<void>;
  /**
   * End session `reqId` now (S3). @returns false when this worker does not hold it.
   */
  evict(reqId: string): Promise<boolean>;
}

/** A worker's subscriptions to its subjects; `close()` drops them. */
export interface WorkerLinkServer {
  close(): void;
}

/** Default budget of an attach over NATS (the front end's reply), ms. */
export const DEFAULT_ATTACH_TIMEOUT_MS = 5_000;

function replyTo(msg: Msg, reply: ControlReply): void {
  msg.respond(encodeMessage(reply));
}

function failure(err: unknown, fallback: ErrorCode): ControlReply {
  if (err instanceof SwitchyardError) return { ok: false, code: err.code, detail: err.detail ?? err.message };
  return { ok: false, code: fallback, detail: (err as Error)?.message };
}

/**
 * Subscribes worker `worker` to `worker.<versionId>.<workerId>.reconnect` and `.evict`, answering each with a
 * {@link ControlReply}: a malformed request gets `SY_INTERNAL` ("malformed ... request") without
 * reaching the handlers; a handler's SwitchyardError becomes `{ok:false, code}`. Resolves once the
 * server has the subscriptions. @throws the NATS error when the connection is closed.
 */
export async function serveWorkerLink(
  nc: NatsConnection,
  worker: WorkerAddress,
  handlers: WorkerLinkHandlers,
): Promise<WorkerLinkServer> {
  const subs: Subscription[] = [
    nc.subscribe(NatsNames.workerReconnect(worker.versionId, worker.workerId), {
      callback: (err, msg) => {
        if (!err) void onReconnect(msg, handlers);
      },
    }),
    nc.subscribe(NatsNames.workerEvict(worker.versionId, worker.workerId), {
      callback: (err, msg) => {
        if (!err) void onEvict(msg, handlers);
      },
    }),
  ];
  await nc.flush();
  return {
    close: () => {
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

async function onReconnect(msg: Msg, handlers: WorkerLinkHandlers): Promise<void> {
  let request: ReconnectRequest;
  try {
    request = decodeMessage(ReconnectRequestSchema, msg.data);
  } catch {
    replyTo(msg, { ok: false, code: 'SY_INTERNAL', detail: 'malformed reconnect request' });
    return;
  }
  try {
    await handlers.reconnect(request);
    replyTo(msg, { ok: true });
  } catch (err) {
    replyTo(msg, failure(err, 'SY_TUNNEL_DIAL_FAILED'));
  }
}

async function onEvict(msg: Msg, handlers: WorkerLinkHandlers): Promise<void> {
  let reqId: string;
  try {
    reqId = decodeMessage(EvictRequestSchema, msg.data).reqId;
  } catch {
    // Names no session this worker could hold.
    replyTo(msg, { ok: false, code: 'SY_SESSION_NOT_FOUND', detail: 'malformed evict request' });
    return;
  }
  try {
    const ended = await handlers.evict(reqId);
    replyTo(msg, ended ? { ok: true } : { ok: false, code: 'SY_SESSION_NOT_FOUND' });
  } catch (err) {
    replyTo(msg, failure(err, 'SY_INTERNAL'));
  }
}

/**
 * Redeems a token over NATS at front-end instance `proxyId`, to which this worker already has a
 * tunnel (W1: `proxy.<proxyId>.attach`, {@link AttachRequest}).
 * @returns true when attached; false when the instance no longer sees this worker's tunnel
 *   (SY_TUNNEL_LOST: dial a new one with the same, still unused, token).
 * @throws SwitchyardError with the instance's code (SY_TUNNEL_TOKEN_REJECTED...), or the nats.js error
 *   (timeout after `timeoutMs`, no responders: the instance is gone).
 */
export async function attachOverNats(
  nc: NatsConnection,
  proxyId: string,
  request: AttachRequest,
  timeoutMs: number = DEFAULT_ATTACH_TIMEOUT_MS,
): Promise<boolean> {
  const reply = await nc.request(NatsNames.proxyAttach(proxyId), encodeMessage(request), { timeout: timeoutMs });
  const answer = decodeMessage(ControlReplySchema, reply.data);
  if (answer.ok) return true;
  if (answer.code === 'SY_TUNNEL_LOST') return false;
  const code = answer.code !== undefined && Object.hasOwn(ErrorCatalogue, answer.code) ? answer.code : 'SY_INTERNAL';
  throw new SwitchyardError(code as ErrorCode, { detail: answer.detail });
}

/**
 * Asks front-end instance `proxyId` for a fresh token for the pending attach of `request.token` (W1:
 * the ticket waited past the token's 30 s CONNECT lifetime, and this worker has no tunnel there).
 * @returns the new token.
 * @throws SwitchyardError with the instance's code (SY_TUNNEL_TOKEN_REJECTED: the request is gone),
 *   or the nats.js error (timeout, no responders).
 */
export async function refreshToken(
  nc: NatsConnection,
  proxyId: string,
  request: AttachRequest,
  timeoutMs: number = DEFAULT_ATTACH_TIMEOUT_MS,
): Promise<string> {
  const reply = await nc.request(NatsNames.proxyAttach(proxyId), encodeMessage({ ...request, refresh: true }), {
    timeout: timeoutMs,
  });
  const answer = decodeMessage(ControlReplySchema, reply.data);
  if (answer.ok && answer.token !== undefined) return answer.token;
  const code = answer.code !== undefined && Object.hasOwn(ErrorCatalogue, answer.code) ? answer.code : 'SY_INTERNAL';
  throw new SwitchyardError(code as ErrorCode, { detail: answer.detail ?? 'no fresh token' });
}

/** Tells each front-end instance in `proxyIds` that a session ended (S3: `proxy.<id>.session-ended`). */
export function publishSessionEnded(nc: NatsConnection, proxyIds: Iterable<string>, ended: SessionEnded): void {
  const data = encodeMessage(ended);
  for (const proxyId of proxyIds) nc.publish(NatsNames.proxySessionEnded(proxyId), data);
}
