// Tunnel, worker and dependency series (issue 9 item 1, docs/observability.md) scraped from the real
// /metrics endpoints of a region running as processes (api, grpc-proxy, invocation, workers, Redis,
// nats-server), while real traffic flows: a gRPC session (capacity used goes up, then down when its
// reconnect window runs out), a refused CONNECT, an HTTP call to a container that is not there, and a
// resume whose worker was killed (NATS "no responders"). Names are the catalogue's, as a scrape shows them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TUNNEL_CONNECT_PATH, TunnelHeaders } from '@switchyard/protocol';
import { type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import {
  freePort,
  promtoolCheckMetrics,
  sampleValue,
  scrapeMetrics,
  startPrometheus,
  waitFor,
} from '@switchyard/testkit';
import { echoClient, unary } from '../services/worker/test/helpers.ts';
import { adminApi } from './admin-api.ts';

const REGION = 'wkm';
const ADMIN_TOKEN = `wkm_${randomBytes(12).toString('hex')}`;
/** Reconnect window of the echo function (ms): a closed client's session ends this long after. */
const WINDOW_MS = 1_500;

let launch: RegionsLaunch;
let stateDir: string;
let apiKey = '';
let echoFn = { functionId: '', versionId: '' };
let brokenFn = { functionId: '', versionId: '' };
let echoWorker: LaunchedChild;
let brokenWorker: LaunchedChild;

const api = adminApi(() => launch.regions[REGION].endpoints.api, ADMIN_TOKEN);

/** The metrics URL a child printed in its ready line. */
function metricsOf(child: LaunchedChild | undefined): string {
  const url = child?.readyLine?.metrics;
  assert.equal(typeof url, 'string', `${child?.name} prints its metrics URL`);
  return url as string;
}

const proxyMetrics = () => metricsOf(launch.regions[REGION].services['grpc-proxy']);
const invocationMetrics = () => metricsOf(launch.regions[REGION].services.invocation);

/** Waits until `check(scrape of url)` holds; returns that scrape. */
async function scrapeUntil(url: string, check: (text: string) => boolean, what: string): Promise<string> {
  let text = '';
  await waitFor(
    async () => {
      text = await scrapeMetrics(url);
      return check(text);
    },
    { timeoutMs: 30_000, what },
  );
  return text;
}

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'switchyard-wkm-'));
  launch = await launchRegions({
    regions: [{ name: REGION }],
    stateDir,
    logDir: join(stateDir, 'logs'),
    redis: true,
    services: ['api', 'grpc-proxy', 'invocation'],
    adminToken: ADMIN_TOKEN,
    samples: () => [{ name: 'echo', sample: 'echo', instanceId: 'echo-1' }],
  });
  const region = launch.regions[REGION];
  echoFn = await api('POST', '/v1/functions', { name: 'echo', kind: 'grpc', reconnectWindowMs: WINDOW_MS });
  brokenFn = await api('POST', '/v1/functions', { name: 'broken', kind: 'http', inferenceUrl: '/echo' });
  apiKey = (await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'metrics' })).key;
  const deadPort = await freePort();
  echoWorker = launch.startWorker({
    region: REGION,
    name: 'worker-echo',
    functionId: echoFn.functionId,
    versionId: echoFn.versionId,
    upstream: `grpc://127.0.0.1:${region.samples.echo.port}`,
    concurrency: 4,
    callbackAllowList: ['http://127.0.0.1:'],
  });
  // A container that is not there: every call it gets fails on the container side.
  brokenWorker = launch.startWorker({
    region: REGION,
    name: 'worker-broken',
    functionId: brokenFn.functionId,
    versionId: brokenFn.versionId,
    upstream: `http://127.0.0.1:${deadPort}`,
    concurrency: 2,
    callbackAllowList: ['http://127.0.0.1:'],
  });
  await launch.waitReady([echoWorker, brokenWorker]);
});

after(async () => {
  await launch?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
});

