// The operator API end to end through app.inject(), against a real nats-server from the testkit:
// auth, validation, functions, versions, keys, sessions and eviction with a real NATS peer as the worker.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { encodeMessage, NatsNames, type SessionRecord } from '@switchyard/protocol';
import { SessionDirectory } from '@switchyard/session-directory';
import { type NatsServerHandle, startNats, stopAll, waitFor } from '@switchyard/testkit';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../src/index.ts';

const ADMIN_TOKEN = 'test-admin-token-0123456789';
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };

let nats: NatsServerHandle;
let nc: NatsConnection;
let store: ControlStore;
let local: SessionDirectory;
let other: SessionDirectory;
let app: FastifyInstance;

function sessionRecord(region: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    reqId: randomUUID(),
    accountId: 'default',
    functionId: randomUUID(),
    versionId: randomUUID(),
    workerId: `w-${randomUUID().slice(0, 8)}`,
    region,
    createdAtMs: Date.now(),
    ...overrides,
  };
}

async function createFunction(name: string, extra: Record<string, unknown> = {}) {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/functions',
    headers: auth,
    payload: { name, kind: 'grpc', ...extra },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json();
}

function assertProblem(
  res: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  code: string,
) {
  assert.equal(res.statusCode, status);
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  const body = res.json() as Record<string, unknown>;
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(body.type, `urn:switchyard:error:${code}`);
  assert.equal(typeof body.title, 'string');
  assert.equal(typeof body.detail, 'string');
  return body;
}

before(async () => {
  nats = await startNats({});
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  store = await ControlStore.open(nc);
  local = await SessionDirectory.open(nc, { region: 'local' });
  other = await SessionDirectory.open(nc, { region: 'other' });
  app = buildApp({
    adminToken: ADMIN_TOKEN,
    region: 'local',
    nc,
    controlStore: store,
    directories: [local, other],
    evictTimeoutMs: 500,
  });
  await app.ready();
});

after(async () => {
  await app?.close();
  await store?.close();
  await local?.close();
  await other?.close();
  await nc?.close();
  await stopAll();
});

describe('admin auth', () => {
  test('should answer GET /healthz without a token', async () => {
    const res = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { ok: true, nats: true, region: 'local' });
  });

  test('should refuse a request without Authorization with 401 SY_AUTH_MISSING', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/functions' });
    assertProblem(res, 401, 'SY_AUTH_MISSING');
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  });

  test('should refuse a wrong token, a non-Bearer scheme and an unknown route alike with 401', async () => {
    assertProblem(
      await app.inject({
        method: 'GET',
        url: '/v1/keys',
        headers: { authorization: 'Bearer not-the-admin-token-at-all' },
      }),
      401,
      'SY_ADMIN_TOKEN_INVALID',
    );
    assertProblem(
      await app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: `Basic ${ADMIN_TOKEN}` } }),
      401,
      'SY_AUTH_MISSING',
    );
    assertProblem(await app.inject({ method: 'GET', url: '/v1/nope' }), 401, 'SY_AUTH_MISSING');
    assertProblem(await app.inject({ method: 'POST', url: '/healthz' }), 401, 'SY_AUTH_MISSING');
  });

  test('should answer an unknown route with a valid token with 404 SY_ROUTE_NOT_FOUND', async () => {
    const body = assertProblem(
      await app.inject({ method: 'GET', url: '/v1/nope?x=1', headers: auth }),
      404,
      'SY_ROUTE_NOT_FOUND',
    );
    assert.equal(body.detail, 'GET /v1/nope');
  });
});

