// A front end's calls over the last minute, summarised for its heartbeat (the live status page):
// count, server-side errors and p50/p95 durations. Memory is bounded: the window is a ring of time
// slices, each a sparse log-scale histogram (buckets 10% apart), so a percentile is within 10%.

import type { CallSummary } from '@switchyard/protocol';

/** Default length of the window, ms (the last minute). */
export const DEFAULT_CALL_WINDOW_MS = 60_000;
/** Default number of slices the window is cut into (the window slides by windowMs / slices). */
export const DEFAULT_CALL_WINDOW_SLICES = 12;

/** Ratio between two bucket bounds: a reported percentile is at most 10% above the true one. */
const BUCKET_RATIO = 1.1;
const LOG_RATIO = Math.log(BUCKET_RATIO);
/** Durations at or below this are counted in bucket 0, ms. */
const FLOOR_MS = 0.01;

/** gRPC status codes that are the server's failure, not the caller's (UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS). */
const GRPC_SERVER_ERRORS: ReadonlySet<string> = new Set(['2', '4', '13', '14', '15']);

/**
 * True when a call outcome is a server-side failure: a gRPC status code (as a decimal string) among
 * UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS, or an HTTP status class `5xx`.
 * Client errors (`4xx`, INVALID_ARGUMENT, NOT_FOUND, ...) and `cancelled` are not.
 */
export function isServerErrorOutcome(outcome: string): boolean {
  return outcome === '5xx' || GRPC_SERVER_ERRORS.has(outcome);
}

/** Options of {@link CallWindow}. */
export interface CallWindowOptions {
  /** Length of the window, ms. @default 60_000 */
  windowMs?: number;
  /** Slices of the window. @default 12 */
  slices?: number;
  /** Clock, epoch ms (tests). @default Date.now */
  now?: () => number;
}

interface Slice {
  /** Index of the slice's period (floor(now / sliceMs)); a stale slice is reset before reuse. */
  period: number;
  count: number;
  errors: number;
  buckets: Map<number, number>;
}

/** Calls, errors and duration percentiles over the last `windowMs`. Not thread-shared; O(1) per record. */
export class CallWindow {
  readonly #windowMs: number;
  readonly #sliceMs: number;
  readonly #slices: Slice[];
  readonly #now: () => number;

  /** @throws TypeError when windowMs or slices is not a positive integer, or windowMs is not a multiple of slices. */
  constructor(options: CallWindowOptions = {}) {
    const windowMs = options.windowMs ?? DEFAULT_CALL_WINDOW_MS;
    const slices = options.slices ?? DEFAULT_CALL_WINDOW_SLICES;
    if (!Number.isInteger(windowMs) || windowMs <= 0 || !Number.isInteger(slices) || slices <= 0)
      throw new TypeError(`windowMs and slices must be positive integers, got ${windowMs} and ${slices}`);
    if (windowMs % slices !== 0) throw new TypeError(`windowMs (${windowMs}) must be a multiple of slices (${slices})`);
    this.#windowMs = windowMs;
    this.#sliceMs = windowMs / slices;
    this.#now = options.now ?? Date.now;
    this.#slices = Array.from({ length: slices }, () => ({ period: -1, count: 0, errors: 0, buckets: new Map() }));
  }

  /**
   * Counts one ended call.
   * @param durationMs how long it took, ms (negative or NaN counts as 0).
   * @param failed a server-side failure (see {@link isServerErrorOutcome}).
   */
  record(durationMs: number, failed: boolean): void {
    const period = Math.floor(this.#now() / this.#sliceMs);
    const slice = this.#slices[period % this.#slices.length];
    if (slice.period !== period) {
      slice.period = period;
      slice.count = 0;
      slice.errors = 0;
      slice.buckets.clear();
    }
    slice.count++;
    if (failed) slice.errors++;
    const bucket = bucketOf(durationMs);
    slice.buckets.set(bucket, (slice.buckets.get(bucket) ?? 0) + 1);
  }

  /** The summary of the calls that ended in the last `windowMs` (the current, partial slice included). */
  summary(): CallSummary {
    const current = Math.floor(this.#now() / this.#sliceMs);
    const oldest = current - this.#slices.length + 1;
    let count = 0;
    let errors = 0;
    const merged = new Map<number, number>();
    for (const slice of this.#slices) {
      if (slice.period < oldest || slice.period > current) continue;
      count += slice.count;
      errors += slice.errors;
      for (const [bucket, n] of slice.buckets) merged.set(bucket, (merged.get(bucket) ?? 0) + n);
    }
    if (count === 0) return { windowMs: this.#windowMs, count, errors };
    const sorted = [...merged].sort((a, b) => a[0] - b[0]);
    return {
      windowMs: this.#windowMs,
      count,
      errors,
      p50Ms: percentile(sorted, count, 0.5),
      p95Ms: percentile(sorted, count, 0.95),
    };
  }
}

function bucketOf(durationMs: number): number {
  if (!(durationMs > FLOOR_MS)) return 0;
  return Math.ceil(Math.log(durationMs / FLOOR_MS) / LOG_RATIO);
}

/** Upper bound of the bucket holding the `q` quantile, ms, rounded to 4 significant digits. */
function percentile(sorted: readonly [number, number][], count: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  let bucket = sorted[sorted.length - 1][0];
  for (const [b, n] of sorted) {
    seen += n;
    if (seen >= rank) {
      bucket = b;
      break;
    }
  }
  return Number.parseFloat((FLOOR_MS * BUCKET_RATIO ** bucket).toPrecision(4));
}