test('should initialise worker, tunnel and dependency series at start (absent() and rate() work from the first scrape)', async () => {
  const worker = await scrapeMetrics(metricsOf(echoWorker));
  const ver = { switchyard_function_version_id: echoFn.versionId };
  assert.equal(sampleValue(worker, 'switchyard_worker_capacity', ver), 4);
  assert.equal(sampleValue(worker, 'switchyard_worker_capacity_used', ver), 0);
  for (const kind of ['unavailable', 'failed', 'reset'])
    assert.equal(sampleValue(worker, 'switchyard_container_errors_total', { switchyard_error_kind: kind }), 0, kind);
  assert.equal(sampleValue(worker, 'switchyard_worker_reconnect_expiries_total'), 0);
  for (const kind of ['no_responders', 'timeout', 'other'])
    assert.equal(
      typeof sampleValue(worker, 'switchyard_dependency_request_errors_total', {
        switchyard_dependency: 'nats',
        switchyard_error_kind: kind,
      }),
      'number',
      `nats ${kind} on the worker`,
    );
  // The worker's KV record writes and ticket pulls are timed.
  await scrapeUntil(
    metricsOf(echoWorker),
    (t) =>
      (sampleValue(t, 'switchyard_dependency_operation_duration_seconds_count', {
        switchyard_dependency: 'nats',
        switchyard_operation: 'consumer_fetch',
      }) ?? 0) >= 1,
    'consumer_fetch timed on the worker',
  );

  for (const url of [proxyMetrics(), invocationMetrics()]) {
    const text = await scrapeMetrics(url);
    for (const reason of [
      'ping_timeout',
      'goaway_received',
      'error',
      'closed_locally',
      'replaced',
      'connection_closed',
    ])
      assert.equal(
        typeof sampleValue(text, 'switchyard_tunnels_closed_total', { switchyard_tunnel_close_reason: reason }),
        'number',
        `${url} ${reason}`,
      );
    for (const status of ['200', '401', '403', '404'])
      assert.equal(
        typeof sampleValue(text, 'switchyard_tunnel_connects_total', { http_response_status_code: status }),
        'number',
        `${url} CONNECT ${status}`,
      );
    assert.equal(typeof sampleValue(text, 'switchyard_tunnels_opened_total'), 'number', url);
  }
  // Redis commands of the invocation service (its 202 result store checks Redis at start).
  const inv = await scrapeUntil(
    invocationMetrics(),
    (t) =>
      (sampleValue(t, 'switchyard_dependency_operation_duration_seconds_count', { switchyard_dependency: 'redis' }) ??
        0) >= 1,
    'redis commands timed on invocation',
  );
  assert.equal(
    sampleValue(inv, 'switchyard_dependency_request_errors_total', {
      switchyard_dependency: 'redis',
      switchyard_error_kind: 'timeout',
    }),
    0,
  );
});