describe('functions and versions', () => {
  test('should create a function with a first deployed version and default account', async () => {
    const fn = await createFunction('echo-a', { inferenceUrl: '/infer', reconnectWindowMs: 1000 });
    assert.equal(fn.name, 'echo-a');
    assert.equal(fn.kind, 'grpc');
    assert.equal(fn.accountId, 'default');
    assert.equal(fn.inferenceUrl, '/infer');
    assert.equal(fn.reconnectWindowMs, 1000);
    assert.match(fn.functionId, /^[0-9a-f-]{36}$/);
    assert.equal(fn.versions.length, 1);
    assert.equal(fn.versions[0].versionId, fn.versionId);
    assert.equal(fn.versions[0].status, 'deployed');
  });

  test('should store a spill-over policy, and leave it unset (local-only) by default', async () => {
    const spill = await createFunction('spill-a', { spillPolicy: 'spill-over' });
    assert.equal(spill.spillPolicy, 'spill-over');
    const local = await createFunction('spill-b');
    assert.equal(local.spillPolicy, undefined);
  });

  test('should list functions, optionally of one account, and get one with its versions', async () => {
    const a = await createFunction('list-a', { accountId: 'acct-1' });
    const b = await createFunction('list-b', { accountId: 'acct-2', kind: 'http' });
    const all = (await app.inject({ method: 'GET', url: '/v1/functions', headers: auth })).json().functions;
    assert.ok(all.some((f: { functionId: string }) => f.functionId === a.functionId));
    assert.ok(all.some((f: { functionId: string }) => f.functionId === b.functionId));
    const acct1 = (await app.inject({ method: 'GET', url: '/v1/functions?accountId=acct-1', headers: auth })).json()
      .functions;
    assert.deepEqual(
      acct1.map((f: { functionId: string }) => f.functionId),
      [a.functionId],
    );
    const got = await app.inject({ method: 'GET', url: `/v1/functions/${b.functionId}`, headers: auth });
    assert.equal(got.statusCode, 200);
    assert.equal(got.json().kind, 'http');
    assert.equal(got.json().versions[0].versionId, b.versionId);
  });

  test('should add and delete versions, and answer 404 for a version of another function', async () => {
    const fn = await createFunction('versions');
    const other = await createFunction('versions-other');
    const added = await app.inject({ method: 'POST', url: `/v1/functions/${fn.functionId}/versions`, headers: auth });
    assert.equal(added.statusCode, 201, added.body);
    const version = added.json();
    assert.equal(version.functionId, fn.functionId);
    assert.equal(version.status, 'deployed');
    const listed = (await app.inject({ method: 'GET', url: `/v1/functions/${fn.functionId}`, headers: auth })).json();
    assert.equal(listed.versions.length, 2);

    assertProblem(
      await app.inject({
        method: 'DELETE',
        url: `/v1/functions/${other.functionId}/versions/${version.versionId}`,
        headers: auth,
      }),
      404,
      'SY_VERSION_NOT_FOUND',
    );
    const deleted = await app.inject({
      method: 'DELETE',
      url: `/v1/functions/${fn.functionId}/versions/${version.versionId}`,
      headers: auth,
    });
    assert.equal(deleted.statusCode, 204);
    const after = (await app.inject({ method: 'GET', url: `/v1/functions/${fn.functionId}`, headers: auth })).json();
    assert.deepEqual(
      after.versions.map((v: { versionId: string }) => v.versionId),
      [fn.versionId],
    );
  });

  test('should delete a function with its versions and then answer 404 for it', async () => {
    const fn = await createFunction('doomed');
    const res = await app.inject({ method: 'DELETE', url: `/v1/functions/${fn.functionId}`, headers: auth });
    assert.equal(res.statusCode, 204);
    assert.equal(store.getVersion(fn.versionId), undefined);
    assertProblem(
      await app.inject({ method: 'GET', url: `/v1/functions/${fn.functionId}`, headers: auth }),
      404,
      'SY_FUNCTION_NOT_FOUND',
    );
    assertProblem(
      await app.inject({ method: 'DELETE', url: `/v1/functions/${fn.functionId}`, headers: auth }),
      404,
      'SY_FUNCTION_NOT_FOUND',
    );
    assertProblem(
      await app.inject({ method: 'POST', url: `/v1/functions/${fn.functionId}/versions`, headers: auth }),
      404,
      'SY_FUNCTION_NOT_FOUND',
    );
  });

  test('should reject an invalid body with 400 listing every problem', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/functions',
      headers: auth,
      payload: { name: '', kind: 'tcp', inferenceUrl: 'no-slash', reconnectWindowMs: -1, colour: 'blue' },
    });
    const body = assertProblem(res, 400, 'SY_REQUEST_INVALID');
    const problems = body.problems as string[];
    for (const expected of [
      /colour/,
      /body\/name/,
      /body\/kind must be one of "grpc", "http"/,
      /body\/inferenceUrl/,
      /body\/reconnectWindowMs/,
    ])
      assert.ok(
        problems.some((p) => expected.test(p)),
        `${expected} not in ${JSON.stringify(problems)}`,
      );
  });

  test('should reject a missing field, a bad path parameter, bad JSON and an unknown query field with 400', async () => {
    const missing = assertProblem(
      await app.inject({ method: 'POST', url: '/v1/functions', headers: auth, payload: {} }),
      400,
      'SY_REQUEST_INVALID',
    );
    assert.equal((missing.problems as string[]).length, 2);
    assertProblem(
      await app.inject({ method: 'GET', url: '/v1/functions/not-a-uuid', headers: auth }),
      400,
      'SY_REQUEST_INVALID',
    );
    assertProblem(
      await app.inject({
        method: 'POST',
        url: '/v1/functions',
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"name":',
      }),
      400,
      'SY_REQUEST_INVALID',
    );
    assertProblem(
      await app.inject({ method: 'GET', url: '/v1/functions?acount=x', headers: auth }),
      400,
      'SY_REQUEST_INVALID',
    );
    assertProblem(
      await app.inject({
        method: 'POST',
        url: `/v1/functions/${randomUUID()}/versions`,
        headers: auth,
        payload: { x: 1 },
      }),
      400,
      'SY_REQUEST_INVALID',
    );
  });
});

