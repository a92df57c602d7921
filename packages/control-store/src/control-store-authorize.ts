// The contract's authorization checks (G1, G2, H10, H11), in order, over the control store's cached
// reads: synchronous, no network. Which answers a lagging copy could explain is decided here too.

import { isUuid, SwitchyardError } from '@switchyard/protocol';
import type { ApiKeyRecord, FunctionRecord, VersionRecord } from './records.ts';

/** Input of `ControlStore.authorize`: raw values from metadata or headers. */
export interface AuthorizeInput {
  /** `authorization` value: `Bearer <key>` (scheme case-insensitive). */
  authorization: string | undefined;
  /** `function-id`; empty counts as absent. */
  functionId: string | undefined;
  /** `function-version-id`; empty counts as absent. */
  versionId: string | undefined;
}

/** What `ControlStore.authorize` resolved. */
export interface Authorization {
  /** The caller's API key. */
  key: ApiKeyRecord;
  /** The function invoked. */
  fn: FunctionRecord;
  /** The version named, or a deployed one picked at random. */
  version: VersionRecord;
}

/** The cached reads {@link authorizeWith} checks against. */
export interface AuthorizationReads {
  /** Whether the copy may be trusted (loaded, watch live or broken for at most maxStalenessMs). */
  readonly available: boolean;
  /** The record of a valid key; undefined for an unknown or revoked key. */
  authenticate(apiKey: string): ApiKeyRecord | undefined;
  /** The function, or undefined when unknown. */
  getFunction(functionId: string): FunctionRecord | undefined;
  /** The version, or undefined when unknown. */
  getVersion(versionId: string): VersionRecord | undefined;
  /** Every version of a function, any status, in no particular order. */
  versionsOf(functionId: string): Iterable<VersionRecord>;
}

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

/** True when `err` is an `authorize` answer that a copy lagging behind the buckets could explain. */
export function isLagExplainable(err: unknown): boolean {
  return err instanceof SwitchyardError && MISS_CODES.has(err.code);
}

/**
 * `ControlStore.authorize`: the contract's checks against `reads`, in the order its docstring lists
 * (bearer, cache trusted, key, function ID, version ID, function of the key's account, key scope,
 * version named or a deployed one at random).
 * @throws SwitchyardError SY_AUTH_MISSING, SY_CONTROL_UNAVAILABLE, SY_AUTH_INVALID, SY_FUNCTION_ID_MISSING,
 *   SY_FUNCTION_ID_INVALID, SY_VERSION_ID_INVALID, SY_FUNCTION_NOT_FOUND, SY_AUTH_FORBIDDEN,
 *   SY_VERSION_NOT_FOUND or SY_NO_DEPLOYED_VERSION.
 */
export function authorizeWith(reads: AuthorizationReads, input: AuthorizeInput): Authorization {
  const match = input.authorization === undefined ? null : BEARER.exec(input.authorization);
  if (match === null) throw new SwitchyardError('SY_AUTH_MISSING');
  if (!reads.available)
    throw new SwitchyardError('SY_CONTROL_UNAVAILABLE', { detail: 'control data watch is not live' });
  const key = reads.authenticate(match[1]);
  if (key === undefined) throw new SwitchyardError('SY_AUTH_INVALID');

  const functionId = input.functionId || undefined;
  if (functionId === undefined) throw new SwitchyardError('SY_FUNCTION_ID_MISSING');
  if (!isUuid(functionId)) throw new SwitchyardError('SY_FUNCTION_ID_INVALID');
  const versionId = input.versionId || undefined;
  if (versionId !== undefined && !isUuid(versionId)) throw new SwitchyardError('SY_VERSION_ID_INVALID');

  const fn = reads.getFunction(functionId);
  // Another account's function is "not found": its existence is not the caller's business.
  if (fn === undefined || fn.accountId !== key.accountId) throw new SwitchyardError('SY_FUNCTION_NOT_FOUND');
  if (key.functions !== '*' && !key.functions.includes(functionId)) throw new SwitchyardError('SY_AUTH_FORBIDDEN');

  if (versionId !== undefined) {
    const version = reads.getVersion(versionId);
    if (version === undefined || version.functionId !== functionId || version.status !== 'deployed')
      throw new SwitchyardError('SY_VERSION_NOT_FOUND');
    return { key, fn, version };
  }
  // A deployed version at random, in one pass with no array (reservoir sampling: the n-th deployed
  // one replaces the pick with probability 1/n, so each of them is picked with the same probability).
  let version: VersionRecord | undefined;
  let deployed = 0;
  for (const v of reads.versionsOf(functionId))
    if (v.status === 'deployed' && Math.random() * ++deployed < 1) version = v;
  if (version === undefined) throw new SwitchyardError('SY_NO_DEPLOYED_VERSION');
  return { key, fn, version };
}
