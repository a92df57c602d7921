// ControlStore against a real nats-server: every authorize branch (G1, G2, H10, H11), propagation of
// keys and revocations between two stores on two connections, and a watch that survives a restart.

import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type ErrorCode, isSwitchyardError } from '@switchyard/protocol';
import { type NatsServerHandle, startNats, startTcpRelay, stopAll, waitFor } from '@switchyard/testkit';
import { type AuthorizeInput, ControlStore, type FunctionRecord, type VersionRecord } from '../src/index.ts';

function connectTo(url: string): Promise<NatsConnection> {
  return connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2_000 });
}

function assertCode(store: ControlStore, input: AuthorizeInput, code: ErrorCode): void {
  assert.throws(
    () => store.authorize(input),
    (err) => isSwitchyardError(err, code),
    `expected ${code}`,
  );
}

after(async () => {
  await stopAll();
});

describe('ControlStore authorize and propagation', () => {
  let server: NatsServerHandle;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  let a: ControlStore;
  let b: ControlStore;
  let fnA: FunctionRecord;
  let fnAVersion: VersionRecord;
  let fnB: FunctionRecord;
  let fnOther: FunctionRecord;
  let keyAll: string;
  let keyScoped: string;
  let keyOther: string;

  before(async () => {
    server = await startNats({ jetstream: true });
    ncA = await connectTo(server.url);
    ncB = await connectTo(server.url);
    a = await ControlStore.open(ncA);
    b = await ControlStore.open(ncB);
    ({ fn: fnA, version: fnAVersion } = await a.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' }));
    ({ fn: fnB } = await a.createFunction({
      accountId: 'acct-1',
      name: 'other',
      kind: 'http',
      inferenceUrl: '/infer',
    }));
    ({ fn: fnOther } = await a.createFunction({ accountId: 'acct-2', name: 'theirs', kind: 'grpc' }));
    ({ key: keyAll } = await a.createApiKey({ accountId: 'acct-1' }));
    ({ key: keyScoped } = await a.createApiKey({ accountId: 'acct-1', functions: [fnA.functionId] }));
    ({ key: keyOther } = await a.createApiKey({ accountId: 'acct-2', functions: '*' }));
  });

  after(async () => {
    await a.close();
    await b.close();
    await ncA.close();
    await ncB.close();
    await server.stop();
  });

  test('a valid key, function and version authorize, with any case of the Bearer scheme', () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
      const got = a.authorize({
        authorization: `${scheme} ${keyAll}`,
        functionId: fnA.functionId,
        versionId: fnAVersion.versionId,
      });
      assert.equal(got.fn.functionId, fnA.functionId);
      assert.equal(got.version.versionId, fnAVersion.versionId);
      assert.equal(got.key.accountId, 'acct-1');
    }
  });

  test('SY_AUTH_MISSING when authorization is absent or not a Bearer value', () => {
    const rest = { functionId: fnA.functionId, versionId: undefined };
    for (const authorization of [undefined, '', 'Basic abc', 'Bearer', 'Bearer ', keyAll, `Bearer ${keyAll} extra`])
      assertCode(a, { authorization, ...rest }, 'SY_AUTH_MISSING');
  });

  test('SY_AUTH_INVALID for an unknown key', () => {
    assertCode(
      a,
      { authorization: 'Bearer sy_unknown', functionId: fnA.functionId, versionId: undefined },
      'SY_AUTH_INVALID',
    );
  });

  test('SY_FUNCTION_ID_MISSING when function-id is absent or empty', () => {
    for (const functionId of [undefined, ''])
      assertCode(a, { authorization: `Bearer ${keyAll}`, functionId, versionId: undefined }, 'SY_FUNCTION_ID_MISSING');
  });

  test('SY_FUNCTION_ID_INVALID when function-id is not a UUID', () => {
    assertCode(
      a,
      { authorization: `Bearer ${keyAll}`, functionId: 'echo', versionId: undefined },
      'SY_FUNCTION_ID_INVALID',
    );
  });

  test('SY_VERSION_ID_INVALID when function-version-id is given but not a UUID', () => {
    assertCode(
      a,
      { authorization: `Bearer ${keyAll}`, functionId: fnA.functionId, versionId: 'v1' },
      'SY_VERSION_ID_INVALID',
    );
  });

  test('SY_FUNCTION_NOT_FOUND for an unknown function', () => {
    assertCode(
      a,
      { authorization: `Bearer ${keyAll}`, functionId: randomUUID(), versionId: undefined },
      'SY_FUNCTION_NOT_FOUND',
    );
  });

  test('SY_FUNCTION_NOT_FOUND for a function of another account', () => {
    assertCode(
      a,
      { authorization: `Bearer ${keyAll}`, functionId: fnOther.functionId, versionId: undefined },
      'SY_FUNCTION_NOT_FOUND',
    );
    // ...and the other account's own key does reach it.
    assert.equal(
      a.authorize({ authorization: `Bearer ${keyOther}`, functionId: fnOther.functionId, versionId: undefined }).fn
        .accountId,
      'acct-2',
    );
  });

  test('SY_AUTH_FORBIDDEN for a scoped key and another function of the same account', () => {
    assert.equal(
      a.authorize({ authorization: `Bearer ${keyScoped}`, functionId: fnA.functionId, versionId: undefined }).fn
        .functionId,
      fnA.functionId,
    );
    assertCode(
      a,
      { authorization: `Bearer ${keyScoped}`, functionId: fnB.functionId, versionId: undefined },
      'SY_AUTH_FORBIDDEN',
    );
  });

  test('SY_VERSION_NOT_FOUND for an unknown version, another function\u2019s version, or an inactive one', async () => {
    const auth = `Bearer ${keyAll}`;
    assertCode(a, { authorization: auth, functionId: fnA.functionId, versionId: randomUUID() }, 'SY_VERSION_NOT_FOUND');
    const [fnBVersion] = a.versionsOf(fnB.functionId);
    assertCode(
      a,
      { authorization: auth, functionId: fnA.functionId, versionId: fnBVersion.versionId },
      'SY_VERSION_NOT_FOUND',
    );
    const extra = await a.createVersion(fnB.functionId);
    await a.setVersionStatus(extra.versionId, 'inactive');
    assertCode(
      a,
      { authorization: auth, functionId: fnB.functionId, versionId: extra.versionId },
      'SY_VERSION_NOT_FOUND',
    );
    await a.setVersionStatus(extra.versionId, 'deployed');
    assert.equal(
      a.authorize({ authorization: auth, functionId: fnB.functionId, versionId: extra.versionId }).version.status,
      'deployed',
    );
  });

  test('SY_NO_DEPLOYED_VERSION when the function has no deployed version', async () => {
    const { fn, version } = await a.createFunction({ accountId: 'acct-1', name: 'empty', kind: 'http' });
    await a.deleteVersion(version.versionId);
    assertCode(
      a,
      { authorization: `Bearer ${keyAll}`, functionId: fn.functionId, versionId: undefined },
      'SY_NO_DEPLOYED_VERSION',
    );
    const v2 = await a.createVersion(fn.functionId);
    await a.setVersionStatus(v2.versionId, 'inactive');
    assertCode(
      a,
      { authorization: `Bearer ${keyAll}`, functionId: fn.functionId, versionId: undefined },
      'SY_NO_DEPLOYED_VERSION',
    );
  });

  test('SY_CONTROL_UNAVAILABLE from a closed store, after the header check', async () => {
    const nc = await connectTo(server.url);
    const store = await ControlStore.open(nc);
    assert.ok(store.available);
    await store.close();
    assert.equal(store.available, false);
    assertCode(
      store,
      { authorization: `Bearer ${keyAll}`, functionId: fnA.functionId, versionId: undefined },
      'SY_CONTROL_UNAVAILABLE',
    );
    assertCode(
      store,
      { authorization: undefined, functionId: fnA.functionId, versionId: undefined },
      'SY_AUTH_MISSING',
    );
    await nc.close();
  });

  test('H11: without a version, any deployed version serves, spread across them', async () => {
    const { fn, version: v1 } = await a.createFunction({ accountId: 'acct-1', name: 'spread', kind: 'grpc' });
    const v2 = await a.createVersion(fn.functionId);
    const v3 = await a.createVersion(fn.functionId);
    const off = await a.createVersion(fn.functionId);
    await a.setVersionStatus(off.versionId, 'inactive');
    const picked = new Set<string>();
    for (let i = 0; i < 300; i++)
      picked.add(
        a.authorize({ authorization: `Bearer ${keyAll}`, functionId: fn.functionId, versionId: undefined }).version
          .versionId,
      );
    assert.deepEqual(picked, new Set([v1.versionId, v2.versionId, v3.versionId]));
    assert.equal(a.versionsOf(fn.functionId).length, 4);
  });

  test('a created key is shown once, prefixed sy_, and only its sha256 is stored', async () => {
    const { key, record } = await a.createApiKey({ accountId: 'acct-9', description: 'ci' });
    assert.match(key, /^sy_[A-Za-z0-9_-]{43}$/);
    assert.equal(record.hash, createHash('sha256').update(key).digest('hex'));
    assert.equal(record.functions, '*');
    assert.ok(!JSON.stringify(a.listApiKeys('acct-9')).includes(key));
    assert.equal(a.authenticate(key)?.keyId, record.keyId);
  });

  test('a key created through store A authenticates in store B within 1 s', async () => {
    const { key, record } = await a.createApiKey({ accountId: 'acct-1' });
    await waitFor(() => b.authenticate(key)?.keyId === record.keyId, { timeoutMs: 1_000, what: 'key in B' });
  });

  test('authorizeFresh: a key and function created through A a moment ago work at once in a lagging store C', async () => {
    // C reads through a link that delays every chunk by 150 ms each way: its watch lags A's writes.
    const relay = await startTcpRelay({ targetPort: server.port, delayMs: 150 });
    const ncC = await connectTo(`nats://127.0.0.1:${relay.port}`);
    const c = await ControlStore.open(ncC, { create: false });
    try {
      const { fn, version } = await a.createFunction({ accountId: 'acct-7', name: 'fresh', kind: 'http' });
      const { key } = await a.createApiKey({ accountId: 'acct-7', functions: [fn.functionId] });
      const input = { authorization: `Bearer ${key}`, functionId: fn.functionId, versionId: undefined };
      assertCode(c, input, 'SY_AUTH_INVALID'); // the plain cached read has not seen the key yet
      const auth = await c.authorizeFresh(input);
      assert.equal(auth.fn.functionId, fn.functionId);
      assert.equal(auth.version.versionId, version.versionId);
      // A real miss stays a miss, after one catch-up; concurrent misses share it.
      const unknown = { ...input, authorization: 'Bearer sy_unknown' };
      const started = Date.now();
      const results = await Promise.allSettled([1, 2, 3].map(() => c.authorizeFresh(unknown)));
      for (const r of results)
        assert.ok(r.status === 'rejected' && isSwitchyardError(r.reason, 'SY_AUTH_INVALID'), 'unknown key');
      assert.ok(Date.now() - started < 1_500, 'one shared catch-up (two round trips of 300 ms), not three');
      const { key: key2 } = await a.createApiKey({ accountId: 'acct-7' });
      assert.equal(c.authenticate(key2), undefined);
      assert.equal((await c.authenticateFresh(key2))?.accountId, 'acct-7');
    } finally {
      await c.close();
      await ncC.close();
      await relay.stop();
    }
  });

  test('authorizeFresh answers the cached miss when NATS does not answer the catch-up', async () => {
    const relay = await startTcpRelay({ targetPort: server.port });
    const ncC = await connectTo(`nats://127.0.0.1:${relay.port}`);
    const c = await ControlStore.open(ncC, { create: false, timeoutMs: 300 });
    try {
      relay.setDelay(5_000); // the link stalls: no catch-up within 300 ms
      const started = Date.now();
      const input = { authorization: 'Bearer sy_unknown', functionId: fnA.functionId, versionId: undefined };
      await assert.rejects(c.authorizeFresh(input), (err) => isSwitchyardError(err, 'SY_AUTH_INVALID'));
      assert.ok(Date.now() - started < 1_000, 'bounded by timeoutMs');
    } finally {
      relay.cut();
      await c.close();
      await ncC.close();
      await relay.stop();
    }
  });

  test('a revocation through store A rejects in store B within 1 s', async () => {
    const { key, record } = await a.createApiKey({ accountId: 'acct-1' });
    await waitFor(() => b.authenticate(key) !== undefined, { timeoutMs: 1_000, what: 'key in B' });
    await a.revokeApiKey(record.keyId);
    assert.equal(a.authenticate(key), undefined, 'the revoking store reads its own write');
    await waitFor(() => b.authenticate(key) === undefined, { timeoutMs: 1_000, what: 'revocation in B' });
    assertCode(
      b,
      { authorization: `Bearer ${key}`, functionId: fnA.functionId, versionId: undefined },
      'SY_AUTH_INVALID',
    );
    assert.ok(b.listApiKeys('acct-1').find((k) => k.keyId === record.keyId)?.revokedAtMs);
    await a.revokeApiKey(record.keyId); // idempotent
  });

  test('revoking or changing something unknown is a NOT_FOUND error', async () => {
    await assert.rejects(a.revokeApiKey(randomUUID()), (err) => isSwitchyardError(err, 'SY_API_KEY_NOT_FOUND'));
    await assert.rejects(a.setVersionStatus(randomUUID(), 'inactive'), (err) =>
      isSwitchyardError(err, 'SY_VERSION_NOT_FOUND'),
    );
    await assert.rejects(a.createVersion(randomUUID()), (err) => isSwitchyardError(err, 'SY_FUNCTION_NOT_FOUND'));
    await assert.rejects(a.deleteFunction(randomUUID()), (err) => isSwitchyardError(err, 'SY_FUNCTION_NOT_FOUND'));
  });

  test('deleting a function deletes its versions, in every store', async () => {
    const { fn, version } = await a.createFunction({
      accountId: 'acct-3',
      name: 'gone',
      kind: 'http',
      reconnectWindowMs: 5_000,
      spillPolicy: 'spill-over',
    });
    await waitFor(() => b.getFunction(fn.functionId) !== undefined, { timeoutMs: 1_000 });
    assert.deepEqual(b.getFunction(fn.functionId), fn);
    assert.deepEqual(b.listFunctions('acct-3'), [fn]);
    await a.deleteFunction(fn.functionId);
    assert.equal(a.getFunction(fn.functionId), undefined);
    assert.equal(a.getVersion(version.versionId), undefined);
    await waitFor(() => b.getFunction(fn.functionId) === undefined && b.versionsOf(fn.functionId).length === 0, {
      timeoutMs: 1_000,
    });
    assert.deepEqual(b.listFunctions('acct-3'), []);
  });

  test('a store opened later loads everything already written', async () => {
    const nc = await connectTo(server.url);
    const late = await ControlStore.open(nc, { create: false });
    assert.equal(late.authenticate(keyAll)?.accountId, 'acct-1');
    assert.deepEqual(late.getFunction(fnA.functionId), fnA);
    assert.deepEqual(
      late.listFunctions().map((f) => f.functionId),
      a.listFunctions().map((f) => f.functionId),
    );
    assert.equal(await late.sync(), true);
    await late.close();
    await nc.close();
  });

  test('invalid input to createFunction is a TypeError', async () => {
    await assert.rejects(
      a.createFunction({ accountId: 'acct-1', name: 'x', kind: 'grpc', inferenceUrl: 'no-slash' }),
      TypeError,
    );
    await assert.rejects(a.createApiKey({ accountId: 'acct-1', functions: ['not-a-uuid'] }), TypeError);
  });
});

