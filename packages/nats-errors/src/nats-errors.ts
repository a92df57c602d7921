// Sorting nats.js failures into "NATS could not answer" versus everything else, by error class and
// JetStream API code (never by message). An unreachable dependency must never look like a miss: the
// proxy would answer NOT_FOUND and clear a live session's cookie (G8), or reject a valid key.

import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from '@nats-io/jetstream';
import { errors, type Msg, type NatsConnection } from '@nats-io/nats-core';
import { type ErrorCode, SwitchyardError } from '@switchyard/protocol';

/** Raised by {@link withDeadline} when an operation outlives its budget. */
export class DeadlineExceededError extends Error {
  /** Budget that was exceeded, in ms. */
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number) {
    super(`${operation} did not complete within ${timeoutMs} ms`);
    this.name = 'DeadlineExceededError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Resolves or rejects like `promise`, or rejects with {@link DeadlineExceededError} after
 * `timeoutMs`. The underlying operation is not cancelled (nats.js offers no cancellation); its
 * late result is ignored.
 */
export function withDeadline<T>(operation: string, timeoutMs: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceededError(operation, timeoutMs)), timeoutMs);
  });
  // A late rejection of the abandoned operation must not become an unhandled rejection.
  promise.catch(() => {});
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** True when `err` is JetStream saying the expected last revision of a key did not match. */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/**
 * JetStream API error code of a write the stream refused to store (nats-server's
 * `JSStreamStoreFailedF`, answered with status 503). `JetStreamApiCodes` of @nats-io/jetstream has
 * no constant for it. With `DiscardPolicy.New` it is how a stream at its `max_msgs` (or `max_bytes`)
 * refuses one more message.
 */
export const JS_STREAM_STORE_FAILED = 10077;

/**
 * True when `err` is JetStream refusing to store a published message because the stream is at its
 * bound (status 503, code {@link JS_STREAM_STORE_FAILED}; a stream with `DiscardPolicy.New`). Check
 * it before {@link isUnavailable}, which counts every 5xx JetStream answer as "could not answer".
 */
export function isStreamFull(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.status === 503 && err.code === JS_STREAM_STORE_FAILED;
}

/** How many `cause` links {@link isTimeout} follows. */
const MAX_CAUSE_DEPTH = 8;

/**
 * True when `err`, or an error in its `cause` chain (up to 8 links), is nats.js's
 * `errors.TimeoutError`: a request or JetStream API call got no answer within its timeout (the
 * subject has a subscriber that did not reply). Classified by class, never by name or message.
 * A "no responders" answer is not a timeout ({@link isNoResponders}), nor is the
 * {@link DeadlineExceededError} of {@link withDeadline}.
 */
export function isTimeout(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && e instanceof Error; depth++, e = e.cause)
    if (e instanceof errors.TimeoutError) return true;
  return false;
}

/**
 * True when `err` means NATS or JetStream could not answer (connection down, closed or draining,
 * timeout, no responders, directly or as the cause of a JetStream request nats.js gave up on, bucket
 * stream missing or without quorum), as opposed to a request the server understood and refused.
 */
export function isUnavailable(err: unknown): boolean {
  if (
    err instanceof DeadlineExceededError ||
    err instanceof errors.TimeoutError ||
    err instanceof errors.NoRespondersError ||
    err instanceof errors.RequestError ||
    err instanceof errors.ClosedConnectionError ||
    err instanceof errors.DrainingConnectionError ||
    err instanceof errors.ConnectionError
  )
    return true;
  if (err instanceof JetStreamApiError)
    // A missing bucket stream is a deployment fault or a region still starting, not a miss.
    return err.code === JetStreamApiCodes.StreamNotFound || err.status >= 500 || err.status === 408;
  // A JetStream request (a KV write, a stream publish) that got "no responders" after nats.js's own
  // retries: no JetStream server took it (no stream leader during a failover, or no JetStream at all).
  // nats.js throws it as JetStreamNotEnabled (not exported) with the no-responders error as its cause.
  if (err instanceof Error && isNoResponders(err.cause)) return true;
  // Plain JetStreamError: other client-side JetStream failures.
  return err instanceof JetStreamError;
}

/**
 * True when JetStream refused to create a bucket or stream because the cluster has too few servers
 * for its replicas: "replicas > 1 not supported in non-clustered mode" (10074) or "no suitable peers
 * for placement" (10005, also when placement tags match too few servers, or while a new cluster does
 * not know all its servers yet). A setting to fix when it lasts: never "unavailable".
 */
export function isReplicasExceedCluster(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError && (err.code === JS_REPLICAS_NOT_SUPPORTED || err.code === JS_NO_SUITABLE_PEERS)
  );
}

