// The control store's in-process copies of its three buckets, kept fresh by KV watches, rebuilt from
// fresh watches after a reconnect, and brought up to date on demand (catch-up) when a miss might only be
// lag. Freshness is proven, not assumed: a probe every probeIntervalMs reads the buckets' last sequence
// at the stream leader and waits for the copy to reach it. A watch can stop delivering without any
// event on this connection (a gateway cut: the local cluster is fine, the buckets' home region is not
// reachable), so the copy serves only while its last proof is at most maxStalenessMs old, and a probe
// that reaches the buckets while the copy cannot catch up rebuilds the watches.

import type { KV } from '@nats-io/kv';
import type { NatsConnection, Status } from '@nats-io/nats-core';
import { withDeadline } from '@switchyard/nats-errors';
import { NatsNames } from '@switchyard/protocol';
import { BucketCache } from './bucket-cache.ts';
import type { ControlStoreConfig } from './control-store-config.ts';
import {
  type ApiKeyRecord,
  ApiKeyRecordSchema,
  type FunctionRecord,
  FunctionRecordSchema,
  type VersionRecord,
  VersionRecordSchema,
} from './records.ts';

/** The three control buckets, opened. */
export interface ControlBuckets {
  /** ctl_functions. */
  functions: KV;
  /** ctl_versions. */
  versions: KV;
  /** ctl_api_keys. */
  apiKeys: KV;
}

const RESYNC_BACKOFF_MS = [100, 250, 500, 1_000, 2_000] as const;

/** What one freshness probe found: the copy caught up, the buckets were reached but the copy did not, or they were not. */
type ProbeOutcome = 'fresh' | 'behind' | 'unreachable';

/** Told the new record (undefined when deleted) of an API key whose record changed in the copy. */
export type ApiKeyChangeListener = (keyId: string, record: ApiKeyRecord | undefined) => void;

/** Told the new record (undefined when deleted) of a function version whose record changed in the copy. */
export type VersionChangeListener = (versionId: string, record: VersionRecord | undefined) => void;

/**
 * Watched copies of the three buckets and whether they may be trusted. `load()` once, then
 * `watchConnection()`; `close()` stops everything.
 */
export class ControlCopies {
  /** Functions by functionId, grouped by accountId. */
  readonly functions: BucketCache<FunctionRecord>;
  /** Versions by versionId, grouped by functionId. */
  readonly versions: BucketCache<VersionRecord>;
  /** API keys by keyId, grouped by hash. */
  readonly apiKeys: BucketCache<ApiKeyRecord>;
  readonly #nc: NatsConnection;
  readonly #kv: ControlBuckets;
  readonly #config: ControlStoreConfig;
  /** Epoch ms as of which the copies are proven to hold every write of the buckets; 0 before the first load. */
  #freshAsOfMs = 0;
  /** Fires when the last proof gets older than maxStalenessMs. */
  #expiry: NodeJS.Timeout | undefined;
  /** Whether `onUnavailable` listeners were told since the copies were last available. */
  #toldUnavailable = false;
  #probeTimer: NodeJS.Timeout | undefined;
  readonly #keyListeners = new Set<ApiKeyChangeListener>();
  readonly #versionListeners = new Set<VersionChangeListener>();
  readonly #unavailableListeners = new Set<() => void>();
  #status: (AsyncIterable<Status> & { stop?: () => void }) | undefined;
  #resyncing: Promise<void> | undefined;
  #resyncWanted = false;
  /** The catch-up reading the buckets now, if any. */
  #catchUpRunning: Promise<boolean> | undefined;
  /** The running catch-up while misses may still join it: until the end of the turn that started it. */
  #catchUpJoinable: Promise<boolean> | undefined;
  /** The one catch-up queued behind the running one, shared by every miss that came meanwhile. */
  #catchUpNext: Promise<boolean> | undefined;
  #closed = false;