test('a gRPC session: tunnel opened, token age and CONNECT 200 at the proxy; capacity used up, then down when its window runs out', async () => {
  const before = await scrapeMetrics(proxyMetrics());
  const client = echoClient(launch.regions[REGION].endpoints.grpc);
  const md = { authorization: `Bearer ${apiKey}`, 'function-id': echoFn.functionId };
  const first = await unary(client, {}, md);
  await unary(client, {}, { ...md, 'nvcf-reqid': first.reqId });
  const ver = { switchyard_function_version_id: echoFn.versionId };
  const held = await scrapeUntil(
    metricsOf(echoWorker),
    (t) => sampleValue(t, 'switchyard_worker_capacity_used', ver) === 1,
    'capacity used 1 while the session is held',
  );
  assert.ok(
    (sampleValue(held, 'switchyard_container_call_duration_seconds_count', { switchyard_outcome: '0' }) ?? 0) >= 2,
    'both calls timed with outcome 0',
  );
  assert.ok(
    (sampleValue(held, 'switchyard_dependency_operation_duration_seconds_count', {
      switchyard_dependency: 'nats',
      switchyard_operation: 'kv_create',
    }) ?? 0) >= 1,
    'the session record create is timed',
  );
  const proxy = await scrapeMetrics(proxyMetrics());
  const grew = (name: string, labels: Record<string, string> = {}) =>
    (sampleValue(proxy, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0);
  // The worker dialled its tunnel at start-up or for this ticket; at least one is open and counted.
  assert.ok((sampleValue(proxy, 'switchyard_tunnels_opened_total') ?? 0) >= 1, 'tunnel opened');
  assert.ok((sampleValue(proxy, 'switchyard_tunnel_connects_total', { http_response_status_code: '200' }) ?? 0) >= 1);
  assert.ok(
    grew('switchyard_tunnel_token_age_seconds_count') >= 1,
    'the ticket token was redeemed and its age recorded',
  );
  assert.ok(
    (sampleValue(proxy, 'switchyard_dependency_operation_duration_seconds_count', {
      switchyard_dependency: 'nats',
      switchyard_operation: 'stream_publish',
    }) ?? 0) >= 1,
    'the ticket publish is timed at the proxy',
  );

  client.close();
  const done = await scrapeUntil(
    metricsOf(echoWorker),
    (t) => sampleValue(t, 'switchyard_worker_capacity_used', ver) === 0,
    'capacity used back to 0 after the reconnect window',
  );
  assert.equal(sampleValue(done, 'switchyard_worker_reconnect_expiries_total'), 1);
});

test('a CONNECT with an unknown token is refused and counted by its status', async () => {
  const url = proxyMetrics();
  const before = await scrapeMetrics(url);
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: launch.regions[REGION].ports.callback,
      method: 'CONNECT',
      path: TUNNEL_CONNECT_PATH,
      headers: {
        authorization: 'Bearer not-a-token',
        [TunnelHeaders.workerId]: 'intruder',
        [TunnelHeaders.workerSecret]: randomBytes(16).toString('hex'),
      },
    });
    req.on('connect', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(status, 403);
  const text = await scrapeMetrics(url);
  const labels = { http_response_status_code: '403' };
  assert.equal(
    (sampleValue(text, 'switchyard_tunnel_connects_total', labels) ?? 0) -
      (sampleValue(before, 'switchyard_tunnel_connects_total', labels) ?? 0),
    1,
  );
});

test('an HTTP call to a container that is not there: the worker counts an unavailable container error', async () => {
  const { hostname, port } = new URL(launch.regions[REGION].endpoints.http);
  const res = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        hostname,
        port,
        method: 'POST',
        path: '/echo',
        headers: {
          host: `${brokenFn.functionId}.invocation.${hostname}:${port}`,
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
        },
      },
      (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end('{"message":"hello"}');
  });
  assert.equal(res, 503);
  const worker = await scrapeUntil(
    metricsOf(brokenWorker),
    (t) => sampleValue(t, 'switchyard_container_errors_total', { switchyard_error_kind: 'unavailable' }) === 1,
    'container error counted',
  );
  assert.equal(
    sampleValue(worker, 'switchyard_container_call_duration_seconds_count', { switchyard_outcome: '5xx' }),
    1,
  );
  assert.equal(
    sampleValue(worker, 'switchyard_worker_capacity_used', { switchyard_function_version_id: brokenFn.versionId }),
    0,
  );
  const inv = await scrapeMetrics(invocationMetrics());
  assert.ok(
    (sampleValue(inv, 'switchyard_tunnels_opened_total') ?? 0) >= 1,
    'the worker dialled the invocation service',
  );
});

test('promtool check metrics accepts a worker scrape', async () => {
  const r = promtoolCheckMetrics(await scrapeMetrics(metricsOf(echoWorker)));
  assert.equal(r.status, 0, r.output);
});

