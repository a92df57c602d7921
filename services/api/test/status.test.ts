// GET /v1/status and the /ui status page through app.inject(), against a real nats-server and real
// heartbeat publishers: what the status says, and who may read it (admin token, or the page's cookie).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { CallWindow, HeartbeatPublisher, RegionHealthView } from '@switchyard/region-health';
import { SessionDirectory } from '@switchyard/session-directory';
import { type NatsServerHandle, startNats, stopAll, waitFor } from '@switchyard/testkit';
import type { FastifyInstance } from 'fastify';
import { buildApp, type StatusDocument, UI_SESSION_COOKIE, uiSessions } from '../src/index.ts';

const ADMIN_TOKEN = 'status-admin-token-0123456789';
const VERSION = '6f1c2a52-8a70-4a8e-9d55-4a0f8c1b2d3e';

let nats: NatsServerHandle;
let nc: NatsConnection;
let store: ControlStore;
let directory: SessionDirectory;
let health: RegionHealthView;
let app: FastifyInstance;
const publishers: HeartbeatPublisher[] = [];

function beat(options: ConstructorParameters<typeof HeartbeatPublisher>[1]): HeartbeatPublisher {
  const p = new HeartbeatPublisher(nc, { intervalMs: 200, ...options });
  p.start();
  publishers.push(p);
  return p;
}

async function login(): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/ui/login',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: `token=${encodeURIComponent(ADMIN_TOKEN)}`,
  });
  assert.equal(res.statusCode, 303, res.body);
  assert.equal(res.headers.location, '/ui');
  const setCookie = String(res.headers['set-cookie']);
  assert.match(setCookie, new RegExp(`^${UI_SESSION_COOKIE}=v1\\.`));
  assert.match(setCookie, /; HttpOnly/);
  assert.match(setCookie, /; SameSite=Strict/);
  assert.ok(!setCookie.includes(ADMIN_TOKEN), 'the cookie must not be the admin token');
  return setCookie.split(';')[0];
}

before(async () => {
  nats = await startNats({});
  nc = await connect({ servers: nats.url });
  store = await ControlStore.open(nc);
  directory = await SessionDirectory.open(nc, { region: 'r1' });
  health = await RegionHealthView.start(nc);
  app = buildApp({
    adminToken: ADMIN_TOKEN,
    region: 'r1',
    nc,
    controlStore: store,
    directories: [directory],
    health,
  });
  await app.ready();
});

after(async () => {
  for (const p of publishers) await p.stop();
  health?.stop();
  await app?.close();
  await store?.close();
  await directory?.close();
  await nc?.close();
  await stopAll();
});

describe('who may read the status', () => {
  test('should answer GET /v1/status and GET /ui without credentials with 401 and no data', async () => {
    beat({ region: 'r1', kind: 'grpc-proxy', instanceId: 'secret-proxy-id' });
    await waitFor(() => health.regions().length > 0);
    const json = await app.inject({ method: 'GET', url: '/v1/status' });
    assert.equal(json.statusCode, 401);
    assert.equal(json.json().code, 'SY_AUTH_MISSING');
    assert.ok(!json.body.includes('secret-proxy-id') && !json.body.includes('regions'));
    const page = await app.inject({ method: 'GET', url: '/ui' });
    assert.equal(page.statusCode, 401);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<form method="post" action="\/ui\/login">/);
    assert.ok(!page.body.includes('secret-proxy-id'));
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'/);
  });

  test('should refuse a wrong token at the login form with 401 and no cookie', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/ui/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'token=not-the-admin-token-at-all',
    });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['set-cookie'], undefined);
    assert.match(res.body, /not the admin token/);
  });

  test('should let the login cookie read GET /ui and GET /v1/status, and nothing else', async () => {
    const cookie = await login();
    const page = await app.inject({ method: 'GET', url: '/ui', headers: { cookie } });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<script src="\/ui\/status.js"/);
    const status = await app.inject({ method: 'GET', url: '/v1/status', headers: { cookie } });
    assert.equal(status.statusCode, 200);
    assert.equal(status.json().servedBy, 'r1');
    // The cookie is not an admin credential: no other route, no change.
    const functions = await app.inject({ method: 'GET', url: '/v1/functions', headers: { cookie } });
    assert.equal(functions.statusCode, 401);
    const evict = await app.inject({
      method: 'DELETE',
      url: '/v1/sessions/8d3f0f4e-4a57-4c7e-9f0e-2b8f6f3b7c11',
      headers: { cookie },
    });
    assert.equal(evict.statusCode, 401);
  });

  test('should refuse a tampered, expired or foreign cookie', async () => {
    const cookie = await login();
    const [name, value] = cookie.split('=');
    const [v, expiry, mac] = value.split('.');
    const tampered = `${name}=${v}.${Number(expiry) + 1000}.${mac}`;
    const foreign = uiSessions('some-other-admin-token-xyz', false).issue().split(';')[0];
    const expired = uiSessions(ADMIN_TOKEN, false)
      .issue(Date.now() - 9 * 60 * 60 * 1000)
      .split(';')[0];
    for (const c of [tampered, foreign, expired, `${name}=${ADMIN_TOKEN}`]) {
      const res = await app.inject({ method: 'GET', url: '/v1/status', headers: { cookie: c } });
      assert.equal(res.statusCode, 401, c);
    }
  });

  test('should clear the cookie on logout', async () => {
    const res = await app.inject({ method: 'POST', url: '/ui/logout' });
    assert.equal(res.statusCode, 303);
    assert.match(String(res.headers['set-cookie']), new RegExp(`^${UI_SESSION_COOKIE}=; Max-Age=0`));
  });

  test('should serve the page script and style without credentials (they hold no data)', async () => {
    const js = await app.inject({ method: 'GET', url: '/ui/status.js' });
    assert.equal(js.statusCode, 200);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    const css = await app.inject({ method: 'GET', url: '/ui/status.css' });
    assert.equal(css.statusCode, 200);
  });
});

