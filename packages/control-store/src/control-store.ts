// Functions, versions and API keys (KV buckets ctl_functions, ctl_versions, ctl_api_keys) with an
// in-process copy of each bucket kept fresh by a KV watch, so authorization on the hot path (G1, G2,
// H10, H11) is synchronous and touches no network. Writes go through KV and come back via the watch,
// which is how every process, in every region, sees a revocation within about a second. Options are in
// control-store-config.ts, the checks in control-store-authorize.ts, the watched copies in
// control-store-watch.ts and the records a write builds in control-store-inputs.ts.

import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { isWrongLastSequence, retryWhileUnavailable, toSwitchyardError, withDeadline } from '@switchyard/nats-errors';
import { isUuid, NatsNames, SwitchyardError } from '@switchyard/protocol';
import type { z } from 'zod';
import type { BucketCache } from './bucket-cache.ts';
import {
  type Authorization,
  type AuthorizationReads,
  type AuthorizeInput,
  authorizeWith,
  isLagExplainable,
} from './control-store-authorize.ts';
import {
  type ControlStoreConfig,
  type ControlStoreOptions,
  resolveControlStoreConfig,
} from './control-store-config.ts';
import {
  type CreateApiKeyInput,
  type CreateFunctionInput,
  hashApiKey,
  newApiKey,
  newFunctionRecord,
  newVersionRecord,
} from './control-store-inputs.ts';
import {
  type ApiKeyChangeListener,
  type ControlBuckets,
  ControlCopies,
  type VersionChangeListener,
} from './control-store-watch.ts';
import {
  type ApiKeyRecord,
  ApiKeyRecordSchema,
  type FunctionRecord,
  type VersionRecord,
  VersionRecordSchema,
} from './records.ts';

const CAS_ATTEMPTS = 5;

/** API keys whose hash {@link ControlStore.authenticate} keeps at most. */
const KEY_HASHES_MAX = 1024;

/**
 * The control data of the whole deployment, read from a watched in-process copy. Reads are
 * synchronous; writes are async and resolve once this store's copy reflects them (or after
 * `timeoutMs` if the watch lags), so a caller reads its own writes.
 */
export class ControlStore {
  /** Resolved options. */
  readonly config: ControlStoreConfig;
  readonly #kv: ControlBuckets;
  readonly #copies: ControlCopies;
  /** SHA-256 of API keys seen lately (a hash per request was a measurable share of a front end's CPU). */
  readonly #keyHashes = new Map<string, string>();
  /** What `authorize` checks against: this store's cached reads. */
  readonly #reads: AuthorizationReads;

