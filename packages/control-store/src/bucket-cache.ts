// An in-process copy of one control bucket, fed by a KV watch (current values, then updates), so the
// hot path reads a Map. After a reconnect the copy is rebuilt from a fresh watch and swapped in whole:
// changes made while this process was cut off (including deletes) are never missed.

import type { KV, KvWatchEntry } from '@nats-io/kv';
import { KvWatchInclude } from '@nats-io/kv';
import { withDeadline } from '@switchyard/nats-errors';
import type { z } from 'zod';

/** Options of a {@link BucketCache}. */
export interface BucketCacheOptions<T> {
  /** Bucket name, for error details. */
  name: string;
  /** Schema of a value; a value that fails it is left out of the cache. */
  schema: z.ZodType<T>;
  /** Secondary index: values grouped by this key (e.g. versions by functionId). */
  groupBy?: (value: T) => string;
  /** Budget of each server round trip of a (re)load, ms. */
  timeoutMs: number;
  /**
   * Called after a value of the copy changed: `before` and `after` are the old and new values
   * (undefined: absent, deleted or invalid). Live updates call it once per watch entry; a rebuild
   * (after a reconnect) calls it for every key whose value differs between the old and the new copy.
   * The first load calls nothing. Must not throw.
   */
  onChange?: (key: string, before: T | undefined, after: T | undefined) => void;
}

type Snapshot<T> = { values: Map<string, T>; groups: Map<string, Map<string, T>> };

/**
 * The watched copy of one bucket. `load()` resolves once the current values are in; afterwards
 * updates apply as they arrive. `resync()` rebuilds from scratch (after a reconnect).
 */
export class BucketCache<T> {
  readonly #kv: KV;
  readonly #options: BucketCacheOptions<T>;
  #snapshot: Snapshot<T> = { values: new Map(), groups: new Map() };
  #generation = 0;
  #iterator: Awaited<ReturnType<KV['watch']>> | undefined;
  /** Highest KV revision applied to the current snapshot. */
  #revision = 0;
  #loaded = false;
  #live = false;
  #waiters: { revision: number; resolve: () => void }[] = [];
  /** Values left out because they failed the schema (diagnostics). */
  invalidValues = 0;

  constructor(kv: KV, options: BucketCacheOptions<T>) {
    this.#kv = kv;
    this.#options = options;
  }

  /** True once a first load completed (the cache may serve, possibly stale). */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** True while the current watch has completed its load and has not been abandoned. */
  get live(): boolean {
    return this.#live;
  }

  /** Highest KV revision reflected in the cache. */
  get revision(): number {
    return this.#revision;
  }

  get(key: string): T | undefined {
    return this.#snapshot.values.get(key);
  }

  values(): IterableIterator<T> {
    return this.#snapshot.values.values();
  }

  group(groupKey: string): Iterable<T> {
    return this.#snapshot.groups.get(groupKey)?.values() ?? [];
  }