test('a real Prometheus scrapes the series under the catalogue names (no duplicate labels, every target up)', async () => {
  const targets = [proxyMetrics(), invocationMetrics(), metricsOf(echoWorker), metricsOf(brokenWorker)].map(
    (u) => new URL(u).host,
  );
  const prometheus = await startPrometheus(targets);
  try {
    const has = async (promql: string) => {
      try {
        await waitFor(async () => (await prometheus.query(promql)).length > 0, { timeoutMs: 30_000, what: promql });
      } catch (err) {
        // Show what Prometheus has of that metric, for the failure message.
        const name = /^[a-z_]+/.exec(promql.replace(/^[a-z_]+\(.*?\(/, ''))?.[0] ?? 'up';
        throw new Error(`${promql}: ${JSON.stringify(await prometheus.query(name))}`, { cause: err });
      }
    };
    await has(`count(up == 1) == ${targets.length}`);
    await has(`switchyard_worker_capacity{switchyard_function_version_id="${echoFn.versionId}"} == 4`);
    await has('switchyard_worker_capacity_used');
    await has('switchyard_container_errors_total{switchyard_error_kind="unavailable"} == 1');
    await has('switchyard_container_call_duration_seconds_bucket{le="+Inf"}');
    await has('switchyard_worker_reconnect_expiries_total >= 1');
    await has('switchyard_tunnels_opened_total{service_name="grpc-proxy"} >= 1');
    await has('switchyard_tunnels_closed_total{switchyard_tunnel_close_reason="replaced"}');
    await has('switchyard_tunnel_connects_total{http_response_status_code="403"} >= 1');
    await has('histogram_quantile(0.5, sum by (le) (switchyard_tunnel_token_age_seconds_bucket)) >= 0');
    await has(
      'switchyard_dependency_request_errors_total{switchyard_dependency="redis",switchyard_error_kind="no_responders"} == 0',
    );
    await has(
      'switchyard_dependency_operation_duration_seconds_count{switchyard_dependency="redis",service_name="invocation"} > 0',
    );
  } finally {
    await prometheus.stop();
  }
});

test('a resume whose worker was killed: the proxy counts NATS no_responders and the closed tunnel', async () => {
  const client = echoClient(launch.regions[REGION].endpoints.grpc);
  const md = { authorization: `Bearer ${apiKey}`, 'function-id': echoFn.functionId };
  const { reqId } = await unary(client, {}, md);
  client.close();
  const before = await scrapeMetrics(proxyMetrics());
  echoWorker.kill('SIGKILL');
  await echoWorker.exited;
  const closed = await scrapeUntil(
    proxyMetrics(),
    (t) =>
      (sampleValue(t, 'switchyard_tunnels_closed_total') ?? 0) >
      (sampleValue(before, 'switchyard_tunnels_closed_total') ?? 0),
    'the killed worker tunnel closed',
  );
  assert.ok(closed.length > 0);
  const again = echoClient(launch.regions[REGION].endpoints.grpc);
  try {
    await assert.rejects(unary(again, {}, { ...md, 'nvcf-reqid': reqId }, { deadlineMs: 20_000 }));
  } finally {
    again.close();
  }
  const labels = { switchyard_dependency: 'nats', switchyard_error_kind: 'no_responders' };
  await scrapeUntil(
    proxyMetrics(),
    (t) => (sampleValue(t, 'switchyard_dependency_request_errors_total', labels) ?? 0) >= 1,
    'no_responders counted at the proxy',
  );
  const after = await scrapeMetrics(proxyMetrics());
  assert.ok(
    (sampleValue(after, 'switchyard_dependency_operation_duration_seconds_count', {
      switchyard_dependency: 'nats',
      switchyard_operation: 'worker_reconnect',
    }) ?? 0) >= 1,
    'the reconnect request is timed',
  );
  assert.ok(
    (sampleValue(after, 'switchyard_dependency_operation_duration_seconds_count', {
      switchyard_dependency: 'nats',
      switchyard_operation: 'kv_get',
    }) ?? 0) >= 1,
    'the resume looked the session record up (KV get, timed)',
  );
});
