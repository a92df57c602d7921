// The real thing, end to end (issue 9 item 6): two regions as real processes (NATS supercluster, Redis,
// api, grpc-proxy, invocation, sample containers, workers, one geodns) scraped every second by a real
// Prometheus with the repository's recording and alerting rules. The test drives gRPC sessions, local
// and cross-region resumes, a failed resume, HTTP calls, a 500, a 202 with its status poll, an SSE
// stream and DNS queries; then every panel query of every dashboard and every recording rule must run
// without error and return data, the workers dashboard's container calls come apart by protocol (gRPC
// and HTTP series), and stopping region pb's only worker must fire SwitchyardNoFreeCapacity. Prometheus
// scrapes exactly the targets a dev stack's dev.json `metrics` map gives (scripts/prometheus-targets.ts).
// "Data" means at least one series with a number: a quantile over zero rates is NaN, which Grafana
// cannot draw.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Resolver } from 'node:dns/promises';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  freePorts,
  type LaunchedChild,
  launchRegions,
  metricsUrls,
  type RegionsLaunch,
  scrapeTargets,
} from '@switchyard/region-launcher';
import { type PrometheusHandle, type PrometheusTarget, type PromSample, startPrometheus } from '@switchyard/testkit';
import { request } from 'undici';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { CONTAINER_CALLS_BY_PROTOCOL } from '../infra/grafana/src/dashboards-back.ts';
import { REGION_VARIABLE_QUERY } from '../infra/grafana/src/panels.ts';
import { echoClient, sleep, unary } from '../services/worker/test/helpers.ts';
import { adminApi } from './admin-api.ts';
import { dashboardQueries, ROOT, ruleFiles, rules, substituteVariables } from './observability-queries.ts';

const A = 'pa';
const B = 'pb';
const ADMIN_TOKEN = `prom_${randomBytes(12).toString('hex')}`;
const DOMAIN = 'switchyard.test';

let launch: RegionsLaunch;
let prom: PrometheusHandle | undefined;
let stateDir: string;
let apiKey = '';
let dnsPort = 0;
let echoFn = { functionId: '', versionId: '' };
let httpFn = { functionId: '', versionId: '' };
let onlyWorkerOfB: LaunchedChild;

const api = adminApi(() => launch.regions[A].endpoints.api, ADMIN_TOKEN);

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'switchyard-prom-e2e-'));
  launch = await launchRegions({
    regions: [{ name: A }, { name: B }],
    stateDir,
    logDir: join(stateDir, 'logs'),
    redis: true,
    services: ['api', 'grpc-proxy', 'invocation'],
    adminToken: ADMIN_TOKEN,
    dnsAddresses: true,
    samples: (region) =>
      region === A
        ? [
            { name: 'echo', sample: 'echo', instanceId: 'echo-a' },
            { name: 'http', sample: 'http', instanceId: 'http-a' },
          ]
        : [{ name: 'echo', sample: 'echo', instanceId: 'echo-b' }],
  });
  echoFn = await api('POST', '/v1/functions', { name: 'echo', kind: 'grpc' });
  httpFn = await api('POST', '/v1/functions', { name: 'http-echo', kind: 'http', inferenceUrl: '/echo' });
  apiKey = (await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'prometheus e2e' })).key;
  const worker = (region: string, name: string, fn: typeof echoFn, upstream: string) =>
    launch.startWorker({
      region,
      name,
      functionId: fn.functionId,
      versionId: fn.versionId,
      upstream,
      concurrency: 8,
      callbackAllowList: ['http://127.0.0.1:'],
    });
  const workers = [
    worker(A, 'worker-echo', echoFn, `grpc://127.0.0.1:${launch.regions[A].samples.echo.port}`),
    worker(A, 'worker-http', httpFn, `http://127.0.0.1:${launch.regions[A].samples.http.port}`),
    worker(B, 'worker-echo', echoFn, `grpc://127.0.0.1:${launch.regions[B].samples.echo.port}`),
  ];
  onlyWorkerOfB = workers[2];
  [dnsPort] = await freePorts(1, 'geodns');
  const geodns = launch.startGeodns({
    port: dnsPort,
    domain: DOMAIN,
    locations: { [A]: { lat: 39.0, lon: -77.5 }, [B]: { lat: 53.3, lon: -6.3 } },
  });
  await launch.waitReady([...workers, geodns]);

  // The metrics map as the dev stack writes it to dev.json (services/cli dev-regions.ts), and the
  // targets scripts/prometheus-targets.ts makes of it: one per process, labelled region and service.
  const metrics: Record<string, Record<string, string>> = {
    [A]: metricsUrls({ ...launch.regions[A].services, 'worker-echo': workers[0], 'worker-http': workers[1] }),
    [B]: metricsUrls({ ...launch.regions[B].services, 'worker-echo': workers[2] }),
    global: metricsUrls({ geodns }),
  };
  for (const region of [A, B])
    for (const key of ['api', 'grpc-proxy', 'invocation', 'worker-echo'])
      assert.equal(typeof metrics[region][key], 'string', `${region} ${key} printed no metrics URL`);
  assert.equal(typeof metrics.global.geodns, 'string', 'geodns printed no metrics URL');
  const targets: PrometheusTarget[] = scrapeTargets(metrics).flatMap((g) =>
    g.targets.map((address) => ({ address, labels: { ...g.labels } })),
  );
  assert.equal(targets.length, Object.values(metrics).flatMap((m) => Object.values(m)).length);
  // `for: 3s`: long enough that one slow scrape (stale for a second) fires nothing, short for the test.
  // honor_labels as infra/prometheus/scrape-config.example.yaml: the series keep their own switchyard_region.
  prom = await startPrometheus(targets, {
    ruleFiles: alertsFiring(join(stateDir, 'rules'), '3s'),
    honorLabels: true,
  });
  // Every target scraped at least once and up.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ts = await prom.targets();
    if (ts.length === targets.length && ts.every((t) => t.health === 'up')) break;
    assert.ok(Date.now() < deadline, `targets not all up: ${JSON.stringify(ts)}`);
    await sleep(250);
  }
});

