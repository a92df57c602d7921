// The control store's in-process copies of its three buckets, kept fresh by KV watches: stale while
// NATS is away (served for at most maxStalenessMs), rebuilt from fresh watches after a reconnect, and
// brought up to date on demand (catch-up) when a miss might only be lag.

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
  /** Epoch ms since which the watches are broken; undefined while they are live. */
  #staleSinceMs: number | undefined;
  #status: (AsyncIterable<Status> & { stop?: () => void }) | undefined;
  #resyncing: Promise<void> | undefined;
  #resyncWanted = false;
  /** The catch-up reading the buckets now, if any. */
  #catchUpRunning: Promise<boolean> | undefined;
  /** The running catch-up while misses may still join it: until the end of the turn that started it. */
  #catchUpJoinable: Promise<boolean> | undefined;
  /** The one catch-up queued behind the running one, shared by every miss that came meanwhile. */
  #catchUpNext: Promise<boolean> | undefined;
  #connected = true;
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
    });
    this.apiKeys = new BucketCache(kv.apiKeys, {
      name: NatsNames.apiKeysBucket,
      schema: ApiKeyRecordSchema,
      groupBy: (key) => key.hash,
      timeoutMs,
    });
  }

  /**
   * Loads the three copies from fresh watches.
   * @throws what a bucket's load throws (NATS errors, DeadlineExceededError after loadTimeoutMs).
   */
  async load(): Promise<void> {
    await Promise.all([this.functions.load(), this.versions.load(), this.apiKeys.load()]);
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** True while the copies may serve: not closed, and watches live or broken for at most `maxStalenessMs`. */
  get available(): boolean {
    if (this.#closed) return false;
    if (this.#staleSinceMs === undefined) return true;
    return Date.now() - this.#staleSinceMs <= this.#config.maxStalenessMs;
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

  /** Follows the connection: stale on disconnect, rebuild the copies on reconnect. */
  watchConnection(): void {
    const status = this.#nc.status() as AsyncIterable<Status> & { stop?: () => void };
    this.#status = status;
    void (async () => {
      for await (const event of status) {
        if (this.#closed) break;
        if (event.type === 'disconnect') {
          this.#connected = false;
          this.#markStale();
        } else if (event.type === 'reconnect') {
          this.#connected = true;
          this.#resync();
        } else if (event.type === 'close') this.#markStale();
      }
    })();
    // A closed connection ends the status iterator without a 'close' event on some paths.
    void this.#nc.closed().then(() => this.#markStale());
  }

  /** Stops the watches and the connection follower, then waits for a running rebuild. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#status?.stop?.();
    for (const cache of [this.functions, this.versions, this.apiKeys]) cache.stop();
    await this.#resyncing?.catch(() => {});
  }

  #markStale(): void {
    this.#staleSinceMs ??= Date.now();
    for (const cache of [this.functions, this.versions, this.apiKeys]) cache.markStale();
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
          if (!this.#resyncWanted && this.#connected) this.#staleSinceMs = undefined;
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