  /**
   * Starts a fresh watch and resolves once its current values are loaded and swapped in; the
   * previous watch (if any) is abandoned.
   * @throws the nats.js error (or DeadlineExceededError) when the server does not answer in time.
   */
  async load(): Promise<void> {
    const generation = ++this.#generation;
    this.#live = false;
    this.#iterator?.stop();
    this.#iterator = undefined;
    const { timeoutMs, name } = this.#options;
    // An empty bucket delivers nothing, so ask first whether there is anything to wait for.
    const status = await withDeadline(`status of ${name}`, timeoutMs, this.#kv.status());
    if (generation !== this.#generation) return;
    const iterator = await withDeadline(
      `watch ${name}`,
      timeoutMs,
      this.#kv.watch({ include: KvWatchInclude.LastValue }),
    );
    if (generation !== this.#generation) {
      iterator.stop();
      return;
    }
    this.#iterator = iterator;
    const next: Snapshot<T> = { values: new Map(), groups: new Map() };
    let nextRevision = 0;
    let markLoaded!: () => void;
    const loadedNow = new Promise<void>((resolve) => {
      markLoaded = resolve;
    });
    let loading = true;
    const swapIn = () => {
      loading = false;
      const previous = this.#snapshot;
      this.#snapshot = next;
      if (this.#loaded) this.#diff(previous, next);
      this.#revision = Math.max(this.#revision, nextRevision);
      this.#loaded = true;
      this.#live = true;
      this.#wake();
      markLoaded();
    };
    if (status.values === 0) swapIn();
    void (async () => {
      for await (const entry of iterator) {
        if (generation !== this.#generation) break;
        if (loading) {
          this.#apply(next, entry);
          nextRevision = Math.max(nextRevision, entry.revision);
          // delta = messages still pending for this watch: 0 means the current values are all in.
          if (entry.delta === 0) swapIn();
        } else {
          const before = this.#snapshot.values.get(entry.key);
          this.#apply(this.#snapshot, entry);
          this.#revision = Math.max(this.#revision, entry.revision);
          this.#options.onChange?.(entry.key, before, this.#snapshot.values.get(entry.key));
          this.#wake();
        }
      }
      // The iterator ended without being replaced: the copy is no longer kept fresh.
      if (generation === this.#generation) this.#live = false;
    })();
    await withDeadline(`initial load of ${name}`, timeoutMs, loadedNow).catch((err: unknown) => {
      if (generation === this.#generation) {
        iterator.stop();
        this.#iterator = undefined;
      }
      throw err;
    });
  }

  /** Marks the copy as not kept fresh (connection lost); it keeps serving its last values. */
  markStale(): void {
    this.#live = false;
  }

  /**
   * Resolves once the cache reflects KV revision `revision` (a write of this process), or after
   * `timeoutMs` when the watch lags or is down. Returns whether the revision was reached.
   */
  waitForRevision(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.#revision >= revision) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Stops the watch; the cache keeps its values but is no longer live. */
  stop(): void {
    this.#generation++;
    this.#live = false;
    this.#iterator?.stop();
    this.#iterator = undefined;
    for (const waiter of this.#waiters) waiter.resolve();
    this.#waiters = [];
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const ready = this.#waiters.filter((w) => w.revision <= this.#revision);
    this.#waiters = this.#waiters.filter((w) => w.revision > this.#revision);
    for (const waiter of ready) waiter.resolve();
  }

  /** Reports every key whose value differs between two copies (a rebuild) to `onChange`. */
  #diff(before: Snapshot<T>, after: Snapshot<T>): void {
    const onChange = this.#options.onChange;
    if (!onChange) return;
    for (const [key, old] of before.values) {
      const now = after.values.get(key);
      if (now === undefined || JSON.stringify(now) !== JSON.stringify(old)) onChange(key, old, now);
    }
    for (const [key, now] of after.values) if (!before.values.has(key)) onChange(key, undefined, now);
  }

  #apply(snapshot: Snapshot<T>, entry: KvWatchEntry): void {
    const previous = snapshot.values.get(entry.key);
    if (previous !== undefined) {
      snapshot.values.delete(entry.key);
      this.#ungroup(snapshot, entry.key, previous);
    }
    if (entry.operation !== 'PUT') return;
    let value: T;
    try {
      const parsed = this.#options.schema.safeParse(entry.json());
      if (!parsed.success) {
        this.invalidValues++;
        return;
      }
      value = parsed.data;
    } catch {
      this.invalidValues++;
      return;
    }
    snapshot.values.set(entry.key, value);
    const groupBy = this.#options.groupBy;
    if (groupBy) {
      const groupKey = groupBy(value);
      let group = snapshot.groups.get(groupKey);
      if (!group) {
        group = new Map();
        snapshot.groups.set(groupKey, group);
      }
      group.set(entry.key, value);
    }
  }

  #ungroup(snapshot: Snapshot<T>, key: string, value: T): void {
    const groupBy = this.#options.groupBy;
    if (!groupBy) return;
    const groupKey = groupBy(value);
    const group = snapshot.groups.get(groupKey);
    group?.delete(key);
    if (group?.size === 0) snapshot.groups.delete(groupKey);
  }
}
