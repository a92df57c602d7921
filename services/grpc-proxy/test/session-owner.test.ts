// G9 owner check against forged session records (issue 8 item 6): workers may write session records
// (NATS cannot restrict record keys), so a worker of function B can overwrite a session of A with its
// own worker and version. The record's version must be a version of the caller's function, whether or
// not the call named one; else a resume would ask B's worker to attach A's client.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Authorization, VersionRecord } from '@switchyard/control-store';
import { isSwitchyardError } from '@switchyard/protocol';
import { checkOwner } from '../src/session-resume.ts';

const ACCOUNT = 'acct-a';
const FN_A = '11111111-1111-4111-8111-111111111111';
const FN_B = '22222222-2222-4222-8222-222222222222';
const VER_A = '33333333-3333-4333-8333-333333333333';
const VER_B = '44444444-4444-4444-8444-444444444444';

const version = (versionId: string, functionId: string, accountId: string): VersionRecord => ({
  versionId,
  functionId,
  accountId,
  status: 'deployed',
  createdAtMs: 0,
});
const versions = new Map([
  [VER_A, version(VER_A, FN_A, ACCOUNT)],
  [VER_B, version(VER_B, FN_B, 'acct-b')],
]);
const getVersion = (id: string) => versions.get(id);
const auth = {
  key: { accountId: ACCOUNT },
  fn: { functionId: FN_A },
  version: versions.get(VER_A),
} as unknown as Authorization;

test('a record of the caller’s function and one of its versions passes', () => {
  checkOwner({ accountId: ACCOUNT, functionId: FN_A, versionId: VER_A }, auth, false, getVersion);
  checkOwner({ accountId: ACCOUNT, functionId: FN_A, versionId: VER_A }, auth, true, getVersion);
});

test('a forged record naming the caller’s function but another function’s version is refused', () => {
  const forged = { accountId: ACCOUNT, functionId: FN_A, versionId: VER_B };
  for (const versionGiven of [false, true]) {
    assert.throws(
      () => checkOwner(forged, auth, versionGiven, getVersion),
      (err) => isSwitchyardError(err, 'SY_SESSION_MISMATCH'),
    );
  }
  const unknown = { accountId: ACCOUNT, functionId: FN_A, versionId: '55555555-5555-4555-8555-555555555555' };
  assert.throws(
    () => checkOwner(unknown, auth, false, getVersion),
    (err) => isSwitchyardError(err, 'SY_SESSION_MISMATCH'),
  );
});
