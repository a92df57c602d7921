// infra/nats/production as deployed: three nats-servers with TLS on every port and the repository's
// accounts and least-privilege users; every service as a process with its own nkey, client
// certificate and inbox prefix. The cross-service flows work (gRPC session and resume through a
// second proxy, HTTP request, 202 and status poll, evict), and a worker's own connection cannot read
// another user's inbox, take another version's tickets, hear another version's requests or write
// control data.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { errors, type NatsConnection } from '@nats-io/nats-core';
import { loadConfig } from '@switchyard/config';
import { connectNats, NATS_REFINE_WHEN, natsConnectionFields, refineNatsConnection } from '@switchyard/nats-connect';
import { type SampleServerHandle, startEchoServer, startHttpSampleServer } from '@switchyard/sample-functions';
import { startRedis, stopAll } from '@switchyard/testkit';
import { z } from 'zod';
import { echoClient, unary } from '../services/worker/test/helpers.ts';
import { type NatsIdentity, ProductionNats, ServiceProcess } from './nats-production-stack.ts';

const REGION = 'us-east';
const ADMIN_TOKEN = 'nats-production-admin-token';
const dir = mkdtempSync(join(tmpdir(), 'switchyard-nats-production-'));
let nats: ProductionNats;
const services: ServiceProcess[] = [];
const containers: SampleServerHandle[] = [];
let api = '';
let proxyA = '';
let proxyB = '';
let invocation = '';
let apiKey = '';
let grpcFn: { functionId: string; versionId: string };
let httpFn: { functionId: string; versionId: string };

