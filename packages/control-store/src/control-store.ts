// Functions, versions and API keys (KV buckets ctl_functions, ctl_versions, ctl_api_keys) with an
// in-process copy of each bucket kept fresh by a KV watch, so authorization on the hot path (G1, G2,
// H10, H11) is synchronous and touches no network. Writes go through KV and come back via the watch,
// which is how every process, in every region, sees a revocation within about a second.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection, Status } from '@nats-io/nats-core';
import { isWrongLastSequence, toSwitchyardError, withDeadline } from '@switchyard/nats-errors';
import { isUuid, NatsNames, SwitchyardError } from '@switchyard/protocol';
import type { z } from 'zod';
import { BucketCache } from './bucket-cache.ts';
import {
  type ApiKeyRecord,
  ApiKeyRecordSchema,
  type FunctionRecord,
  FunctionRecordSchema,
  type VersionRecord,
  VersionRecordSchema,
} from './records.ts';

/** Default budget of one KV operation, ms. */
export const DEFAULT_CONTROL_TIMEOUT_MS = 2_000;
/** Default budget of the initial load of the three buckets, ms. */
export const DEFAULT_CONTROL_LOAD_TIMEOUT_MS = 10_000;
/** Default time the cache keeps serving after its watch broke, ms. */
export const DEFAULT_CONTROL_MAX_STALENESS_MS = 10_000;
/** Default replica count of the control buckets. */
export const DEFAULT_CONTROL_REPLICAS = 1;
/** Prefix of every API key string. */
export const API_KEY_PREFIX = 'sy_';

const BEARER = /^bearer +(\S+) *$/i;
/**
 * Codes `authorize` may answer from a copy that has not yet seen a write made moments ago elsewhere
 * (a key created through the API of another region, say): worth one catch-up before answering.
 */
const MISS_CODES: ReadonlySet<string> = new Set([
  'SY_AUTH_INVALID',
  'SY_AUTH_FORBIDDEN',
  'SY_FUNCTION_NOT_FOUND',
  'SY_VERSION_NOT_FOUND',
  'SY_NO_DEPLOYED_VERSION',
]);
const RESYNC_BACKOFF_MS = [100, 250, 500, 1_000, 2_000] as const;
const CAS_ATTEMPTS = 5;

/** Options of {@link ControlStore.open}. */
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
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly create: boolean;
  readonly loadTimeoutMs: number;
  readonly maxStalenessMs: number;
}

/** Input of {@link ControlStore.createFunction}. */
export interface CreateFunctionInput {
  accountId: string;
  name: string;
  kind: 'grpc' | 'http';
  /** Path of the container's inference endpoint. @default '/' */
  inferenceUrl?: string;
  /** Per-function reconnect window (S1), ms. @default undefined (service default) */
  reconnectWindowMs?: number;
  /** @default undefined (service default) */
  spillPolicy?: 'local-only' | 'spill-over';
}

/** Input of {@link ControlStore.createApiKey}. */
export interface CreateApiKeyInput {
  accountId: string;
  /** Function IDs the key may invoke, or '*' for every function of the account. @default '*' */
  functions?: string[] | '*';
  description?: string;
}

/** Input of {@link ControlStore.authorize}: raw values from metadata or headers. */
export interface AuthorizeInput {
  /** `authorization` value: `Bearer <key>` (scheme case-insensitive). */
  authorization: string | undefined;
  /** `function-id`; empty counts as absent. */
  functionId: string | undefined;
  /** `function-version-id`; empty counts as absent. */
  versionId: string | undefined;
}

/** What {@link ControlStore.authorize} resolved. */
export interface Authorization {
  key: ApiKeyRecord;
  fn: FunctionRecord;
  version: VersionRecord;
}

/** Resolves options into a frozen config; throws TypeError listing every bad value. */
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

/** Lowercase hex sha256 of an API key string, as stored in ApiKeyRecord.hash. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/**
 * The control data of the whole deployment, read from a watched in-process copy. Reads are
 * synchronous; writes are async and resolve once this store's copy reflects them (or after
 * `timeoutMs` if the watch lags), so a caller reads its own writes.
 */
export class ControlStore {
  /** Resolved options. */
  readonly config: ControlStoreConfig;
  readonly #nc: NatsConnection;
  readonly #kv: { functions: KV; versions: KV; apiKeys: KV };
  readonly #functions: BucketCache<FunctionRecord>;
  readonly #versions: BucketCache<VersionRecord>;
  readonly #apiKeys: BucketCache<ApiKeyRecord>;
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

