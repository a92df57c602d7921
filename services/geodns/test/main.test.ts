// services/geodns/src/main.ts as a process: bad config exits 1 listing every problem; good config
// prints one ready line, answers over UDP and TCP, and exits 0 on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { HeartbeatPublisher } from '@switchyard/region-health';
import { promtoolCheckMetrics, sampleValue, startNats, startPrometheus, stopAll, waitFor } from '@switchyard/testkit';
import { addressesOf, query, subnetOf } from './dns-client.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

after(() => stopAll());

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH ?? '', SWITCHYARD_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  return { child, out: () => stdout, err: () => stderr };
}

test('should exit 1 listing every configuration problem at once', async () => {
  const { child, err } = run({
    SWITCHYARD_PORT: 'dns',
    SWITCHYARD_GEO_REGIONS: '{"us-east":{"lat":99,"lon":0}}',
    SWITCHYARD_DEFAULT_REGION: 'mars',
  });
  const [code] = await once(child, 'exit');
  assert.equal(code, 1);
  for (const name of [
    'SWITCHYARD_PORT',
    'SWITCHYARD_NATS_SERVERS',
    'SWITCHYARD_GEO_REGIONS',
    'SWITCHYARD_DEFAULT_REGION',
  ])
    assert.match(err(), new RegExp(name));
});

test('D1: should print one ready line, answer over UDP and TCP, and exit 0 on SIGTERM', async () => {
  const nats = await startNats({});
  const nc = await connect({ servers: nats.url });
  const beats = ['us-east', 'eu-west'].map(
    (region) => new HeartbeatPublisher(nc, { region, kind: 'grpc-proxy', instanceId: 'p', intervalMs: 300 }),
  );
  for (const b of beats) b.start();
  const { child, out, err } = run({
    SWITCHYARD_NATS_SERVERS: nats.url,
    SWITCHYARD_HOST: '127.0.0.1',
    SWITCHYARD_PORT: '0',
    SWITCHYARD_DOMAIN: 'switchyard.local',
    SWITCHYARD_GEO_REGIONS: JSON.stringify({
      'us-east': { lat: 39, lon: -77.5, addresses: { grpc: ['127.0.0.11'] } },
      'eu-west': { lat: 53.3, lon: -6.3, addresses: { grpc: ['127.0.0.12'] } },
    }),
  });
  try {
    await waitFor(() => out().includes('\n') || child.exitCode !== null, { timeoutMs: 20_000 });
    const line = JSON.parse(out().split('\n')[0]);
    assert.deepEqual(
      line,
      { ready: true, service: 'geodns', port: line.port, healthyRegions: line.healthyRegions, metrics: line.metrics },
      err(),
    );
    assert.match(line.metrics, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/, 'metrics on by default, on loopback');
    assert.ok(Array.isArray(line.healthyRegions), 'the ready line lists the regions it has heard from');
    assert.ok(line.port > 0);
    await waitFor(async () => {
      const r = await query(line.port, 'grpc.switchyard.local', { subnet: '8.8.8.0/24' });
      return addressesOf(r)[0] === '127.0.0.11' && subnetOf(r)?.scopePrefixLength === 24;
    });
    const eu = await query(line.port, 'grpc.switchyard.local', { subnet: '81.2.69.0/24', transport: 'tcp' });
    assert.deepEqual(addressesOf(eu), ['127.0.0.12']);
    const local = await query(line.port, 'grpc.switchyard.local');
    assert.deepEqual(addressesOf(local), ['127.0.0.11'], 'unknown location: the default (first) region');
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    assert.equal(code, 0, err());
    assert.equal(out().trim().split('\n').length, 1);
  } finally {
    child.kill('SIGKILL');
    await Promise.all(beats.map((b) => b.stop()));
    await nc.close();
    await nats.stop();
  }
});