async function adminCall(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${api}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

function start(name: string, service: ConstructorParameters<typeof ServiceProcess>[1], env: Record<string, string>) {
  const proc = new ServiceProcess(name, service, { SWITCHYARD_REGION: REGION, ...env });
  services.push(proc);
  return proc;
}

function frontEnd(id: NatsIdentity, region = REGION): Record<string, string> {
  return {
    ...nats.natsEnv(region, id),
    SWITCHYARD_HOST: '127.0.0.1',
    SWITCHYARD_PORT: '0',
    SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
    SWITCHYARD_CALLBACK_PORT: '0',
    SWITCHYARD_HEARTBEAT_INTERVAL_MS: '500',
  };
}

// Version IDs are made by the API, which needs NATS: the servers start with the service users, the
// API creates the functions, and then each version's worker user is generated and added to users.conf
// with a config reload, as an operator does when a version is deployed (infra/nats/README.md).
before(async () => {
  nats = await ProductionNats.start(dir);
  const redis = await startRedis();
  const apiProc = start('api', 'api', {
    ...nats.natsEnv(REGION, nats.users.api),
    SWITCHYARD_HOST: '127.0.0.1',
    SWITCHYARD_PORT: '0',
    SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  api = `http://127.0.0.1:${(await apiProc.ready()).port}`;
  const grpcCreated = await adminCall('POST', '/v1/functions', { name: 'echo', kind: 'grpc' });
  assert.equal(grpcCreated.status, 201, JSON.stringify(grpcCreated.json));
  grpcFn = grpcCreated.json as typeof grpcFn;
  const httpCreated = await adminCall('POST', '/v1/functions', { name: 'web', kind: 'http' });
  assert.equal(httpCreated.status, 201, JSON.stringify(httpCreated.json));
  httpFn = httpCreated.json as typeof httpFn;
  apiKey = ((await adminCall('POST', '/v1/keys', {})).json as { key: string }).key;
  await nats.addWorkers([grpcFn.versionId, httpFn.versionId]);

  const [a, b, inv] = [
    start('grpc-proxy-a', 'grpc-proxy', frontEnd(nats.users['grpc-proxy'])),
    start('grpc-proxy-b', 'grpc-proxy', frontEnd(nats.users['grpc-proxy'])),
    start('invocation', 'invocation', { ...frontEnd(nats.users.invocation), SWITCHYARD_REDIS_URL: redis.url }),
  ];
  proxyA = `127.0.0.1:${(await a.ready()).port}`;
  proxyB = `127.0.0.1:${(await b.ready()).port}`;
  invocation = `http://127.0.0.1:${(await inv.ready()).port}`;

  const echo = await startEchoServer({ port: 0 });
  const web = await startHttpSampleServer({ port: 0 });
  containers.push(echo, web);
  const worker = (fn: typeof grpcFn, upstream: string) =>
    start(`worker-${fn.versionId.slice(0, 8)}`, 'worker', {
      ...nats.natsEnv(REGION, nats.workerUser(fn.versionId)),
      SWITCHYARD_FUNCTION_ID: fn.functionId,
      SWITCHYARD_VERSION_ID: fn.versionId,
      SWITCHYARD_UPSTREAM: upstream,
      SWITCHYARD_TICKET_PULL_EXPIRES_MS: '1000',
      SWITCHYARD_HEARTBEAT_INTERVAL_MS: '500',
    });
  await Promise.all([
    worker(grpcFn, `grpc://127.0.0.1:${echo.port}`).ready(),
    worker(httpFn, `http://127.0.0.1:${web.port}`).ready(),
  ]);
});

after(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await Promise.all(containers.map((c) => c.stop()));
  await nats?.stop();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

function metadata(extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${apiKey}`, 'function-id': grpcFn.functionId, ...extra };
}

describe('the production NATS files, every service with its own user over TLS', () => {
  test('should serve a gRPC session, resume it through another proxy (worker.<v>.<w>.reconnect), and evict it through the API', async () => {
    const first = echoClient(proxyA);
    const opened = await unary(first, {}, metadata(), { deadlineMs: 30_000 });
    first.close();
    assert.ok(opened.reqId, 'nvcf-reqid');
    const second = echoClient(proxyB);
    try {
      const resumed = await unary(second, {}, metadata({ 'nvcf-reqid': opened.reqId }), { deadlineMs: 30_000 });
      assert.equal(resumed.reqId, opened.reqId);
    } finally {
      second.close();
    }
    const evicted = await adminCall('DELETE', `/v1/sessions/${opened.reqId}`);
    assert.equal(evicted.status, 200, JSON.stringify(evicted.json));
    const third = echoClient(proxyA);
    try {
      await assert.rejects(
        unary(third, {}, metadata({ 'nvcf-reqid': opened.reqId }), { deadlineMs: 10_000 }),
        (err) => {
          assert.equal((err as grpc.ServiceError).code, 5, (err as grpc.ServiceError).details); // NOT_FOUND
          return true;
        },
      );
    } finally {
      third.close();
    }
  });

  test('should answer an HTTP request, and a 202 then its status poll', async () => {
    const headers = { 'function-id': httpFn.functionId, authorization: `Bearer ${apiKey}` };
    const echo = await fetch(`${invocation}/echo`, { method: 'POST', headers, body: 'hello' });
    assert.equal(echo.status, 200, await echo.clone().text());
    await echo.arrayBuffer();
    const slow = await fetch(`${invocation}/sleep?ms=2500`, { headers: { ...headers, 'nvcf-poll-seconds': '1' } });
    assert.equal(slow.status, 202);
    const reqId = slow.headers.get('nvcf-reqid') ?? '';
    await slow.arrayBuffer();
    const polled = await fetch(`${invocation}/v2/nvcf/pexec/status/${reqId}`, {
      headers: { authorization: `Bearer ${apiKey}`, 'nvcf-poll-seconds': '10' },
    });
    assert.equal(polled.status, 200, await polled.clone().text());
    assert.ok(((await polled.json()) as { sleptMs: number }).sleptMs >= 2000);
  });

  test("should show the region's front ends and workers on GET /v1/status (the api user hears health.>)", async () => {
    const deadline = Date.now() + 10_000;
    let seen = '';
    while (Date.now() < deadline) {
      const { status, json } = await adminCall('GET', '/v1/status');
      assert.equal(status, 200);
      const region = (
        json as { regions: { region: string; proxies: unknown[]; invocations: unknown[]; workers: unknown[] }[] }
      ).regions.find((r) => r.region === REGION);
      seen = JSON.stringify(region ?? null);
      if (region && region.proxies.length > 0 && region.invocations.length > 0 && region.workers.length > 0) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`the api heard no heartbeats of ${REGION} within 10 s: ${seen}`);
  });

  test('should have logged no permissions violation for any service', () => {
    assert.deepEqual(nats.violations(), []);
  });
});

describe("a worker's own NATS user", () => {
  let nc: NatsConnection;
  const serverErrors: Error[] = [];

  before(async () => {
    const id = nats.workerUser(grpcFn.versionId);
    const Schema = z
      .object({ natsServers: z.array(z.string()), ...natsConnectionFields })
      .superRefine(refineNatsConnection, NATS_REFINE_WHEN);
    const config = loadConfig(Schema, { service: 'test', env: nats.natsEnv(REGION, id) });
    nc = await connectNats(config, { name: 'test-worker' });
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') serverErrors.push(s.error);
    })();
  });
  after(() => nc?.close());

  async function violation(subject: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (serverErrors.some((e) => e instanceof errors.PermissionViolationError && e.subject === subject)) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`no permissions violation for ${subject}; saw ${serverErrors.map((e) => e.message).join('; ')}`);
  }

  test("should not subscribe to another user's inbox", async () => {
    nc.subscribe('_INBOX_grpc-proxy.>');
    await violation('_INBOX_grpc-proxy.>');
    nc.subscribe(`_INBOX_worker_${httpFn.versionId}.>`);
    await violation(`_INBOX_worker_${httpFn.versionId}.>`);
  });

  test('should not take tickets of another version (consumer workers_<other>)', async () => {
    const js = jetstream(nc);
    await assert.rejects(
      (async () =>
        (await js.consumers.get(`TICKETS_${REGION}`, `workers_${httpFn.versionId}`)).next({ expires: 1_000 }))(),
    );
    const next = `$JS.API.CONSUMER.MSG.NEXT.TICKETS_${REGION}.workers_${httpFn.versionId}`;
    nc.publish(next, JSON.stringify({ batch: 1, expires: 1e9 }), {
      reply: `${nats.workerUser(grpcFn.versionId).inboxPrefix}.x`,
    });
    await violation(next);
    // Its own consumer is allowed: the denials above are about the version.
    const jsm = await jetstreamManager(nc);
    assert.equal(
      (await jsm.consumers.info(`TICKETS_${REGION}`, `workers_${grpcFn.versionId}`)).name,
      `workers_${grpcFn.versionId}`,
    );
  });

  test("should not hear another version's worker requests (worker.<other>.>)", async () => {
    nc.subscribe(`worker.${httpFn.versionId}.>`);
    await violation(`worker.${httpFn.versionId}.>`);
    assert.ok(
      nats.violations().some((l) => l.includes(`worker.${httpFn.versionId}.>`)),
      'the server logs the violation',
    );
  });

  test('should read control buckets but not write them', async () => {
    const kv = await new Kvm(jetstream(nc)).open('ctl_functions');
    assert.ok(await kv.get(grpcFn.functionId), 'its function record is readable');
    await assert.rejects(kv.put(grpcFn.functionId, '{}'));
    await violation(`$KV.ctl_functions.${grpcFn.functionId}`);
    const keys = await new Kvm(jetstream(nc)).open('ctl_api_keys');
    await assert.rejects(keys.put('forged', '{}'));
    await violation('$KV.ctl_api_keys.forged');
    const fn = await adminCall('GET', `/v1/functions/${grpcFn.functionId}`);
    assert.equal((fn.json as { name: string }).name, 'echo', 'the record is unchanged');
  });
});

describe('a refusal at start', () => {
  test('should read "authorization violation" when the nkey is not a user', async () => {
    const stranger: NatsIdentity = { ...nats.users.geodns, seedFile: nats.newSeed('stranger') };
    const geodns = start('geodns-stranger', 'geodns', {
      ...nats.natsEnv('eu-west', stranger),
      SWITCHYARD_PORT: '0',
      SWITCHYARD_HOST: '127.0.0.1',
      SWITCHYARD_GEO_REGIONS: JSON.stringify({ 'us-east': { lat: 39, lon: -77 } }),
    });
    assert.equal(await geodns.exited, 1);
    assert.ok(
      geodns.lines.some((l) => /authorization violation/.test(l)),
      geodns.lines.join('\n'),
    );
  });

  test("should log a permissions violation naming the subject when a worker runs another version's user", async () => {
    const worker = start('worker-wrong-user', 'worker', {
      ...nats.natsEnv(REGION, nats.workerUser(grpcFn.versionId)),
      SWITCHYARD_FUNCTION_ID: httpFn.functionId,
      SWITCHYARD_VERSION_ID: httpFn.versionId,
      SWITCHYARD_UPSTREAM: 'http://127.0.0.1:1',
    });
    await worker.line(
      new RegExp(`NATS permissions violation: nkey seed .* may not subscribe to \\\\"worker\\.${httpFn.versionId}`),
    );
    await worker.stop();
  });

  test('should serve geodns over the gateway with its read-only user', async () => {
    const geodns = start('geodns', 'geodns', {
      ...nats.natsEnv('eu-west', nats.users.geodns),
      SWITCHYARD_PORT: '0',
      SWITCHYARD_HOST: '127.0.0.1',
      SWITCHYARD_GEO_REGIONS: JSON.stringify({ 'us-east': { lat: 39, lon: -77 }, 'eu-west': { lat: 53, lon: -6 } }),
    });
    await geodns.ready();
    await geodns.line(/"healthyRegions":\[[^\]]*"us-east".*healthy regions changed/);
  });
});