describe('what the status says', () => {
  test('should list each region with its front ends, workers, capacity per version, sessions and calls', async () => {
    const calls = new CallWindow();
    for (let i = 0; i < 20; i++) calls.record(i < 19 ? 5 : 400, i === 19);
    beat({
      region: 'r2',
      kind: 'grpc-proxy',
      instanceId: 'p2',
      collect: () => ({ sessions: 3, calls: calls.summary() }),
    });
    beat({ region: 'r2', kind: 'invocation', instanceId: 'i2', collect: () => ({ sessions: 1 }) });
    const w1 = beat({
      region: 'r2',
      kind: 'worker',
      instanceId: 'w1',
      collect: () => ({ versionId: VERSION, capacity: 8, freeCapacity: 6, sessions: 2 }),
    });
    beat({
      region: 'r2',
      kind: 'worker',
      instanceId: 'w2',
      collect: () => ({ versionId: VERSION, capacity: 4, freeCapacity: 3, sessions: 1 }),
    });
    beat({ region: 'r3', kind: 'worker', instanceId: 'w3', collect: () => ({ versionId: VERSION, freeCapacity: 1 }) });
    const read = async () => {
      const res = await app.inject({
        method: 'GET',
        url: '/v1/status',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(res.statusCode, 200);
      return res.json() as StatusDocument;
    };
    await waitFor(async () => (await read()).regions.find((r) => r.region === 'r2')?.workers.length === 2);
    const doc = await read();
    assert.deepEqual(
      doc.regions.map((r) => [r.region, r.healthy]),
      [
        ['r1', true],
        ['r2', true],
        ['r3', false],
      ],
    );
    const r2 = doc.regions[1];
    assert.deepEqual(
      r2.proxies.map((p) => [p.instanceId, p.sessions, p.calls?.count, p.calls?.errors]),
      [['p2', 3, 20, 1]],
    );
    assert.deepEqual(
      r2.invocations.map((i) => [i.instanceId, i.sessions]),
      [['i2', 1]],
    );
    assert.deepEqual(r2.versions, [{ versionId: VERSION, workers: 2, capacity: 12, freeCapacity: 9, sessions: 3 }]);
    assert.equal(r2.sessions, 3);
    assert.equal(r2.calls.count, 20);
    assert.equal(r2.calls.errors, 1);
    assert.ok(r2.calls.worstP50Ms !== undefined && r2.calls.worstP50Ms >= 5 && r2.calls.worstP50Ms <= 5.5);
    assert.ok(r2.calls.worstP95Ms !== undefined && r2.calls.worstP95Ms >= 5 && r2.calls.worstP95Ms <= 5.5);

    // A worker that stops leaves the status at once (its last beat says so).
    await w1.stop();
    await waitFor(async () => (await read()).regions.find((r) => r.region === 'r2')?.workers.length === 1);
    const after = (await read()).regions[1];
    assert.deepEqual(after.versions, [{ versionId: VERSION, workers: 1, capacity: 4, freeCapacity: 3, sessions: 1 }]);
  });
});