  private constructor(
    nc: NatsConnection,
    config: ControlStoreConfig,
    kv: { functions: KV; versions: KV; apiKeys: KV },
  ) {
    this.#nc = nc;
    this.config = config;
    this.#kv = kv;
    const timeoutMs = config.loadTimeoutMs;
    this.#functions = new BucketCache(kv.functions, {
      name: NatsNames.functionsBucket,
      schema: FunctionRecordSchema,
      groupBy: (fn) => fn.accountId,
      timeoutMs,
    });
    this.#versions = new BucketCache(kv.versions, {
      name: NatsNames.versionsBucket,
      schema: VersionRecordSchema,
      groupBy: (version) => version.functionId,
      timeoutMs,
    });
    this.#apiKeys = new BucketCache(kv.apiKeys, {
      name: NatsNames.apiKeysBucket,
      schema: ApiKeyRecordSchema,
      groupBy: (key) => key.hash,
      timeoutMs,
    });
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
    const openBucket = (name: string) =>
      withDeadline(
        `open ${name}`,
        config.timeoutMs,
        config.create
          ? kvm.create(name, { history: 1, replicas: config.replicas, timeout: config.timeoutMs })
          : kvm.open(name, { timeout: config.timeoutMs }),
      );
    let store: ControlStore;
    try {
      const [functions, versions, apiKeys] = await Promise.all([
        openBucket(NatsNames.functionsBucket),
        openBucket(NatsNames.versionsBucket),
        openBucket(NatsNames.apiKeysBucket),
      ]);
      store = new ControlStore(nc, config, { functions, versions, apiKeys });
      await Promise.all([store.#functions.load(), store.#versions.load(), store.#apiKeys.load()]);
    } catch (err) {
      throw toSwitchyardError(err, 'SY_CONTROL_UNAVAILABLE', 'opening the control buckets');
    }
    store.#watchConnection();
    return store;
  }

  // ---- cached, synchronous reads (hot path) ----

  /** The function, or undefined when unknown. */
  getFunction(functionId: string): FunctionRecord | undefined {
    return this.#functions.get(functionId);
  }

  /** The version, or undefined when unknown. */
  getVersion(versionId: string): VersionRecord | undefined {
    return this.#versions.get(versionId);
  }

  /** Every version of a function (any status), oldest first. */
  versionsOf(functionId: string): VersionRecord[] {
    return [...this.#versions.group(functionId)].sort(byCreatedAt);
  }

  /** The record of a valid key; undefined for an unknown or revoked key. */
  authenticate(apiKey: string): ApiKeyRecord | undefined {
    for (const record of this.#apiKeys.group(hashApiKey(apiKey))) if (record.revokedAtMs === undefined) return record;
    return undefined;
  }

  /** Functions, oldest first, optionally of one account only. */
  listFunctions(accountId?: string): FunctionRecord[] {
    return [...(accountId === undefined ? this.#functions.values() : this.#functions.group(accountId))].sort(
      byCreatedAt,
    );
  }

  /** API key records (revoked ones included), oldest first, optionally of one account only. */
  listApiKeys(accountId?: string): ApiKeyRecord[] {
    return [...this.#apiKeys.values()]
      .filter((k) => accountId === undefined || k.accountId === accountId)
      .sort(byCreatedAt);
  }

  /**
   * True while the cache may serve `authorize`: loaded, and its watches live or broken for at most
   * `maxStalenessMs`.
   */
  get available(): boolean {
    if (this.#closed) return false;
    if (this.#staleSinceMs === undefined) return true;
    return Date.now() - this.#staleSinceMs <= this.config.maxStalenessMs;
  }

  /**
   * The contract's checks, in order (G1, G2, H10, H11):
   * 1. `authorization` absent or not `Bearer <key>` -> SY_AUTH_MISSING;
   * 2. the cache cannot be trusted (closed, watch broken longer than `maxStalenessMs`) -> SY_CONTROL_UNAVAILABLE;
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
    const match = input.authorization === undefined ? null : BEARER.exec(input.authorization);
    if (match === null) throw new SwitchyardError('SY_AUTH_MISSING');
    if (!this.available)
      throw new SwitchyardError('SY_CONTROL_UNAVAILABLE', { detail: 'control data watch is not live' });
    const key = this.authenticate(match[1]);
    if (key === undefined) throw new SwitchyardError('SY_AUTH_INVALID');

    const functionId = input.functionId || undefined;
    if (functionId === undefined) throw new SwitchyardError('SY_FUNCTION_ID_MISSING');
    if (!isUuid(functionId)) throw new SwitchyardError('SY_FUNCTION_ID_INVALID');
    const versionId = input.versionId || undefined;
    if (versionId !== undefined && !isUuid(versionId)) throw new SwitchyardError('SY_VERSION_ID_INVALID');

    const fn = this.getFunction(functionId);
    // Another account's function is "not found": its existence is not the caller's business.
    if (fn === undefined || fn.accountId !== key.accountId) throw new SwitchyardError('SY_FUNCTION_NOT_FOUND');
    if (key.functions !== '*' && !key.functions.includes(functionId)) throw new SwitchyardError('SY_AUTH_FORBIDDEN');

    if (versionId !== undefined) {
      const version = this.getVersion(versionId);
      if (version === undefined || version.functionId !== functionId || version.status !== 'deployed')
        throw new SwitchyardError('SY_VERSION_NOT_FOUND');
      return { key, fn, version };
    }
    const deployed = [...this.#versions.group(functionId)].filter((v) => v.status === 'deployed');
    if (deployed.length === 0) throw new SwitchyardError('SY_NO_DEPLOYED_VERSION');
    return { key, fn, version: deployed[Math.floor(Math.random() * deployed.length)] };
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
      if (!(err instanceof SwitchyardError) || !MISS_CODES.has(err.code)) throw err;
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
      one(this.#kv.functions, this.#functions as BucketCache<unknown>),
      one(this.#kv.versions, this.#versions as BucketCache<unknown>),
      one(this.#kv.apiKeys, this.#apiKeys as BucketCache<unknown>),
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

  // ---- writes (through KV) ----

  /**
   * Creates a function and a first deployed version of it.
   * @throws TypeError for invalid input; SwitchyardError SY_CONTROL_UNAVAILABLE when NATS does not
   *   answer in time.
   */
  async createFunction(input: CreateFunctionInput): Promise<{ fn: FunctionRecord; version: VersionRecord }> {
    const fn = parseInput(FunctionRecordSchema, {
      functionId: randomUUID(),
      accountId: input.accountId,
      name: input.name,
      kind: input.kind,
      inferenceUrl: input.inferenceUrl ?? '/',
      ...(input.reconnectWindowMs !== undefined ? { reconnectWindowMs: input.reconnectWindowMs } : {}),
      ...(input.spillPolicy !== undefined ? { spillPolicy: input.spillPolicy } : {}),
      createdAtMs: Date.now(),
    });
    await this.#write(
      this.#functions,
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
      this.#functions,
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
      this.#versions,
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
    const key = API_KEY_PREFIX + randomBytes(32).toString('base64url');
    const record = parseInput(ApiKeyRecordSchema, {
      keyId: randomUUID(),
      accountId: input.accountId,
      hash: hashApiKey(key),
      functions: input.functions === undefined || input.functions === '*' ? '*' : [...input.functions],
      ...(input.description !== undefined ? { description: input.description } : {}),
      createdAtMs: Date.now(),
    });
    await this.#write(
      this.#apiKeys,
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
    await this.#modify(this.#kv.apiKeys, this.#apiKeys, ApiKeyRecordSchema, keyId, 'SY_API_KEY_NOT_FOUND', (record) =>
      record.revokedAtMs === undefined ? { ...record, revokedAtMs: Date.now() } : undefined,
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
      this.#versions,
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
      [this.#functions, this.#kv.functions],
      [this.#versions, this.#kv.versions],
      [this.#apiKeys, this.#kv.apiKeys],
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
    if (this.#closed) return;
    this.#closed = true;
    this.#status?.stop?.();
    for (const cache of [this.#functions, this.#versions, this.#apiKeys]) cache.stop();
    await this.#resyncing?.catch(() => {});
  }

  async #putVersion(fn: FunctionRecord): Promise<VersionRecord> {
    const version: VersionRecord = {
      versionId: randomUUID(),
      functionId: fn.functionId,
      accountId: fn.accountId,
      status: 'deployed',
      createdAtMs: Date.now(),
    };
    await this.#write(
      this.#versions,
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
    if (this.#closed) throw new SwitchyardError('SY_CONTROL_UNAVAILABLE', { detail: `${what}: store is closed` });
    try {
      return await withDeadline(what, this.config.timeoutMs, operation());
    } catch (err) {
      throw toSwitchyardError(err, 'SY_CONTROL_UNAVAILABLE', what);
    }
  }

  /** Follows the connection: stale on disconnect, rebuild the copies on reconnect. */
  #watchConnection(): void {
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

  #markStale(): void {
    this.#staleSinceMs ??= Date.now();
    for (const cache of [this.#functions, this.#versions, this.#apiKeys]) cache.markStale();
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
          await Promise.all([this.#functions.load(), this.#versions.load(), this.#apiKeys.load()]);
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

function byCreatedAt(a: { createdAtMs: number }, b: { createdAtMs: number }): number {
  return a.createdAtMs - b.createdAtMs;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseInput<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new TypeError(`invalid input: ${parsed.error.message}`, { cause: parsed.error });
  return parsed.data;
}