describe('API keys', () => {
  test('should show a new key once, never list it or its hash, and make revocation visible to another ControlStore within 1 s', async () => {
    const fn = await createFunction('keyed');
    const created = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: auth,
      payload: { functions: [fn.functionId], description: 'ci key' },
    });
    assert.equal(created.statusCode, 201, created.body);
    const { key, keyId, functions, accountId, description } = created.json();
    assert.match(key, /^sy_/);
    assert.deepEqual(functions, [fn.functionId]);
    assert.equal(accountId, 'default');
    assert.equal(description, 'ci key');
    assert.equal(created.json().hash, undefined);

    const listed = await app.inject({ method: 'GET', url: '/v1/keys', headers: auth });
    assert.equal(listed.statusCode, 200);
    assert.ok(!listed.body.includes(key), 'the key string is listed');
    const entry = listed.json().keys.find((k: { keyId: string }) => k.keyId === keyId);
    assert.ok(entry);
    assert.equal(entry.hash, undefined);
    assert.equal(entry.key, undefined);

    const nc2 = await connect({ servers: nats.url });
    const store2 = await ControlStore.open(nc2);
    try {
      assert.equal(store2.authenticate(key)?.keyId, keyId);
      const revoked = await app.inject({ method: 'DELETE', url: `/v1/keys/${keyId}`, headers: auth });
      assert.equal(revoked.statusCode, 204);
      const startedMs = Date.now();
      await waitFor(() => store2.authenticate(key) === undefined, {
        timeoutMs: 1_000,
        intervalMs: 10,
        what: 'revocation',
      });
      assert.ok(Date.now() - startedMs <= 1_000);
      const relisted = (await app.inject({ method: 'GET', url: '/v1/keys', headers: auth })).json().keys;
      assert.equal(typeof relisted.find((k: { keyId: string }) => k.keyId === keyId).revokedAtMs, 'number');
    } finally {
      await store2.close();
      await nc2.close();
    }
  });

  test('should create an all-functions key from an empty POST and filter keys by account', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/keys', headers: auth });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json().functions, '*');
    const scoped = await app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: auth,
      payload: { accountId: 'acct-keys' },
    });
    const onlyAcct = (await app.inject({ method: 'GET', url: '/v1/keys?accountId=acct-keys', headers: auth })).json()
      .keys;
    assert.deepEqual(
      onlyAcct.map((k: { keyId: string }) => k.keyId),
      [scoped.json().keyId],
    );
  });

  test('should refuse a key for unknown functions, bad function IDs, and revoking an unknown key', async () => {
    assertProblem(
      await app.inject({ method: 'POST', url: '/v1/keys', headers: auth, payload: { functions: [randomUUID()] } }),
      404,
      'SY_FUNCTION_NOT_FOUND',
    );
    const bad = assertProblem(
      await app.inject({ method: 'POST', url: '/v1/keys', headers: auth, payload: { functions: ['x'], colour: 1 } }),
      400,
      'SY_REQUEST_INVALID',
    );
    assert.ok((bad.problems as string[]).some((p) => /colour/.test(p)));
    assertProblem(
      await app.inject({ method: 'DELETE', url: `/v1/keys/${randomUUID()}`, headers: auth }),
      404,
      'SY_API_KEY_NOT_FOUND',
    );
  });
});