/** JetStream API error code: replicas > 1 on a server without a cluster. */
const JS_REPLICAS_NOT_SUPPORTED = 10074;
/** JetStream API error code: no suitable peers for placement (too few servers, or tags). */
const JS_NO_SUITABLE_PEERS = 10005;

/** Attempts of an idempotent start-up step (creating a bucket or stream) while NATS cannot answer. */
export const DEFAULT_STARTUP_ATTEMPTS = 10;

/** Pause between those attempts, in ms. */
export const DEFAULT_STARTUP_RETRY_MS = 1_000;

/**
 * Runs `step` again while it fails with "NATS could not answer" ({@link isUnavailable}) or too few
 * servers for its replicas ({@link isReplicasExceedCluster}), up to
 * `attempts` runs with `retryMs` between them; any other failure, or the last one, is thrown as is.
 * For idempotent steps only: creating a bucket or stream that another instance may have created, or
 * that the timed-out first attempt did create. Right after a cluster forms (or while other processes
 * load a small machine) the JetStream meta leader can take longer than one request timeout to create
 * a stream, and a service that gave up then would exit at start for nothing.
 * @param step one attempt; gets the attempt number (1-based).
 * @param options `attempts` (@default 10), `retryMs` (@default 1000), `onRetry` told each failure retried.
 */
export async function retryWhileUnavailable<T>(
  step: (attempt: number) => Promise<T>,
  options: { attempts?: number; retryMs?: number; onRetry?: (err: unknown, attempt: number) => void } = {},
): Promise<T> {
  const attempts = options.attempts ?? DEFAULT_STARTUP_ATTEMPTS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step(attempt);
    } catch (err) {
      // Too few peers is retried too: a cluster that has just formed may not know all its servers yet.
      if (attempt >= attempts || !(isUnavailable(err) || isReplicasExceedCluster(err))) throw err;
      options.onRetry?.(err, attempt);
      await new Promise((resolve) => setTimeout(resolve, options.retryMs ?? DEFAULT_STARTUP_RETRY_MS));
    }
  }
}

/**
 * Maps a failure of a NATS-backed operation to a SwitchyardError: connection-level failures become
 * `unavailableCode` (e.g. SY_DIRECTORY_UNAVAILABLE), too few servers for the replicas asked
 * SY_NATS_REPLICAS_EXCEED_CLUSTER, anything else `SY_INTERNAL`; a SwitchyardError passes through.
 */
export function toSwitchyardError(err: unknown, unavailableCode: ErrorCode, detail: string): SwitchyardError {
  if (err instanceof SwitchyardError) return err;
  if (isReplicasExceedCluster(err))
    return new SwitchyardError('SY_NATS_REPLICAS_EXCEED_CLUSTER', {
      detail: `${detail}: ${(err as Error).message} (set SWITCHYARD_NATS_REPLICAS to at most the number of NATS servers with JetStream in the cluster)`,
      cause: err,
    });
  return new SwitchyardError(isUnavailable(err) ? unavailableCode : 'SY_INTERNAL', { detail, cause: err });
}

/** True when `err` is nats.js saying that nobody subscribes to a request's subject ("no responders"). */
export function isNoResponders(err: unknown): boolean {
  return err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders());
}

/** Options of {@link requestWithGrace}. */
export interface RequestWithGraceOptions {
  /** Budget of each attempt, in ms (nats.js request timeout). */
  timeoutMs: number;
  /** How long "no responders" is retried before it is believed, in ms (0: at once). */
  noRespondersGraceMs: number;
  /** Pause between attempts while nobody listens, in ms. @default 100 */
  retryIntervalMs?: number;
}

/**
 * A core NATS request to a subject that one process subscribes to (a worker's `worker.<versionId>.<workerId>.*`
 * control subjects), asked again while nobody listens, for up to `noRespondersGraceMs`. A process
 * whose NATS server has just died has no subscription until it has reconnected to another server
 * of the cluster (milliseconds, seconds on a loaded machine); only "no responders" that outlasts
 * the grace means the process is gone. Callers turn that into NOT_FOUND (G8) and everything else
 * into UNAVAILABLE, so a NATS failover never looks like a lost session.
 * @returns the reply message.
 * @throws the last "no responders" error (see {@link isNoResponders}) when the grace ran out; any
 *   other nats.js error (timeout, closed connection) at once.
 */
export async function requestWithGrace(
  nc: NatsConnection,
  subject: string,
  data: Uint8Array,
  options: RequestWithGraceOptions,
): Promise<Msg> {
  const giveUpAt = Date.now() + options.noRespondersGraceMs;
  const interval = options.retryIntervalMs ?? 100;
  for (;;) {
    try {
      return await nc.request(subject, data, { timeout: options.timeoutMs });
    } catch (err) {
      const leftMs = giveUpAt - Date.now();
      if (!isNoResponders(err) || leftMs <= 0) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(interval, leftMs)));
    }
  }
}
