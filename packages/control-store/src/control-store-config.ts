// Options of the control store, resolved once into a frozen config: defaults filled in, every bad
// value reported at once.

/** Default budget of one KV operation, ms. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 2_000;
/** Default budget of the initial load of the three buckets, ms. */
export const DEFAULT_CONTROL_LOAD_TIMEOUT_MS = 10_000;
/** Default time the cache keeps serving after its watch broke, ms. */
export const DEFAULT_CONTROL_MAX_STALENESS_MS = 10_000;
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
   * How long after its watch broke (NATS unreachable) the cache keeps serving `authorize`; after
   * that `authorize` throws SY_CONTROL_UNAVAILABLE until the watch is back. A short outage should
   * not stop every invocation; a long one should not keep honouring keys revoked meanwhile.
   * @default 10_000
   */
  maxStalenessMs?: number;
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
  /** How long a broken watch may still serve `authorize`, ms. */
  readonly maxStalenessMs: number;
}

/**
 * Resolves options into a frozen config.
 * @throws TypeError listing every bad value (replicas not 1, 3 or 5; a budget not a positive integer;
 *   maxStalenessMs not an integer >= 0).
 */
export function resolveControlStoreConfig(options: ControlStoreOptions = {}): ControlStoreConfig {
  const config = {
    replicas: options.replicas ?? DEFAULT_CONTROL_REPLICAS,
    timeoutMs: options.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS,
    create: options.create ?? true,
    loadTimeoutMs: options.loadTimeoutMs ?? DEFAULT_CONTROL_LOAD_TIMEOUT_MS,
    maxStalenessMs: options.maxStalenessMs ?? DEFAULT_CONTROL_MAX_STALENESS_MS,
  };
  const problems: string[] = [];
  if (![1, 3, 5].includes(config.replicas)) problems.push(`replicas must be 1, 3 or 5, got ${config.replicas}`);
  for (const field of ['timeoutMs', 'loadTimeoutMs'] as const)
    if (!Number.isInteger(config[field]) || config[field] <= 0)
      problems.push(`${field} must be a positive integer, got ${config[field]}`);
  if (!Number.isInteger(config.maxStalenessMs) || config.maxStalenessMs < 0)
    problems.push(`maxStalenessMs must be an integer >= 0, got ${config.maxStalenessMs}`);
  if (problems.length > 0) throw new TypeError(`invalid ControlStoreOptions: ${problems.join('; ')}`);
  return Object.freeze(config);
}