describe('sessions', () => {
  test('should list sessions of every configured region and filter by region, worker and function', async () => {
    const a = sessionRecord('local');
    const b = sessionRecord('local', { workerId: a.workerId });
    const c = sessionRecord('other', { functionId: a.functionId });
    for (const [dir, r] of [
      [local, a],
      [local, b],
      [other, c],
    ] as const)
      await dir.create(r);
    const ids = async (query: string) =>
      (await app.inject({ method: 'GET', url: `/v1/sessions${query}`, headers: auth }))
        .json()
        .sessions.map((s: SessionRecord) => s.reqId);
    const all = await ids('');
    for (const r of [a, b, c]) assert.ok(all.includes(r.reqId));
    const otherOnly = await ids('?region=other');
    assert.ok(otherOnly.includes(c.reqId) && !otherOnly.includes(a.reqId));
    assert.deepEqual((await ids(`?workerId=${a.workerId}`)).sort(), [a.reqId, b.reqId].sort());
    assert.deepEqual((await ids(`?functionId=${a.functionId}`)).sort(), [a.reqId, c.reqId].sort());
    assertProblem(
      await app.inject({ method: 'GET', url: '/v1/sessions?region=mars', headers: auth }),
      400,
      'SY_REQUEST_INVALID',
    );
  });

  test('should get a session from whichever configured region holds it, and 404 when none does', async () => {
    const r = sessionRecord('other');
    await other.create(r);
    const res = await app.inject({ method: 'GET', url: `/v1/sessions/${r.reqId}`, headers: auth });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), r);
    const missing = assertProblem(
      await app.inject({ method: 'GET', url: `/v1/sessions/${randomUUID()}`, headers: auth }),
      404,
      'SY_SESSION_NOT_FOUND',
    );
    assert.equal(missing.title, 'no existing session found');
  });

  test('should evict a session by asking its worker on worker.<id>.evict and answer 200', async () => {
    const r = sessionRecord('local');
    await local.create(r);
    const worker = await connect({ servers: nats.url });
    const received: unknown[] = [];
    worker.subscribe(NatsNames.workerEvict(r.versionId, r.workerId), {
      callback: (_err, msg) => {
        received.push(msg.json());
        void local.delete(r.reqId).then(() => msg.respond(encodeMessage({ ok: true })));
      },
    });
    await worker.flush();
    try {
      const res = await app.inject({ method: 'DELETE', url: `/v1/sessions/${r.reqId}`, headers: auth });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { evicted: true, reqId: r.reqId, workerId: r.workerId, region: 'local' });
      assert.deepEqual(received, [{ reqId: r.reqId }]);
      assertProblem(
        await app.inject({ method: 'GET', url: `/v1/sessions/${r.reqId}`, headers: auth }),
        404,
        'SY_SESSION_NOT_FOUND',
      );
    } finally {
      await worker.close();
    }
  });

  test('should answer 202 worker-gone and delete nothing when no worker listens', async () => {
    const r = sessionRecord('other');
    await other.create(r);
    const res = await app.inject({ method: 'DELETE', url: `/v1/sessions/${r.reqId}`, headers: auth });
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(res.json(), {
      evicted: false,
      reason: 'worker-gone',
      reqId: r.reqId,
      workerId: r.workerId,
      region: 'other',
    });
    assert.notEqual(await other.get(r.reqId), null);
  });

  test("should pass on a worker's refusal code and answer 503 when the worker does not answer in time", async () => {
    const refused = sessionRecord('local');
    const silent = sessionRecord('local');
    await local.create(refused);
    await local.create(silent);
    const worker = await connect({ servers: nats.url });
    worker.subscribe(NatsNames.workerEvict(refused.versionId, refused.workerId), {
      callback: (_err, msg) => {
        msg.respond(encodeMessage({ ok: false, code: 'SY_SESSION_NOT_FOUND', detail: 'already ended' }));
      },
    });
    worker.subscribe(NatsNames.workerEvict(silent.versionId, silent.workerId), { callback: () => {} });
    await worker.flush();
    try {
      const body = assertProblem(
        await app.inject({ method: 'DELETE', url: `/v1/sessions/${refused.reqId}`, headers: auth }),
        404,
        'SY_SESSION_NOT_FOUND',
      );
      assert.match(String(body.detail), /already ended/);
      assertProblem(
        await app.inject({ method: 'DELETE', url: `/v1/sessions/${silent.reqId}`, headers: auth }),
        503,
        'SY_WORKER_UNAVAILABLE',
      );
      assertProblem(
        await app.inject({ method: 'DELETE', url: `/v1/sessions/${randomUUID()}`, headers: auth }),
        404,
        'SY_SESSION_NOT_FOUND',
      );
    } finally {
      await worker.close();
    }
  });
});

