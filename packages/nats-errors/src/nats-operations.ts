// Timing and error counting of NATS operations, at the one place every request goes through: the
// connection's `request()` (core requests, and every JetStream API call, KV get/put/create/update/
// delete and stream publish, which nats.js sends as requests). Consumer fetches are not requests:
// the ticket queue times them itself with {@link timeNatsOperation}. The recorder is injected (the
// services pass one from @switchyard/telemetry), so no NATS-owning package imports a metrics SDK.

import { errors, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';

/** Kinds of a NATS request that got no answer. */
export type DependencyErrorKind = 'no_responders' | 'timeout' | 'other';

/**
 * Operation names (bounded, the `switchyard.operation` label): KV operations, a stream publish, a
 * consumer fetch, any other JetStream API call, and core requests by subject family.
 */
export type NatsOperation =
  | 'kv_get'
  | 'kv_put'
  | 'kv_create'
  | 'kv_update'
  | 'kv_delete'
  | 'stream_publish'
  | 'consumer_fetch'
  | 'jetstream_api'
  | 'worker_reconnect'
  | 'worker_evict'
  | 'proxy_attach'
  | 'result_exchange'
  | 'request';

/** Receives one record per finished operation (`createDependencyRecorder` of @switchyard/telemetry makes one). */
export interface DependencyOperationRecorder {
  /**
   * @param operation bounded operation name.
   * @param seconds duration from call to answer (or failure).
   * @param error the kind of failure when no answer came, else undefined. An answer that says no (a
   *   JetStream API error, a KV revision mismatch) is an answer, not an error here.
   */
  operation(operation: string, seconds: number, error: DependencyErrorKind | undefined): void;
}

/** Recorders by connection, set by {@link recordNatsOperations}. */
const recorders = new WeakMap<NatsConnection, DependencyOperationRecorder>();

/**
 * Sorts a failed NATS request: `no_responders` (nobody subscribes to the subject), `timeout` (no
 * answer within its timeout), else `other` (connection closed, draining...). By class, never by message.
 */
export function natsErrorKind(err: unknown): DependencyErrorKind {
  let e: unknown = err;
  for (let depth = 0; depth <= 8 && e instanceof Error; depth++, e = e.cause) {
    if (e instanceof errors.NoRespondersError) return 'no_responders';
    if (e instanceof errors.TimeoutError) return 'timeout';
  }
  return 'other';
}

/** The KV operation a publish to `$KV.<bucket>.<key>` performs, from its headers (as nats.js sets them). */
function kvWrite(headers: MsgHdrs | undefined): NatsOperation {
  if (headers === undefined) return 'kv_put';
  const op = headers.get('KV-Operation');
  if (op === 'DEL' || op === 'PURGE') return 'kv_delete';
  const last = headers.get('Nats-Expected-Last-Subject-Sequence');
  if (last === '0') return 'kv_create';
  return last === '' ? 'kv_put' : 'kv_update';
}

/**
 * The operation a request to `subject` is (bounded whatever the subject): see {@link NatsOperation}.
 * Subjects are Switchyard's (packages/protocol NatsNames) and nats.js's own (`$KV.`, `$JS.API.`).
 */
export function natsOperationOf(subject: string, headers?: MsgHdrs): NatsOperation {
  if (subject.startsWith('$KV.')) return kvWrite(headers);
  if (subject.startsWith('$JS.API.')) {
    if (subject.startsWith('$JS.API.DIRECT.GET.KV_') || subject.startsWith('$JS.API.STREAM.MSG.GET.KV_'))
      return 'kv_get';
    return 'jetstream_api';
  }
  if (subject.startsWith('rq.')) return 'stream_publish';
  if (subject.startsWith('worker.')) {
    if (subject.endsWith('.reconnect')) return 'worker_reconnect';
    if (subject.endsWith('.evict')) return 'worker_evict';
    return 'request';
  }
  if (subject.startsWith('proxy.') && subject.endsWith('.attach')) return 'proxy_attach';
  if (subject.startsWith('invocation.result.')) return 'result_exchange';
  return 'request';
}

/**
 * Times every `request()` of `nc` (and so every JetStream API call, KV operation and stream publish)
 * into `recorder`, and lets {@link timeNatsOperation} find it. Call once, right after connecting.
 * Cost per request: two clock reads and one promise reaction; nothing else is allocated.
 */
export function recordNatsOperations(nc: NatsConnection, recorder: DependencyOperationRecorder): void {
  if (recorders.has(nc)) {
    recorders.set(nc, recorder);
    return;
  }
  recorders.set(nc, recorder);
  const request = nc.request.bind(nc);
  nc.request = (subject, payload, opts) => {
    const started = performance.now();
    const operation = natsOperationOf(subject, opts?.headers);
    const answer = request(subject, payload, opts);
    answer.then(
      () => recorders.get(nc)?.operation(operation, (performance.now() - started) / 1000, undefined),
      (err: unknown) =>
        recorders.get(nc)?.operation(operation, (performance.now() - started) / 1000, natsErrorKind(err)),
    );
    return answer;
  };
}

/**
 * Runs `run` and records it as `operation` on the recorder of `nc` (if any): for operations that are
 * not a single `request()` (a consumer fetch). Resolves or rejects like `run()`.
 */
export async function timeNatsOperation<T>(
  nc: NatsConnection,
  operation: NatsOperation,
  run: () => Promise<T>,
): Promise<T> {
  const recorder = recorders.get(nc);
  if (recorder === undefined) return run();
  const started = performance.now();
  try {
    const value = await run();
    recorder.operation(operation, (performance.now() - started) / 1000, undefined);
    return value;
  } catch (err) {
    recorder.operation(operation, (performance.now() - started) / 1000, natsErrorKind(err));
    throw err;
  }
}
