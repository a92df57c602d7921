// Options of the control store, resolved once into a frozen config: defaults filled in, every bad
// value reported at once.

/** Default budget of one KV operation, ms. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 2_000;
/** Default budget of the initial load of the three buckets, ms. */
export const DEFAULT_CONTROL_LOAD_TIMEOUT_MS = 10_000;
/** Default time the cache keeps serving after its watch broke, ms. */
export const DEFAULT_CONTROL_MAX_STALENESS_MS = 10_000;
/** Longest default time between two freshness probes, ms (shorter when maxStalenessMs / 4 is). */
export const DEFAULT_CONTROL_PROBE_INTERVAL_MS = 1_000;
/** Smallest maxStalenessMs accepted, ms: a copy must be able to prove its freshness in between. */
export const MIN_CONTROL_MAX_STALENESS_MS = 100;
/** Default replica count of the control buckets. */
export const DEFAULT_CONTROL_REPLICAS = 1;

/** Options of `ControlStore.open`. */
export interface ControlStoreOptions {
  /** Replicas of the buckets when this call creates them (1, 3 or 5). @default 1 */
  replicas?: number;
  /** Budget of each KV operation (and of each write's wait for the cache to catch up), ms. @default 2_000 */
  timeoutMs?: number;
  /** Create the buckets when missing; `false` binds to existing ones. @default true */
  create?: boolean;
  /** Budget of the initial load of the three buckets, ms. @default 10_000 */
  loadTimeoutMs?: number;
  /**
   * The revocation bound: the cache serves `authorize` only while it is proven to hold every write
   * made to the buckets more than this long ago (by its freshness probes, see `probeIntervalMs`);
   * beyond that, `authorize` throws SY_CONTROL_UNAVAILABLE and the store tells its `onUnavailable`
   * listeners, until a probe proves it fresh again. This covers NATS being unreachable and a watch that
   * silently stopped delivering (a gateway cut between this region and the buckets' home region). A
   * short outage should not stop every invocation; a long one should not keep honouring keys revoked
   * meanwhile. At least 100.
   * @default 10_000
   */
  maxStalenessMs?: number;
  /**
   * Time between two freshness probes, ms: each probe reads the three buckets' last sequence (JetStream
   * stream info, at the stream leader: across the gateway in a region other than the buckets' home) and
   * waits for the watched copy to reach it; success proves the copy fresh as of the probe's start. A
   * probe that reaches the buckets while the copy cannot catch up rebuilds the watches. At most
   * maxStalenessMs / 2. `0` turns probes off: the copy then counts as fresh only as of its last
   * (re)load, so `authorize` refuses maxStalenessMs after it; for processes that read but never
   * authorize (the worker).
   * @default min(1_000, maxStalenessMs / 4)
   */
  probeIntervalMs?: number;
}

/** Resolved, frozen {@link ControlStoreOptions}. */
export interface ControlStoreConfig {
  /** Replicas of the buckets when created (1, 3 or 5). */
  readonly replicas: number;
  /** Budget of each KV operation, ms. */
  readonly timeoutMs: number;
  /** Whether `open` creates missing buckets. */
  readonly create: boolean;
  /** Budget of the initial load, ms. */
  readonly loadTimeoutMs: number;
  /** Age of the last freshness proof beyond which `authorize` refuses (SY_CONTROL_UNAVAILABLE), ms. */
  readonly maxStalenessMs: number;
  /** Time between two freshness probes, ms; 0 = none. */
  readonly probeIntervalMs: number;
}

/**
 * Resolves options into a frozen config.
 * @throws TypeError listing every bad value (replicas not 1, 3 or 5; a budget not a positive integer;
 *   maxStalenessMs not an integer >= 100; probeIntervalMs not 0 or an integer in 10..maxStalenessMs / 2).
 */
export function resolveControlStoreConfig(options: ControlStoreOptions = {}): ControlStoreConfig {
  const maxStalenessMs = options.maxStalenessMs ?? DEFAULT_CONTROL_MAX_STALENESS_MS;
  const config = {
    replicas: options.replicas ?? DEFAULT_CONTROL_REPLICAS,
    timeoutMs: options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS,
    create: options.create ?? true,
    loadTimeoutMs: options.loadTimeoutMs ?? DEFAULT_CONTROL_LOAD_TIMEOUT_MS,
    maxStalenessMs,
    probeIntervalMs:
      options.probeIntervalMs ??
      Math.max(10, Math.min(DEFAULT_CONTROL_PROBE_INTERVAL_MS, Math.floor(maxStalenessMs / 4))),
  };
  const problems: string[] = [];
  if (![1, 3, 5].includes(config.replicas)) problems.push(`replicas must be 1, 3 or 5, got ${config.replicas}`);
  for (const field of ['timeoutMs', 'loadTimeoutMs'] as const)
    if (!Number.isInteger(config[field]) || config[field] <= 0)
      problems.push(`${field} must be a positive integer, got ${config[field]}`);
  if (!Number.isInteger(config.maxStalenessMs) || config.maxStalenessMs < MIN_CONTROL_MAX_STALENESS_MS)
    problems.push(`maxStalenessMs must be an integer >= ${MIN_CONTROL_MAX_STALENESS_MS}, got ${config.maxStalenessMs}`);
  const probe = config.probeIntervalMs;
  if (probe !== 0 && (!Number.isInteger(probe) || probe < 10 || probe > config.maxStalenessMs / 2))
    problems.push(`probeIntervalMs must be 0 or an integer in 10..maxStalenessMs / 2, got ${probe}`);
  if (problems.length > 0) throw new TypeError(`invalid ControlStoreOptions: ${problems.join('; ')}`);
  return Object.freeze(config);
}