  private constructor(nc: NatsConnection, config: ControlStoreConfig, kv: ControlBuckets) {
    this.config = config;
    this.#kv = kv;
    this.#copies = new ControlCopies(nc, kv, config);
    const copies = this.#copies;
    this.#reads = {
      get available() {
        return copies.available;
      },
      authenticate: (apiKey) => this.authenticate(apiKey),
      getFunction: (functionId) => this.getFunction(functionId),
      getVersion: (versionId) => this.getVersion(versionId),
      versionsOf: (functionId) => copies.versions.group(functionId),
    };
  }

  /**
   * Opens (with `create`, creates) the three buckets, starts their watches and resolves after the
   * initial load. Watches are rebuilt by themselves after every reconnect.
   * @throws TypeError for invalid options.
   * @throws SwitchyardError SY_CONTROL_UNAVAILABLE when NATS/JetStream does not answer in time.
   */
  static async open(nc: NatsConnection, options: ControlStoreOptions = {}): Promise<ControlStore> {
    const config = resolveControlStoreConfig(options);
    const kvm = new Kvm(jetstream(nc, { timeout: config.timeoutMs }));
    // Creating is idempotent (a timed-out create may have happened), so it is asked again while
    // JetStream cannot answer; opening is not retried here (the watches recover by themselves).
    const openBucket = (name: string) =>
      config.create
        ? retryWhileUnavailable(() =>
            withDeadline(
              `create ${name}`,
              config.timeoutMs,
              kvm.create(name, { history: 1, replicas: config.replicas, timeout: config.timeoutMs }),
            ),
          )
        : withDeadline(`open ${name}`, config.timeoutMs, kvm.open(name, { timeout: config.timeoutMs }));
    let store: ControlStore;
    try {
      const [functions, versions, apiKeys] = await Promise.all([
        openBucket(NatsNames.functionsBucket),
        openBucket(NatsNames.versionsBucket),
        openBucket(NatsNames.apiKeysBucket),
      ]);
      store = new ControlStore(nc, config, { functions, versions, apiKeys });
      await store.#copies.load();
    } catch (err) {
      throw toSwitchyardError(err, 'SY_CONTROL_UNAVAILABLE', 'opening the control buckets');
    }
    store.#copies.watchConnection();
    return store;
  }

  // ---- cached, synchronous reads (hot path) ----

  /** The function, or undefined when unknown. */
  getFunction(functionId: string): FunctionRecord | undefined {
    return this.#copies.functions.get(functionId);
  }

  /** The version, or undefined when unknown. */
  getVersion(versionId: string): VersionRecord | undefined {
    return this.#copies.versions.get(versionId);
  }

  /** Every version of a function (any status), oldest first. */
  versionsOf(functionId: string): VersionRecord[] {
    return [...this.#copies.versions.group(functionId)].sort(byCreatedAt);
  }

  /** Every version of every function (any status), in no particular order. */
  listVersions(): VersionRecord[] {
    return [...this.#copies.versions.values()];
  }

  /** The record of a valid key; undefined for an unknown or revoked key. */
  authenticate(apiKey: string): ApiKeyRecord | undefined {
    let hash = this.#keyHashes.get(apiKey);
    if (hash === undefined) {
      hash = hashApiKey(apiKey);
      // Bounded: cleared whole when full (unknown keys sent at random cannot grow it).
      if (this.#keyHashes.size >= KEY_HASHES_MAX) this.#keyHashes.clear();
      this.#keyHashes.set(apiKey, hash);
    }
    for (const record of this.#copies.apiKeys.group(hash)) if (record.revokedAtMs === undefined) return record;
    return undefined;
  }

  /** The record of API key `keyId` (revoked or not), or undefined when unknown. */
  getApiKey(keyId: string): ApiKeyRecord | undefined {
    return this.#copies.apiKeys.get(keyId);
  }

  /** Functions, oldest first, optionally of one account only. */
  listFunctions(accountId?: string): FunctionRecord[] {
    return [
      ...(accountId === undefined ? this.#copies.functions.values() : this.#copies.functions.group(accountId)),
    ].sort(byCreatedAt);
  }

  /** API key records (revoked ones included), oldest first, optionally of one account only. */
  listApiKeys(accountId?: string): ApiKeyRecord[] {
    return [...this.#copies.apiKeys.values()]
      .filter((k) => accountId === undefined || k.accountId === accountId)
      .sort(byCreatedAt);
  }

  /**
   * True while the cache may serve `authorize`: proven, by its load or a freshness probe at most
   * `maxStalenessMs` ago, to hold every write made to the buckets before that proof.
   */
  get available(): boolean {
    return this.#copies.available;
  }

  /**
   * Calls `listener(keyId, record)` for every change of an API key record this copy sees, live or found
   * by a rebuild after a reconnect (revoked, deleted, re-scoped, created); `record` is the new one,
   * undefined when deleted. Within about a second of the write in every region whose watch is live.
   * @returns a function that removes the listener.
   */
  onApiKeyChange(listener: ApiKeyChangeListener): () => void {
    return this.#copies.onApiKeyChange(listener);
  }

  /**
   * Calls `listener(versionId, record)` for every change of a version record this copy sees, live or
   * found by a rebuild after a reconnect: created, status changed, or deleted (record undefined).
   * Metrics use it to initialise the labels of a newly deployed version.
   * @returns a function that removes the listener.
   */
  onVersionChange(listener: VersionChangeListener): () => void {
    return this.#copies.onVersionChange(listener);
  }

  /**
   * Calls `listener` each time this store stops being {@link available}: its last freshness proof got
   * older than `maxStalenessMs` (NATS or the buckets' home region unreachable, a watch that stopped
   * delivering), or the store closed. A revocation made meanwhile may be unknown here, so a front end
   * ends its open calls then (`OpenCalls`).
   * @returns a function that removes the listener.
   */
  onUnavailable(listener: () => void): () => void {
    return this.#copies.onUnavailable(listener);
  }

  /**
   * The contract's checks, in order (G1, G2, H10, H11):
   * 1. `authorization` absent or not `Bearer <key>` -> SY_AUTH_MISSING;
   * 2. the cache cannot be trusted (closed, not proven fresh for longer than `maxStalenessMs`) -> SY_CONTROL_UNAVAILABLE;
   * 3. key unknown or revoked -> SY_AUTH_INVALID;
   * 4. functionId absent -> SY_FUNCTION_ID_MISSING; not a UUID -> SY_FUNCTION_ID_INVALID;
   * 5. versionId given but not a UUID -> SY_VERSION_ID_INVALID;
   * 6. function unknown or of another account than the key's -> SY_FUNCTION_NOT_FOUND;
   * 7. key not scoped to the function -> SY_AUTH_FORBIDDEN;
   * 8. versionId given: unknown, of another function, or not deployed -> SY_VERSION_NOT_FOUND;
   *    none given: a deployed version picked at random (spreads load, H11); none -> SY_NO_DEPLOYED_VERSION.
   * @throws SwitchyardError with the codes above.
   */
  authorize(input: AuthorizeInput): Authorization {
    return authorizeWith(this.#reads, input);
  }

  /**
   * Like {@link authorize}, but an answer that a lagging copy could explain (unknown key, function
   * or version; key not scoped to the function) is given only after the copy caught up with the
   * buckets ({@link catchUp}): a key created a moment ago through any region's API works at once.
   * A hit costs no network; a miss costs one stream info per bucket, shared with misses of the same
   * moment ({@link catchUp}).
   * @throws SwitchyardError with the codes of {@link authorize}.
   */
  async authorizeFresh(input: AuthorizeInput): Promise<Authorization> {
    try {
      return this.authorize(input);
    } catch (err) {
      if (!isLagExplainable(err)) throw err;
      if (!(await this.catchUp())) throw err;
      return this.authorize(input);
    }
  }

  /**
   * Like {@link authenticate}, but an unknown key is looked up again after {@link catchUp}.
   * @returns the record of a valid key; undefined for an unknown or revoked key.
   */
  async authenticateFresh(apiKey: string): Promise<ApiKeyRecord | undefined> {
    const key = this.authenticate(apiKey);
    if (key !== undefined || !(await this.catchUp())) return key;
    return this.authenticate(apiKey);
  }

  /**
   * Waits until the in-process copy reflects every write the three buckets held when this call began
   * (their streams' last sequence), at most `timeoutMs`. One catch-up runs at a time. A caller shares
   * one only when it reads the buckets after the caller's miss: the one started in the same turn of
   * the event loop (its requests leave after every message of that turn was read), else the single
   * one queued behind the running one.
   * @param timeoutMs budget, ms. @default config.timeoutMs
   * @returns true when caught up; false after the budget or when NATS does not answer (never throws).
   */
  catchUp(timeoutMs: number = this.config.timeoutMs): Promise<boolean> {
    return this.#copies.catchUp(timeoutMs);
  }

  // ---- writes (through KV) ----

  /**
   * Creates a function and a first deployed version of it.
   * @throws TypeError for invalid input; SwitchyardError SY_CONTROL_UNAVAILABLE when NATS does not
   *   answer in time.
   */
  async createFunction(input: CreateFunctionInput): Promise<{ fn: FunctionRecord; version: VersionRecord }> {
    const fn = newFunctionRecord(input);
    await this.#write(
      this.#copies.functions,
      () => this.#kv.functions.create(fn.functionId, JSON.stringify(fn)),
      'create function',
    );
    const version = await this.#putVersion(fn);
    return { fn, version };
  }

  /**
   * Adds a deployed version to a function.
   * @throws SwitchyardError SY_FUNCTION_NOT_FOUND for an unknown function; SY_CONTROL_UNAVAILABLE.
   */
  async createVersion(functionId: string): Promise<VersionRecord> {
    const fn = this.getFunction(functionId);
    if (fn === undefined) throw new SwitchyardError('SY_FUNCTION_NOT_FOUND', { detail: functionId });
    return this.#putVersion(fn);
  }

  /**
   * Deletes a function and all its versions (versions first, so no version outlives its function).
   * @throws SwitchyardError SY_FUNCTION_NOT_FOUND for an unknown function; SY_CONTROL_UNAVAILABLE.
   */
  async deleteFunction(functionId: string): Promise<void> {
    if (this.getFunction(functionId) === undefined)
      throw new SwitchyardError('SY_FUNCTION_NOT_FOUND', { detail: functionId });
    for (const version of this.versionsOf(functionId)) await this.deleteVersion(version.versionId);
    await this.#write(
      this.#copies.functions,
      async () => {
        await this.#kv.functions.delete(functionId);
        return (await this.#kv.functions.status()).streamInfo.state.last_seq;
      },
      'delete function',
    );
  }

  /**
   * Deletes one version.
   * @throws SwitchyardError SY_VERSION_NOT_FOUND for an unknown version; SY_CONTROL_UNAVAILABLE.
   */
  async deleteVersion(versionId: string): Promise<void> {
    if (this.getVersion(versionId) === undefined)
      throw new SwitchyardError('SY_VERSION_NOT_FOUND', { detail: versionId });
    await this.#write(
      this.#copies.versions,
      async () => {
        await this.#kv.versions.delete(versionId);
        return (await this.#kv.versions.status()).streamInfo.state.last_seq;
      },
      'delete version',
    );
  }

  /**
   * Creates an API key. The key string (`sy_` + base64url of 32 random bytes) is returned once and
   * never stored: only its sha256 is.
   * @throws TypeError for invalid input (e.g. a function ID that is not a UUID);
   *   SwitchyardError SY_CONTROL_UNAVAILABLE.
   */
  async createApiKey(input: CreateApiKeyInput): Promise<{ key: string; record: ApiKeyRecord }> {
    const { key, record } = newApiKey(input);
    await this.#write(
      this.#copies.apiKeys,
      () => this.#kv.apiKeys.create(record.keyId, JSON.stringify(record)),
      'create API key',
    );
    return { key, record };
  }

  /**
   * Revokes a key (sets `revokedAtMs`; idempotent). Every ControlStore sees it through its watch,
   * within about a second.
   * @throws SwitchyardError SY_API_KEY_NOT_FOUND for an unknown keyId; SY_CONTROL_UNAVAILABLE.
   */
  async revokeApiKey(keyId: string): Promise<void> {
    await this.#modify(
      this.#kv.apiKeys,
      this.#copies.apiKeys,
      ApiKeyRecordSchema,
      keyId,
      'SY_API_KEY_NOT_FOUND',
      (record) => (record.revokedAtMs === undefined ? { ...record, revokedAtMs: Date.now() } : undefined),
    );
  }

  /**
   * Deploys or undeploys a version (an inactive version is never picked, and naming it is
   * SY_VERSION_NOT_FOUND). Idempotent.
   * @throws SwitchyardError SY_VERSION_NOT_FOUND for an unknown version; SY_CONTROL_UNAVAILABLE.
   */
  async setVersionStatus(versionId: string, status: VersionRecord['status']): Promise<VersionRecord> {
    return this.#modify(
      this.#kv.versions,
      this.#copies.versions,
      VersionRecordSchema,
      versionId,
      'SY_VERSION_NOT_FOUND',
      (v) => (v.status === status ? undefined : { ...v, status }),
    );
  }

  /**
   * Resolves once this store's copy reflects everything written to the three buckets so far (as
   * of this call), e.g. in tests or after an administrative change made elsewhere.
   * @returns whether that happened within `timeoutMs` (@default the store's `timeoutMs`).
   * @throws SwitchyardError SY_CONTROL_UNAVAILABLE when NATS does not answer in time.
   */
  async sync(timeoutMs = this.config.timeoutMs): Promise<boolean> {
    const caches = [
      [this.#copies.functions, this.#kv.functions],
      [this.#copies.versions, this.#kv.versions],
      [this.#copies.apiKeys, this.#kv.apiKeys],
    ] as const;
    const results = await Promise.all(
      caches.map(async ([cache, kv]) => {
        const lastSeq = (await this.#call('status', () => kv.status())).streamInfo.state.last_seq;
        return cache.waitForRevision(lastSeq, timeoutMs);
      }),
    );
    return results.every(Boolean);
  }

  /** Stops the watches. Does not close the NATS connection. Idempotent. */
  async close(): Promise<void> {
    await this.#copies.close();
  }

  async #putVersion(fn: FunctionRecord): Promise<VersionRecord> {
    const version = newVersionRecord(fn);
    await this.#write(
      this.#copies.versions,
      () => this.#kv.versions.create(version.versionId, JSON.stringify(version)),
      'create version',
    );
    return version;
  }

  /**
   * Read-modify-write of one record against the server's value (not the cache), retried when
   * another writer got in between. `change` returns undefined when there is nothing to change.
   */
  async #modify<T>(
    kv: KV,
    cache: BucketCache<T>,
    schema: z.ZodType<T>,
    key: string,
    notFound: 'SY_API_KEY_NOT_FOUND' | 'SY_VERSION_NOT_FOUND',
    change: (current: T) => T | undefined,
  ): Promise<T> {
    if (!isUuid(key)) throw new SwitchyardError(notFound, { detail: key });
    for (let attempt = 1; ; attempt++) {
      const entry = await this.#call(`read ${key}`, () => kv.get(key));
      if (entry === null || entry.operation !== 'PUT') throw new SwitchyardError(notFound, { detail: key });
      const current = schema.safeParse(entry.json());
      if (!current.success)
        throw new SwitchyardError('SY_INTERNAL', { detail: `corrupt record ${key}`, cause: current.error });
      const next = change(current.data);
      if (next === undefined) {
        await cache.waitForRevision(entry.revision, this.config.timeoutMs);
        return current.data;
      }
      try {
        await this.#write(cache, () => kv.update(key, JSON.stringify(next), entry.revision), `update ${key}`);
        return next;
      } catch (err) {
        const conflict = err instanceof SwitchyardError && isWrongLastSequence(err.cause);
        if (!conflict || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }

  /** Runs a KV write that returns its revision, then waits for this store's copy to reflect it. */
  async #write<T>(cache: BucketCache<T>, write: () => Promise<number>, what: string): Promise<void> {
    const revision = await this.#call(what, write);
    await cache.waitForRevision(revision, this.config.timeoutMs);
  }

  async #call<R>(what: string, operation: () => Promise<R>): Promise<R> {
    if (this.#copies.closed)
      throw new SwitchyardError('SY_CONTROL_UNAVAILABLE', { detail: `${what}: store is closed` });
    try {
      return await withDeadline(what, this.config.timeoutMs, operation());
    } catch (err) {
      throw toSwitchyardError(err, 'SY_CONTROL_UNAVAILABLE', what);
    }
  }
}

function byCreatedAt(a: { createdAtMs: number }, b: { createdAtMs: number }): number {
  return a.createdAtMs - b.createdAtMs;
}