test('should serve /healthz, /readyz following NATS (503 while stopped, 200 after restart) and metrics Prometheus scrapes', async () => {
  const nats = await startNats({});
  const { child, out, err } = run({
    SWITCHYARD_NATS_SERVERS: nats.url,
    SWITCHYARD_HOST: '127.0.0.1',
    SWITCHYARD_PORT: '0',
    SWITCHYARD_DOMAIN: 'switchyard.local',
    SWITCHYARD_GEO_REGIONS: JSON.stringify({ 'us-east': { lat: 39, lon: -77.5, addresses: { grpc: ['127.0.0.11'] } } }),
  });
  let prometheus: Awaited<ReturnType<typeof startPrometheus>> | undefined;
  try {
    await waitFor(() => out().includes('\n') || child.exitCode !== null, { timeoutMs: 20_000 });
    const line = JSON.parse(out().split('\n')[0]);
    const metricsUrl = new URL(line.metrics, 'http://x');
    const base = metricsUrl.origin;
    assert.equal((await fetch(`${base}/healthz`)).status, 200, err());
    assert.equal((await fetch(`${base}/readyz`)).status, 200, err());
    await query(line.port, 'grpc.switchyard.local');
    await query(line.port, 'grpc.switchyard.local', { subnet: '8.8.8.0/24' });
    // ECS present or not is a label of the query counter; the scrape passes promtool's checks.
    const text = await (await fetch(line.metrics)).text();
    assert.equal(sampleValue(text, 'switchyard_dns_queries_total', { dns_ecs: 'true' }), 1, text);
    assert.equal(sampleValue(text, 'switchyard_dns_queries_total', { dns_ecs: 'false' }), 1, text);
    const promtool = promtoolCheckMetrics(text);
    assert.equal(promtool.status, 0, promtool.output);

    prometheus = await startPrometheus([metricsUrl.host]);
    const scraped = async (promql: string) => {
      let samples: Awaited<ReturnType<NonNullable<typeof prometheus>['query']>> = [];
      await waitFor(
        async () => {
          samples = (await prometheus?.query(promql)) ?? [];
          return samples.length > 0;
        },
        { timeoutMs: 30_000, what: promql },
      );
      return samples;
    };
    const [dns] = await scraped('switchyard_dns_queries_total');
    assert.equal(dns.metric.switchyard_region, 'global');
    assert.match(dns.metric.dns_rcode, /^[A-Z]+$/);
    assert.equal(dns.metric.dns_transport, 'udp');
    assert.match(dns.metric.dns_ecs, /^(true|false)$/);
    assert.ok('dns_answer_region' in dns.metric || dns.metric.dns_rcode !== 'NOERROR', JSON.stringify(dns.metric));
    const [nats1] = await scraped('switchyard_dependency_connected{switchyard_dependency="nats"}');
    assert.equal(nats1.value, 1);
    await scraped('switchyard_ready == 1');
    // A configured region is 0 from the first scrape; its first beat makes it 1, with the beat's age.
    assert.ok(
      text.includes('switchyard_region_healthy{switchyard_heartbeat_region="us-east"'),
      'a configured region that never beat is scraped as 0',
    );
    await scraped('switchyard_region_healthy{switchyard_heartbeat_region="us-east"} == 0');
    const beatNc = await connect({ servers: nats.url });
    const beat = new HeartbeatPublisher(beatNc, {
      region: 'us-east',
      kind: 'grpc-proxy',
      instanceId: 'p',
      intervalMs: 300,
    });
    beat.start();
    await scraped('switchyard_region_healthy{switchyard_heartbeat_region="us-east"} == 1');
    const [age] = await scraped('switchyard_region_heartbeat_age_seconds{switchyard_heartbeat_region="us-east"}');
    assert.ok(age.value >= 0 && age.value < 30, JSON.stringify(age));
    await beat.stop();
    await beatNc.close();

    await nats.stop();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 503, {
      timeoutMs: 20_000,
      what: '/readyz 503',
    });
    const down = (await (await fetch(`${base}/readyz`)).json()) as { ready: boolean; checks: Record<string, boolean> };
    assert.deepEqual(down, {
      ready: false,
      checks: { nats: false },
      reasons: [{ check: 'nats', message: 'nats: not connected' }],
    });
    assert.equal((await fetch(`${base}/healthz`)).status, 200, 'alive while NATS is down');
    await scraped('switchyard_ready == 0');

    await nats.restart();
    await waitFor(async () => (await fetch(`${base}/readyz`)).status === 200, {
      timeoutMs: 30_000,
      what: '/readyz 200',
    });
    await scraped('switchyard_dependency_reconnects_total{switchyard_dependency="nats"} >= 1');
  } finally {
    child.kill('SIGKILL');
    await prometheus?.stop();
    await nats.stop();
  }
});