  /**
   * @param nc connection whose status the copies follow.
   * @param kv the opened buckets.
   * @param config the store's config (loadTimeoutMs bounds each load round trip; maxStalenessMs).
   */
  constructor(nc: NatsConnection, kv: ControlBuckets, config: ControlStoreConfig) {
    this.#nc = nc;
    this.#kv = kv;
    this.#config = config;
    const timeoutMs = config.loadTimeoutMs;
    this.functions = new BucketCache(kv.functions, {
      name: NatsNames.functionsBucket,
      schema: FunctionRecordSchema,
      groupBy: (fn) => fn.accountId,
      timeoutMs,
    });
    this.versions = new BucketCache(kv.versions, {
      name: NatsNames.versionsBucket,
      schema: VersionRecordSchema,
      groupBy: (version) => version.functionId,
      timeoutMs,
      onChange: (versionId, _before, after) => {
        for (const listener of this.#versionListeners) listener(versionId, after);
      },
    });
    this.apiKeys = new BucketCache(kv.apiKeys, {
      name: NatsNames.apiKeysBucket,
      schema: ApiKeyRecordSchema,
      groupBy: (key) => key.hash,
      timeoutMs,
      onChange: (keyId, _before, after) => {
        for (const listener of this.#keyListeners) listener(keyId, after);
      },
    });
  }

  /**
   * Loads the three copies from fresh watches; the copies are then fresh as of this call's start.
   * @throws what a bucket's load throws (NATS errors, DeadlineExceededError after loadTimeoutMs).
   */
  async load(): Promise<void> {
    const startedMs = Date.now();
    await Promise.all([this.functions.load(), this.versions.load(), this.apiKeys.load()]);
    this.#proveFresh(startedMs);
  }

  /**
   * Calls `listener` for every change of an API key record the copy sees (live, or found by a rebuild
   * after a reconnect): revoked, deleted, re-scoped, created. @returns a function that removes it.
   */
  onApiKeyChange(listener: ApiKeyChangeListener): () => void {
    this.#keyListeners.add(listener);
    return () => this.#keyListeners.delete(listener);
  }

  /**
   * Calls `listener` for every change of a version record the copy sees (live, or found by a rebuild):
   * created, status changed, deleted (undefined). @returns a function that removes it.
   */
  onVersionChange(listener: VersionChangeListener): () => void {
    this.#versionListeners.add(listener);
    return () => this.#versionListeners.delete(listener);
  }

  /**
   * Calls `listener` each time the copies stop being {@link available} (their last freshness proof
   * got older than maxStalenessMs, or the store closed). @returns a function that removes it.
   */
  onUnavailable(listener: () => void): () => void {
    this.#unavailableListeners.add(listener);
    return () => this.#unavailableListeners.delete(listener);
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * True while the copies may serve: not closed, and proven to hold every write made to the buckets
   * more than `maxStalenessMs` ago (a load or a freshness probe at most that long ago).
   */
  get available(): boolean {
    return !this.#closed && this.#freshAsOfMs > 0 && Date.now() - this.#freshAsOfMs <= this.#config.maxStalenessMs;
  }

  /** Epoch ms as of which the copies are proven to hold every write of the buckets (0: never loaded). */
  get freshAsOfMs(): number {
    return this.#freshAsOfMs;
  }

  /**
   * Waits until the copies reflect every write the three buckets held when this call began (their
   * streams' last sequence), at most `timeoutMs`. One catch-up runs at a time. A caller shares one
   * only when it reads the buckets after the caller's miss: the one started in the same turn of the
   * event loop (its requests leave after every message of that turn was read), else the single one
   * queued behind the running one.
   * @param timeoutMs budget, ms.
   * @returns true when caught up; false after the budget or when NATS does not answer (never throws).
   */
  catchUp(timeoutMs: number): Promise<boolean> {
    if (this.#catchUpJoinable !== undefined) return this.#catchUpJoinable;
    if (this.#catchUpRunning === undefined) return this.#startCatchUp(timeoutMs);
    this.#catchUpNext ??= this.#catchUpRunning.then(() => {
      this.#catchUpNext = undefined;
      return this.#startCatchUp(timeoutMs);
    });
    return this.#catchUpNext;
  }

  #startCatchUp(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    const one = async (kv: KV, cache: BucketCache<unknown>) => {
      const status = await withDeadline('catch up', timeoutMs, kv.status());
      return cache.waitForRevision(status.streamInfo.state.last_seq, Math.max(1, deadline - Date.now()));
    };
    const done = Promise.all([
      one(this.#kv.functions, this.functions as BucketCache<unknown>),
      one(this.#kv.versions, this.versions as BucketCache<unknown>),
      one(this.#kv.apiKeys, this.apiKeys as BucketCache<unknown>),
    ]).then(
      (reached) => reached.every(Boolean),
      () => false,
    );
    this.#catchUpRunning = done;
    this.#catchUpJoinable = done;
    setImmediate(() => {
      if (this.#catchUpJoinable === done) this.#catchUpJoinable = undefined;
    });
    void done.then(() => {
      if (this.#catchUpRunning === done) this.#catchUpRunning = undefined;
    });
    return done;
  }

  /**
   * Follows the connection (stale on disconnect, rebuild the copies on reconnect) and starts the
   * freshness probes (every probeIntervalMs; none when it is 0).
   */
  watchConnection(): void {
    void this.#probeLoop();
    const status = this.#nc.status() as AsyncIterable<Status> & { stop?: () => void };
    this.#status = status;
    void (async () => {
      for await (const event of status) {
        if (this.#closed) break;
        if (event.type === 'disconnect') this.#markStale();
        else if (event.type === 'reconnect') this.#resync();
        else if (event.type === 'close') this.#markStale();
      }
    })();
    // A closed connection ends the status iterator without a 'close' event on some paths.
    void this.#nc.closed().then(() => this.#markStale());
  }

  /** Stops the watches and the connection follower, then waits for a running rebuild. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    clearTimeout(this.#probeTimer);
    this.#tellUnavailable();
    this.#status?.stop?.();
    for (const cache of [this.functions, this.versions, this.apiKeys]) cache.stop();
    await this.#resyncing?.catch(() => {});
  }

  #markStale(): void {
    for (const cache of [this.functions, this.versions, this.apiKeys]) cache.markStale();
  }

  /** Records that the copies held every write of the buckets as of `asOfMs`, and re-arms the expiry. */
  #proveFresh(asOfMs: number): void {
    if (this.#closed || asOfMs <= this.#freshAsOfMs) return;
    this.#freshAsOfMs = asOfMs;
    this.#toldUnavailable = false;
    this.#armExpiry();
  }

  /**
   * Tells the unavailable listeners once the last proof is older than maxStalenessMs. A timer may fire
   * a little before Date.now() says the time is up (libuv's loop time, which timers count from, lags
   * the clock after a long turn), so one that finds the copies still fresh re-arms for the rest
   * instead of leaving the expiry untold.
   */
  #armExpiry(): void {
    clearTimeout(this.#expiry);
    if (this.#closed) return;
    this.#expiry = setTimeout(
      () => {
        if (!this.available) this.#tellUnavailable();
        else this.#armExpiry();
      },
      Math.max(0, this.#freshAsOfMs + this.#config.maxStalenessMs - Date.now()) + 1,
    );
    this.#expiry.unref();
  }

  #tellUnavailable(): void {
    if (this.#toldUnavailable) return;
    this.#toldUnavailable = true;
    for (const listener of this.#unavailableListeners) listener();
  }

  /** One freshness probe after another, every probeIntervalMs, until close. */
  async #probeLoop(): Promise<void> {
    const intervalMs = this.#config.probeIntervalMs;
    if (intervalMs === 0) return;
    while (!this.#closed) {
      const startedMs = Date.now();
      const outcome = await this.#probe(Math.min(this.#config.timeoutMs, this.#config.maxStalenessMs));
      if (this.#closed) return;
      if (outcome === 'fresh') this.#proveFresh(startedMs);
      // The buckets answer but the copy does not follow: the watch stopped delivering (a consumer lost
      // in a gateway cut, an ordered consumer that gave up re-creating itself). Rebuild it.
      else if (outcome === 'behind' || !this.#allLive()) this.#resync();
      await new Promise<void>((resolve) => {
        this.#probeTimer = setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - startedMs)));
        this.#probeTimer.unref();
      });
    }
  }

  /**
   * Reads the three buckets' last sequence (stream info, answered by each stream's leader) and waits
   * for the copies to reach it, all within `budgetMs`.
   */
  async #probe(budgetMs: number): Promise<ProbeOutcome> {
    const deadline = Date.now() + budgetMs;
    const pairs = [
      [this.#kv.functions, this.functions],
      [this.#kv.versions, this.versions],
      [this.#kv.apiKeys, this.apiKeys],
    ] as const;
    let lastSeqs: number[];
    try {
      lastSeqs = await Promise.all(
        pairs.map(async ([kv]) => (await withDeadline('probe', budgetMs, kv.status())).streamInfo.state.last_seq),
      );
    } catch {
      return 'unreachable';
    }
    const reached = await Promise.all(
      pairs.map(([, cache], i) =>
        (cache as BucketCache<unknown>).waitForRevision(lastSeqs[i], Math.max(1, deadline - Date.now())),
      ),
    );
    return reached.every(Boolean) ? 'fresh' : 'behind';
  }

  #allLive(): boolean {
    return this.functions.live && this.versions.live && this.apiKeys.live;
  }

  /** Rebuilds the three copies from fresh watches; a reconnect during a rebuild runs another. */
  #resync(): void {
    this.#markStale();
    this.#resyncWanted = true;
    if (this.#resyncing) return;
    this.#resyncing = (async () => {
      let attempt = 0;
      while (this.#resyncWanted && !this.#closed && !this.#nc.isClosed()) {
        this.#resyncWanted = false;
        try {
          await this.load();
          attempt = 0;
        } catch {
          this.#resyncWanted = true;
          await sleep(RESYNC_BACKOFF_MS[Math.min(attempt++, RESYNC_BACKOFF_MS.length - 1)]);
        }
      }
    })().finally(() => {
      this.#resyncing = undefined;
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