after(async () => {
  await prom?.stop();
  await launch?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
});

/**
 * Copies the repository's rule files into `dir` with every alert's `for:` set to `alertFor`, so an
 * alert can fire within the test. @returns their paths.
 */
function alertsFiring(dir: string, alertFor: string): string[] {
  mkdirSync(dir, { recursive: true });
  return ruleFiles().map((file) => {
    const doc = parseYaml(readFileSync(join(ROOT, file), 'utf8')) as {
      groups: { rules: { alert?: string; for?: string }[] }[];
    };
    for (const g of doc.groups) for (const r of g.rules) if (r.alert !== undefined) r.for = alertFor;
    const out = join(dir, file.split('/').pop() ?? file);
    writeFileSync(out, stringifyYaml(doc));
    return out;
  });
}

/** gRPC: new sessions, pinned calls, a local and a cross-region resume, and a resume that finds nothing. */
async function driveGrpc(): Promise<void> {
  const md = { authorization: `Bearer ${apiKey}`, 'function-id': echoFn.functionId };
  const a = echoClient(launch.regions[A].endpoints.grpc);
  const b = echoClient(launch.regions[B].endpoints.grpc);
  try {
    const first = await unary(a, {}, md, { deadlineMs: 20_000 });
    assert.match(first.reqId, /^[0-9a-f-]{36}$/);
    for (let i = 0; i < 4; i++) await unary(a, {}, md, { deadlineMs: 20_000 });
    await unary(b, {}, md, { deadlineMs: 20_000 });
    // More new sessions per region, a scrape apart from the first: a histogram's series appears with its
    // first observation, so rate() sees only what comes after the scrape that first saw it.
    await sleep(1_500);
    for (const region of [A, B])
      for (let i = 0; i < 3; i++) {
        const fresh = echoClient(launch.regions[region].endpoints.grpc);
        try {
          await unary(fresh, {}, md, { deadlineMs: 20_000 });
        } finally {
          fresh.close();
        }
      }
    // Resumes (local, from the other region, and one that finds nothing), twice a scrape apart.
    for (let round = 0; round < 2; round++) {
      if (round > 0) await sleep(1_500);
      for (const region of [A, B]) {
        const fresh = echoClient(launch.regions[region].endpoints.grpc);
        try {
          const resumed = await unary(fresh, {}, { ...md, 'nvcf-reqid': first.reqId }, { deadlineMs: 20_000 });
          assert.equal(resumed.reqId, first.reqId);
        } finally {
          fresh.close();
        }
      }
      await assert.rejects(
        unary(a, {}, { ...md, 'nvcf-reqid': '00000000-0000-4000-8000-000000000000' }, { deadlineMs: 20_000 }),
        (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND,
      );
    }
  } finally {
    a.close();
    b.close();
  }
}

/** HTTP: calls, a 500 from the container, a 202 and its status poll, an SSE stream. */
async function driveHttp(): Promise<void> {
  const base = launch.regions[A].endpoints.http;
  const headers = {
    host: `${httpFn.functionId}.invocation.${base.replace('http://', '')}`,
    authorization: `Bearer ${apiKey}`,
  };
  for (let i = 0; i < 5; i++) {
    const res = await request(`${base}/echo`, { method: 'POST', headers, body: `hello ${i}` });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  // Concurrent requests, a scrape after the first ones: more than the worker's 8 slots, so
  // some go through tickets again (the ticket wait histogram's rate needs a second observation).
  await sleep(1_500);
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      const res = await request(`${base}/sleep?ms=300`, { headers });
      assert.equal(res.statusCode, 200);
      await res.body.dump();
    }),
  );
  const failed = await request(`${base}/status?code=500`, { headers });
  assert.equal(failed.statusCode, 500);
  await failed.body.dump();
  const accepted = await request(`${base}/sleep?ms=2500`, { headers: { ...headers, 'nvcf-poll-seconds': '1' } });
  assert.equal(accepted.statusCode, 202);
  await accepted.body.dump();
  const reqId = String(accepted.headers['nvcf-reqid']);
  let polled = 202;
  for (let i = 0; i < 10 && polled === 202; i++) {
    const poll = await request(`${base}/v2/nvcf/pexec/status/${reqId}`, {
      headers: { authorization: `Bearer ${apiKey}`, 'nvcf-poll-seconds': '5' },
    });
    polled = poll.statusCode;
    await poll.body.dump();
  }
  assert.equal(polled, 200);
  const sse = await request(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...headers, accept: 'text/event-stream', 'content-type': 'application/json', 'x-sample-delay-ms': '20' },
    body: JSON.stringify({ stream: true, max_tokens: 5, messages: [{ role: 'user', content: 'observe this' }] }),
  });
  assert.equal(sse.statusCode, 200);
  assert.match(String(sse.headers['content-type']), /text\/event-stream/);
  assert.match(await sse.body.text(), /data: \[DONE\]/);
}