describe('ControlStore across a NATS restart', () => {
  test('the cache survives a restart and a revocation after it still propagates', async () => {
    const server = await startNats({ jetstream: true });
    const ncA = await connectTo(server.url);
    const ncB = await connectTo(server.url);
    const a = await ControlStore.open(ncA);
    const b = await ControlStore.open(ncB, { maxStalenessMs: 60_000 });
    const { fn } = await a.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' });
    const { key, record } = await a.createApiKey({ accountId: 'acct-1' });
    await waitFor(() => b.authenticate(key) !== undefined, { timeoutMs: 1_000 });

    await server.restart();
    // While reconnecting, and after, the cached data keeps serving.
    assert.equal(
      b.authorize({ authorization: `Bearer ${key}`, functionId: fn.functionId, versionId: undefined }).fn.name,
      'echo',
    );

    // The writer may need a moment to reconnect; the revocation itself is the thing under test.
    await waitFor(
      async () => {
        await a.revokeApiKey(record.keyId);
        return true;
      },
      { timeoutMs: 15_000, what: 'revocation after restart' },
    );
    const revokedAt = Date.now();
    await waitFor(() => b.authenticate(key) === undefined, { timeoutMs: 5_000, what: 'revocation in B after restart' });
    assert.ok(Date.now() - revokedAt <= 1_000, `took ${Date.now() - revokedAt} ms`);

    const { key: fresh } = await a.createApiKey({ accountId: 'acct-1' });
    await waitFor(() => b.authenticate(fresh) !== undefined, { timeoutMs: 1_000, what: 'new key in B after restart' });
    assert.ok(b.available);

    await a.close();
    await b.close();
    await ncA.close();
    await ncB.close();
    await server.stop();
  });

  test('authorize says SY_CONTROL_UNAVAILABLE once NATS has been gone longer than maxStalenessMs', async () => {
    const server = await startNats({ jetstream: true });
    const nc = await connectTo(server.url);
    const store = await ControlStore.open(nc, { maxStalenessMs: 300 });
    const { fn } = await store.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' });
    const { key } = await store.createApiKey({ accountId: 'acct-1' });
    const input = { authorization: `Bearer ${key}`, functionId: fn.functionId, versionId: undefined };
    assert.equal(store.authorize(input).fn.functionId, fn.functionId);

    await server.stop();
    await waitFor(() => !store.available, { timeoutMs: 5_000, what: 'store to go stale' });
    assertCode(store, input, 'SY_CONTROL_UNAVAILABLE');
    await assert.rejects(store.createApiKey({ accountId: 'acct-1' }), (err) =>
      isSwitchyardError(err, 'SY_CONTROL_UNAVAILABLE'),
    );

    await server.restart();
    await waitFor(() => store.available, { timeoutMs: 15_000, what: 'store to be live again' });
    assert.equal(store.authorize(input).fn.functionId, fn.functionId);

    await store.close();
    await nc.close();
    await server.stop();
  });
});
