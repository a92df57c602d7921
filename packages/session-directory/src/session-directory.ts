// One region's session directory: the JetStream KV bucket `sessions_<region>`, key = request ID,
// value = SessionRecord JSON. Workers create, refresh and delete their records (W3, S2); proxies
// read them to resume sessions (flow 3, G8, G15). The bucket TTL is the idle TTL of a session: a
// record that nobody refreshes disappears, which is how a dead worker's sessions end.

import { jetstream } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm, KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { isWrongLastSequence, retryWhileUnavailable, toSwitchyardError, withDeadline } from '@switchyard/nats-errors';
import {
  encodeMessage,
  isSwitchyardError,
  isUuid,
  NatsNames,
  type SessionRecord,
  SessionRecordSchema,
  SwitchyardError,
} from '@switchyard/protocol';

/** Default bucket TTL (session idle TTL), ms. */
export const DEFAULT_SESSION_TTL_MS = 60_000;
/** Default budget of one KV operation, ms. */
export const DEFAULT_DIRECTORY_TIMEOUT_MS = 2_000;
/** Default replica count of a session bucket. */
export const DEFAULT_SESSION_REPLICAS = 1;
/** How many record reads `list()` keeps in flight. */
const LIST_CONCURRENCY = 64;

/** Options of {@link SessionDirectory.open}. */
export interface SessionDirectoryOptions {
  /** Region whose bucket to use: `sessions_<region>` (NatsNames.sessionBucket). A NATS token. */
  region: string;
  /** Replicas of the bucket stream when this call creates it (1, 3 or 5). @default 1 */
  replicas?: number;
  /** Placement of the bucket stream when this call creates it (e.g. the region's cluster). */
  placement?: { cluster?: string; tags?: string[] };
  /**
   * Bucket TTL in ms when this call creates it: a record not refreshed for this long is removed by
   * the server. An existing bucket keeps its own TTL, which {@link SessionDirectory.ttlMs} reports.
   * @default 60_000
   */
  ttlMs?: number;
  /** Budget of each KV operation in ms; a slower answer counts as unavailable. @default 2_000 */
  timeoutMs?: number;
  /**
   * Create the bucket when missing (own region). `false` binds without any server round trip, for
   * other regions' buckets, so a region that is down does not block start-up; operations on a
   * bucket that does not exist then fail with SY_DIRECTORY_UNAVAILABLE.
   * @default true
   */
  create?: boolean;
}

/** Resolved, frozen {@link SessionDirectoryOptions}. */
export interface SessionDirectoryConfig {
  readonly region: string;
  readonly bucket: string;
  readonly replicas: number;
  readonly placement: { readonly cluster?: string; readonly tags?: readonly string[] } | undefined;
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly create: boolean;
}

/** A record with the KV revision it was read at (pass it to refresh/delete). */
export interface SessionEntry {
  record: SessionRecord;
  /** KV revision (stream sequence) of this value. */
  revision: number;
}

/** One change seen by {@link SessionDirectory.watch}. */
export interface SessionChange {
  /** `put` for create/refresh, `delete` for delete or purge. TTL expiry produces no event. */
  op: 'put' | 'delete';
  reqId: string;
  /** The new record, for `put`. */
  record?: SessionRecord;
  /** KV revision of the change. */
  revision: number;
}

/** Options of {@link SessionDirectory.watch}. */
export interface SessionWatchOptions {
  /** Also deliver the current records (as `put`) before changes. @default false */
  initial?: boolean;
}

/** Resolves options into a frozen config; throws TypeError for values that cannot work. */
export function resolveSessionDirectoryConfig(options: SessionDirectoryOptions): SessionDirectoryConfig {
  const bucket = NatsNames.sessionBucket(options.region); // throws TypeError for a non-token region
  const replicas = options.replicas ?? DEFAULT_SESSION_REPLICAS;
  const ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_DIRECTORY_TIMEOUT_MS;
  const problems: string[] = [];
  if (![1, 3, 5].includes(replicas)) problems.push(`replicas must be 1, 3 or 5, got ${replicas}`);
  // nats-server refuses a max_age under 100 ms.
  if (!Number.isInteger(ttlMs) || ttlMs < 100) problems.push(`ttlMs must be an integer >= 100, got ${ttlMs}`);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
    problems.push(`timeoutMs must be a positive integer, got ${timeoutMs}`);
  if (problems.length > 0) throw new TypeError(`invalid SessionDirectoryOptions: ${problems.join('; ')}`);
  const placement = options.placement
    ? Object.freeze({
        ...(options.placement.cluster !== undefined ? { cluster: options.placement.cluster } : {}),
        ...(options.placement.tags !== undefined ? { tags: Object.freeze([...options.placement.tags]) } : {}),
      })
    : undefined;
  return Object.freeze({
    region: options.region,
    bucket,
    replicas,
    placement,
    ttlMs,
    timeoutMs,
    create: options.create ?? true,
  });
}