describe('NATS outage', () => {
  test('should answer 503, never 404, for sessions while NATS is stopped, and recover after', async () => {
    const r = sessionRecord('local');
    await local.create(r);
    await nats.stop();
    try {
      await waitFor(async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 503, {
        timeoutMs: 5_000,
        what: 'healthz 503',
      });
      assert.deepEqual((await app.inject({ method: 'GET', url: '/healthz' })).json(), {
        ok: false,
        nats: false,
        region: 'local',
      });
      for (const [method, url] of [
        ['GET', `/v1/sessions/${r.reqId}`],
        ['GET', `/v1/sessions/${randomUUID()}`],
        ['GET', '/v1/sessions'],
        ['DELETE', `/v1/sessions/${r.reqId}`],
      ] as const)
        assertProblem(await app.inject({ method, url, headers: auth }), 503, 'SY_DIRECTORY_UNAVAILABLE');
      const write = await app.inject({
        method: 'POST',
        url: '/v1/functions',
        headers: auth,
        payload: { name: 'x', kind: 'grpc' },
      });
      assertProblem(write, 503, 'SY_CONTROL_UNAVAILABLE');
    } finally {
      await nats.restart();
    }
    await waitFor(async () => (await app.inject({ method: 'GET', url: '/healthz' })).statusCode === 200, {
      timeoutMs: 10_000,
      what: 'healthz 200 again',
    });
    const res = await app.inject({ method: 'GET', url: `/v1/sessions/${r.reqId}`, headers: auth });
    assert.equal(res.statusCode, 200, res.body);
  });
});