/** DNS: answered queries (both regions' names) and one outside the zone, through node's resolver (c-ares). */
async function driveDns(): Promise<void> {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  assert.ok((await resolver.resolve4(`grpc.${DOMAIN}`)).length > 0);
  assert.ok((await resolver.resolve4(`api.${DOMAIN}`)).length > 0);
  await assert.rejects(resolver.resolve4('nothing.example.org'));
}

test('should return data for every dashboard panel query and recording rule, and fire an alert when the only worker of a region stops', {
  timeout: 170_000,
}, async (t) => {
  const server = prom as PrometheusHandle;
  const phase = async (what: string, run: () => Promise<void>) => {
    const started = Date.now();
    await run();
    t.diagnostic(`${what}: ${Date.now() - started} ms`);
  };
  await phase('gRPC traffic', driveGrpc);
  await phase('HTTP traffic', driveHttp);
  await phase('DNS queries', driveDns);

  // Recording rules evaluate every second; wait until the cheapest one sees both front ends of both regions.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const calls = await server.query('switchyard_region_service:switchyard_calls:rate5m');
    if (calls.length >= 2 && (await server.query('switchyard_region:switchyard_worker_capacity_free:sum')).length === 2)
      break;
    assert.ok(Date.now() < deadline, `recording rules have no data: ${JSON.stringify(calls)}`);
    await sleep(500);
  }
  await sleep(2_000);

  const recorded = rules().flatMap((r) => (r.record !== undefined ? [r.record] : []));
  const problems: string[] = [];
  const checkQuery = async (where: string, expr: string) => {
    let result: PromSample[];
    try {
      result = await server.query(expr);
    } catch (err) {
      problems.push(`${where}: query error ${(err as Error).message}`);
      return;
    }
    // Data: at least one series with a number (a quantile of zero rates is NaN, a line Grafana cannot draw).
    if (!result.some((r) => Number.isFinite(r.value)))
      problems.push(`${where}: ${result.length === 0 ? 'no data' : 'only NaN'} (${expr})`);
  };
  const queries = dashboardQueries();
  for (const q of queries) await checkQuery(`${q.dashboard} / ${q.panel} / ${q.refId}`, substituteVariables(q.expr));
  for (const name of recorded) await checkQuery(`recording rule ${name}`, name);
  t.diagnostic(`${queries.length} panel queries and ${recorded.length} recording rules run`);
  assert.deepEqual(problems, []);
  // The workers dashboard splits container calls by protocol: region pa's gRPC (echo) and HTTP
  // workers each give a series of their own, with calls in the window.
  const byProtocol = queries.find((q) => q.panel === CONTAINER_CALLS_BY_PROTOCOL);
  assert.ok(byProtocol, `a panel "${CONTAINER_CALLS_BY_PROTOCOL}"`);
  const protocolRates = await server.query(substituteVariables(byProtocol.expr));
  for (const protocol of ['grpc', 'http']) {
    const series = protocolRates.filter(
      (r) => r.metric.switchyard_region === A && r.metric.switchyard_protocol === protocol,
    );
    assert.equal(series.length, 1, `${protocol} series in ${A}: ${JSON.stringify(protocolRates)}`);
    assert.ok(series[0].value > 0, `${protocol} calls per second in ${A}: ${series[0].value}`);
  }
  const p95 = queries.find((q) => q.panel === 'Container call duration p95 by protocol and outcome');
  assert.ok(p95);
  const protocols = new Set(
    (await server.query(substituteVariables(p95.expr)))
      .filter((r) => Number.isFinite(r.value))
      .map((r) => r.metric.switchyard_protocol),
  );
  for (const protocol of ['grpc', 'http'])
    assert.ok(protocols.has(protocol), `p95 series for ${protocol}: ${[...protocols]}`);
  // Figures of this run (printed, not asserted: performance is never asserted by timed tests).
  for (const [what, expr] of [
    ['session init p95 (s)', 'switchyard_region:switchyard_session_init_duration_seconds:p95_5m'],
    ['HTTP p95 (s)', 'switchyard_region:switchyard_http_call_duration_seconds:p95_5m'],
    ['server error ratio', 'switchyard_region_service:switchyard_call_error_ratio:rate5m'],
  ])
    for (const sample of await server.query(expr))
      t.diagnostic(`${what} ${JSON.stringify(sample.metric)}: ${sample.value.toPrecision(3)}`);
  // The region variable (Grafana's label_values, run as PromQL) offers both regions and nothing else.
  const variable = /^label_values\((.+), (\w+)\)$/.exec(REGION_VARIABLE_QUERY);
  assert.ok(variable, REGION_VARIABLE_QUERY);
  const regions = (await server.query(`group by (${variable[2]}) (${variable[1]})`)).map((s) => s.metric[variable[2]]);
  assert.deepEqual(regions.sort(), [A, B]);

  // Stop region pb's only worker: its capacity series go stale and the region has no free capacity.
  const noCapacityIn = async (region: string) =>
    (await server.alerts()).find(
      (a) => a.labels.alertname === 'SwitchyardNoFreeCapacity' && a.labels.switchyard_region === region,
    );
  assert.notEqual((await noCapacityIn(B))?.state, 'firing', 'SwitchyardNoFreeCapacity before the worker stopped');
  await onlyWorkerOfB.stop();
  const fireBy = Date.now() + 30_000;
  for (;;) {
    const alert = await noCapacityIn(B);
    if (alert?.state === 'firing') break;
    assert.ok(
      Date.now() < fireBy,
      `SwitchyardNoFreeCapacity{switchyard_region="${B}"} did not fire: ${JSON.stringify(alert)}`,
    );
    await sleep(500);
  }
  assert.notEqual((await noCapacityIn(A))?.state, 'firing', `region ${A} still has free capacity`);
});