/**
 * Reads and writes one region's session bucket. Every failure to reach NATS in time is
 * SY_DIRECTORY_UNAVAILABLE (with `cause`), never "not found". A stored value that is not a valid
 * SessionRecord is SY_INTERNAL: hiding it as "not found" would end a session that may be live.
 */
export class SessionDirectory {
  /** Region of the bucket. */
  readonly region: string;
  /** Bucket TTL (session idle TTL) in ms: the bucket's own when it already existed. */
  readonly ttlMs: number;
  /** Resolved options. */
  readonly config: SessionDirectoryConfig;
  readonly #kv: KV;
  readonly #watches = new Set<{ stop(): void }>();
  #closed = false;

  private constructor(config: SessionDirectoryConfig, kv: KV, ttlMs: number) {
    this.config = config;
    this.region = config.region;
    this.ttlMs = ttlMs;
    this.#kv = kv;
  }

  /**
   * Opens (and with `create`, creates) the bucket `sessions_<region>`.
   * @throws TypeError for invalid options.
   * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE when NATS/JetStream does not answer in time.
   */
  static async open(nc: NatsConnection, options: SessionDirectoryOptions): Promise<SessionDirectory> {
    const config = resolveSessionDirectoryConfig(options);
    const kvm = new Kvm(jetstream(nc, { timeout: config.timeoutMs }));
    let ttlMs = config.ttlMs;
    if (config.create) {
      try {
        // Idempotent: a create that timed out may have happened; asking again returns the bucket.
        const status = await retryWhileUnavailable(async () => {
          const created = await withDeadline(
            `create bucket ${config.bucket}`,
            config.timeoutMs,
            kvm.create(config.bucket, {
              history: 1,
              ttl: config.ttlMs,
              replicas: config.replicas,
              ...(config.placement
                ? { placement: { cluster: config.placement.cluster ?? '', tags: [...(config.placement.tags ?? [])] } }
                : {}),
              timeout: config.timeoutMs,
            }),
          );
          return withDeadline(`status of ${config.bucket}`, config.timeoutMs, created.status());
        });
        ttlMs = status.ttl;
      } catch (err) {
        throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `opening ${config.bucket}`);
      }
    }
    // Reads go to the stream leader (no direct get): a replica that lags behind a just-acknowledged
    // create would otherwise answer "not found" for a live session.
    const kv = await kvm.open(config.bucket, { allow_direct: false, timeout: config.timeoutMs });
    return new SessionDirectory(config, kv, ttlMs);
  }

  /**
   * Creates the record of a new session under key `record.reqId`. Creating the same record again
   * (the same bytes) answers the stored revision: a create whose reply was lost (it timed out while a
   * NATS server failed over, and the write had landed) can be retried.
   * @returns the KV revision of the record.
   * @throws SwitchyardError SY_SESSION_EXISTS when a live record with that request ID and another value
   *   exists; SY_DIRECTORY_UNAVAILABLE when NATS does not answer in time; SY_INTERNAL for a record that
   *   does not match SessionRecordSchema.
   */
  async create(record: SessionRecord): Promise<number> {
    const bytes = encodeMessage(this.#validated(record));
    try {
      return await this.#op(`create ${record.reqId}`, this.#kv.create(record.reqId, bytes));
    } catch (err) {
      if (!isWrongLastSequence(err))
        throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `create ${record.reqId} in ${this.config.bucket}`);
    }
    const own = await this.#revisionHolding(record.reqId, bytes);
    if (own === undefined) throw new SwitchyardError('SY_SESSION_EXISTS', { detail: `reqId ${record.reqId}` });
    return own;
  }

  /**
   * Reads the record of a session.
   * @returns the record and revision, or null when there is none (never written, deleted, purged,
   *   expired, or `reqId` is not a UUID and so cannot be a key).
   * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE when NATS does not answer within `timeoutMs`
   *   (@default the directory's); SY_INTERNAL when the stored value is not a SessionRecord.
   */
  async get(reqId: string, options: { timeoutMs?: number } = {}): Promise<SessionEntry | null> {
    if (!isUuid(reqId)) return null;
    let entry: KvEntry | null;
    try {
      entry = await this.#op(`get ${reqId}`, this.#kv.get(reqId), options.timeoutMs);
    } catch (err) {
      throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `get ${reqId} from ${this.config.bucket}`);
    }
    if (entry === null || entry.operation !== 'PUT') return null;
    return { record: this.#decode(entry), revision: entry.revision };
  }

  /**
   * Rewrites a record if it is still at `revision`, which also restarts its TTL clock (S2). A record
   * that moved past `revision` but holds exactly the bytes being written is the caller's own earlier
   * refresh whose reply was lost (it timed out while a NATS server failed over, and the write had
   * landed): it is rewritten at its current revision, not a conflict, so a NATS fault never ends a
   * live session. (Only with `record` given: without it, the value at `revision` is gone once the
   * record moved, which is a conflict.)
   * @param record the new value (@default the value read at `revision`, unchanged).
   * @returns the new revision.
   * @throws SwitchyardError SY_SESSION_CONFLICT when the record was deleted, purged, expired or
   *   rewritten with another value since `revision`; SY_DIRECTORY_UNAVAILABLE when NATS does not
   *   answer in time; SY_INTERNAL for a record that does not match SessionRecordSchema or whose reqId
   *   is not `reqId`.
   */
  async refresh(reqId: string, revision: number, record?: SessionRecord): Promise<number> {
    if (!isUuid(reqId)) throw new SwitchyardError('SY_INTERNAL', { detail: 'refresh: reqId is not a UUID' });
    if (!Number.isInteger(revision) || revision <= 0)
      throw new SwitchyardError('SY_SESSION_CONFLICT', { detail: `refresh ${reqId}: revision ${revision}` });
    let value = record;
    if (value === undefined) {
      const current = await this.#getAt(reqId, revision);
      if (current === null) throw new SwitchyardError('SY_SESSION_CONFLICT', { detail: `refresh ${reqId}: gone` });
      value = current;
    }
    if (value.reqId !== reqId)
      throw new SwitchyardError('SY_INTERNAL', { detail: `refresh ${reqId}: record names another reqId` });
    const bytes = encodeMessage(this.#validated(value));
    try {
      return await this.#update(reqId, bytes, revision);
    } catch (err) {
      if (!isSwitchyardError(err, 'SY_SESSION_CONFLICT')) throw err;
    }
    // Moved on since `revision`: by the landed write of a refresh whose reply was lost, or by someone else.
    const own = await this.#revisionHolding(reqId, bytes);
    if (own === undefined)
      throw new SwitchyardError('SY_SESSION_CONFLICT', { detail: `refresh ${reqId} at revision ${revision}` });
    return this.#update(reqId, bytes, own);
  }

  /**
   * The current revision of `reqId` when the record holds exactly `bytes` (a write of the caller's
   * own that landed), else undefined (none, deleted, purged, expired, or another value).
   * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE when NATS does not answer in time.
   */
  async #revisionHolding(reqId: string, bytes: Uint8Array): Promise<number | undefined> {
    let current: KvEntry | null;
    try {
      current = await this.#op(`get ${reqId}`, this.#kv.get(reqId));
    } catch (err) {
      throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `get ${reqId} from ${this.config.bucket}`);
    }
    if (current === null || current.operation !== 'PUT' || !sameBytes(current.value, bytes)) return undefined;
    return current.revision;
  }

  /**
   * `kv.update` at `revision`.
   * @throws SwitchyardError SY_SESSION_CONFLICT (not at `revision`), SY_DIRECTORY_UNAVAILABLE.
   */
  async #update(reqId: string, bytes: Uint8Array, revision: number): Promise<number> {
    try {
      return await this.#op(`refresh ${reqId}`, this.#kv.update(reqId, bytes, revision, this.config.timeoutMs));
    } catch (err) {
      if (isWrongLastSequence(err))
        throw new SwitchyardError('SY_SESSION_CONFLICT', { detail: `refresh ${reqId} at revision ${revision}` });
      throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `refresh ${reqId} in ${this.config.bucket}`);
    }
  }

  /**
   * Deletes a record (a soft delete that watchers see as `delete`). Deleting a missing record is
   * not an error when no revision is given.
   * @param revision when given, delete only if the record is still at this revision.
   * @throws SwitchyardError SY_SESSION_CONFLICT when `revision` is given and no longer current;
   *   SY_DIRECTORY_UNAVAILABLE when NATS does not answer in time.
   */
  async delete(reqId: string, revision?: number): Promise<void> {
    if (!isUuid(reqId)) return;
    try {
      await this.#op(
        `delete ${reqId}`,
        this.#kv.delete(reqId, revision !== undefined ? { previousSeq: revision } : undefined),
      );
    } catch (err) {
      if (isWrongLastSequence(err))
        throw new SwitchyardError('SY_SESSION_CONFLICT', { detail: `delete ${reqId} at revision ${revision}` });
      throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `delete ${reqId} in ${this.config.bucket}`);
    }
  }

  /**
   * Every live record of the bucket (operator listing, S3). Costs one key scan plus one read per
   * record; not for the hot path.
   * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE when NATS does not answer in time (each step
   *   within `timeoutMs`); SY_INTERNAL when a stored value is not a SessionRecord.
   */
  async list(): Promise<SessionRecord[]> {
    const keys: string[] = [];
    try {
      await this.#op(
        'list keys',
        (async () => {
          for await (const key of await this.#kv.keys()) keys.push(key);
        })(),
      );
    } catch (err) {
      throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `list keys of ${this.config.bucket}`);
    }
    const records: SessionRecord[] = [];
    let next = 0;
    const reader = async () => {
      while (next < keys.length) {
        const key = keys[next++];
        const entry = await this.get(key);
        if (entry !== null) records.push(entry.record);
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, keys.length) }, reader));
    return records.sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  /**
   * Live records held by one worker (a restarted worker cleaning up, operators).
   * @throws as {@link SessionDirectory.list}.
   */
  async listByWorker(workerId: string): Promise<SessionRecord[]> {
    return (await this.list()).filter((record) => record.workerId === workerId);
  }

  /**
   * Calls `onChange` for every create, refresh (`put`) and delete/purge (`delete`) from now on
   * (and the current records first with `initial`). Records removed by the bucket TTL produce no
   * event (nats-server 2.10 writes no marker). A value that is not a SessionRecord is skipped. The
   * watch resumes by itself after a reconnect; `stop()` ends it. An exception thrown by `onChange`
   * is not caught here.
   * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE when the watch cannot be started in time.
   */
  async watch(onChange: (event: SessionChange) => void, options: SessionWatchOptions = {}): Promise<{ stop(): void }> {
    let iterator: Awaited<ReturnType<KV['watch']>>;
    try {
      iterator = await this.#op(
        'watch',
        this.#kv.watch({ include: options.initial ? KvWatchInclude.LastValue : KvWatchInclude.UpdatesOnly }),
      );
    } catch (err) {
      throw toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', `watch ${this.config.bucket}`);
    }
    const handle = {
      stop: () => {
        this.#watches.delete(handle);
        iterator.stop();
      },
    };
    this.#watches.add(handle);
    void (async () => {
      for await (const entry of iterator) {
        if (entry.operation === 'PUT') {
          let record: SessionRecord;
          try {
            record = this.#decode(entry);
          } catch {
            continue;
          }
          onChange({ op: 'put', reqId: entry.key, record, revision: entry.revision });
        } else {
          onChange({ op: 'delete', reqId: entry.key, revision: entry.revision });
        }
      }
    })().finally(() => this.#watches.delete(handle));
    return handle;
  }

  /** Stops this directory's watches. Does not close the NATS connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watch of [...this.#watches]) watch.stop();
  }

  async #getAt(reqId: string, revision: number): Promise<SessionRecord | null> {
    let entry: KvEntry | null;
    try {
      entry = await this.#op(`get ${reqId}@${revision}`, this.#kv.get(reqId, { revision }));
    } catch (err) {
      throw toSwitchyardError(
        err,
        'SY_DIRECTORY_UNAVAILABLE',
        `get ${reqId} at ${revision} from ${this.config.bucket}`,
      );
    }
    if (entry === null || entry.operation !== 'PUT' || entry.key !== reqId) return null;
    return this.#decode(entry);
  }

  #op<T>(operation: string, promise: Promise<T>, timeoutMs = this.config.timeoutMs): Promise<T> {
    if (this.#closed) {
      promise.catch(() => {});
      return Promise.reject(new SwitchyardError('SY_INTERNAL', { detail: `${operation}: directory is closed` }));
    }
    return withDeadline(`${this.config.bucket}: ${operation}`, timeoutMs, promise);
  }

  #validated(record: SessionRecord): SessionRecord {
    const parsed = SessionRecordSchema.safeParse(record);
    if (!parsed.success)
      throw new SwitchyardError('SY_INTERNAL', { detail: 'not a valid SessionRecord', cause: parsed.error });
    return parsed.data;
  }

  #decode(entry: KvEntry): SessionRecord {
    let parsed: ReturnType<typeof SessionRecordSchema.safeParse>;
    try {
      parsed = SessionRecordSchema.safeParse(entry.json());
    } catch (err) {
      throw new SwitchyardError('SY_INTERNAL', { detail: `${this.config.bucket}/${entry.key}: not JSON`, cause: err });
    }
    if (!parsed.success)
      throw new SwitchyardError('SY_INTERNAL', {
        detail: `${this.config.bucket}/${entry.key}: not a SessionRecord`,
        cause: parsed.error,
      });
    if (parsed.data.reqId !== entry.key)
      throw new SwitchyardError('SY_INTERNAL', {
        detail: `${this.config.bucket}/${entry.key}: record names another reqId`,
      });
    return parsed.data;
  }
}

/** Whether two byte arrays hold the same bytes. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
