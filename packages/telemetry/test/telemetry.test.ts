// Tests of the telemetry bootstrap (a real Prometheus endpoint over HTTP) and of the logger's redaction.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { createNoopMeter, metrics } from '@opentelemetry/api';
import { freePort } from '@switchyard/testkit';
import {
  CONSTANT_LABEL_ATTRS,
  createLogger,
  MetricNames,
  MetricSpecs,
  startTelemetry,
  TelemetryError,
} from '../src/index.ts';

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function collect(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('startTelemetry', () => {
  test('should expose a counter created from meter on GET /metrics', async () => {
    const port = await freePort();
    const telemetry = await startTelemetry({
      service: 'grpc-proxy',
      region: 'eu',
      instanceId: 'proxy-1',
      metricsPort: port,
      metricsHost: '127.0.0.1',
    });
    try {
      assert.equal(telemetry.metricsPort, port);
      const calls = telemetry.meter.createCounter('switchyard.calls', { description: 'calls' });
      calls.add(3, { 'switchyard.outcome': 'ok' });
      const duration = telemetry.meter.createHistogram(MetricNames.callDuration, { unit: 's' });
      duration.record(12.5);
      const text = await scrape(port);
      assert.match(text, /^switchyard_calls_total\{.*switchyard_outcome="ok".*\} 3/m);
      assert.match(text, /switchyard_region="eu"/);
      assert.match(text, /service_instance_id="proxy-1"/);
      assert.match(text, /switchyard_call_duration_seconds_count\{.*\} 1/);
      telemetry.tracer.startActiveSpan('span', (span) => {
        assert.notEqual(span.spanContext().traceId, '00000000000000000000000000000000');
        span.end();
      });
    } finally {
      await telemetry.shutdown();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`));
  });

  test('should bind an ephemeral port when metricsPort is 0', async () => {
    const telemetry = await startTelemetry({ service: 'api', region: 'us', instanceId: 'a-1', metricsPort: 0 });
    try {
      assert.ok((telemetry.metricsPort ?? 0) > 0);
      assert.equal(telemetry.metricsUrl, `http://127.0.0.1:${telemetry.metricsPort}/metrics`);
      const res = await fetch(telemetry.metricsUrl ?? '');
      assert.equal(res.status, 200);
      // Node runtime series from @opentelemetry/instrumentation-runtime-node.
      assert.match(await res.text(), /^v8js_memory_heap_used\{/m);
    } finally {
      await telemetry.shutdown();
    }
  });

  test('should serve nothing and record nothing when metricsPort is unset (metrics disabled)', async () => {
    const telemetry = await startTelemetry({ service: 'worker', region: 'us', instanceId: 'w-1' });
    assert.equal(telemetry.metricsPort, undefined);
    assert.equal(telemetry.metricsUrl, undefined);
    // Measurements are accepted and go nowhere: the meter is the API's no-op meter, not an SDK one
    // whose storage would hash the attributes of every measurement for a reader that does not exist.
    const counter = telemetry.meter.createCounter('switchyard.tickets.published');
    counter.add(1, { a: 'b' });
    assert.equal(counter.constructor, createNoopMeter().createCounter('x').constructor);
    assert.equal(metrics.getMeterProvider().getMeter('x').constructor, createNoopMeter().constructor);
    await telemetry.shutdown();
    await telemetry.shutdown();
  });

  test('should keep two instances in one process apart', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = await startTelemetry({
      service: 'a',
      region: 'eu',
      instanceId: 'a',
      metricsPort: portA,
      metricsHost: '127.0.0.1',
    });
    const b = await startTelemetry({
      service: 'b',
      region: 'us',
      instanceId: 'b',
      metricsPort: portB,
      metricsHost: '127.0.0.1',
    });
    try {
      a.meter.createCounter('switchyard.sessions.allocated').add(1);
      b.meter.createCounter(MetricNames.tunnelsActive).add(1);
      const textA = await scrape(portA);
      const textB = await scrape(portB);
      assert.match(textA, /switchyard_sessions_allocated_total/);
      assert.doesNotMatch(textA, /switchyard_tunnels_active/);
      assert.match(textB, /switchyard_tunnels_active/);
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });

  test('should fail with TELEMETRY_METRICS_LISTEN when the port is taken', async () => {
    const port = await freePort();
    const first = await startTelemetry({
      service: 's',
      region: 'r',
      instanceId: '1',
      metricsPort: port,
      metricsHost: '127.0.0.1',
    });
    try {
      await assert.rejects(
        startTelemetry({ service: 's', region: 'r', instanceId: '2', metricsPort: port, metricsHost: '127.0.0.1' }),
        (err: unknown) => err instanceof TelemetryError && err.code === 'TELEMETRY_METRICS_LISTEN',
      );
    } finally {
      await first.shutdown();
    }
  });
});

describe('metrics endpoint', () => {
  test('should keep constant resource labels out of every metric spec (no duplicate labels)', () => {
    for (const [name, spec] of Object.entries(MetricSpecs)) {
      for (const attr of spec.attributes) {
        assert.ok(
          !(CONSTANT_LABEL_ATTRS as readonly string[]).includes(attr),
          `${name} carries constant label ${attr}`,
        );
      }
    }
  });

  test('should pass promtool check metrics for every spec recorded with its attributes', async () => {
    const port = await freePort();
    const telemetry = await startTelemetry({
      service: 'geodns',
      region: 'global',
      instanceId: 'g-1',
      metricsPort: port,
    });
    try {
      for (const [name, spec] of Object.entries(MetricSpecs)) {
        const attrs = Object.fromEntries(spec.attributes.map((a) => [a, 'x']));
        const opts = { description: spec.description, unit: spec.unit };
        if (spec.type === 'counter') telemetry.meter.createCounter(name, opts).add(1, attrs);
        else if (spec.type === 'observableCounter')
          telemetry.meter.createObservableCounter(name, opts).addCallback((r) => r.observe(1, attrs));
        else if (spec.type === 'histogram') telemetry.meter.createHistogram(name, opts).record(1, attrs);
        else telemetry.meter.createObservableGauge(name, opts).addCallback((r) => r.observe(1, attrs));
      }
      const text = await scrape(port);
      assert.match(text, /switchyard_dns_queries_total\{[^}]*dns_answer_region="x"/);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.error, undefined, 'promtool must be installed (Debian package prometheus)');
      // Exit 0 (clean) or 3 (lint warnings only, e.g. naming advice); 1 means an invalid exposition.
      assert.notEqual(check.status, 1, `${check.stdout}${check.stderr}`);
      assert.doesNotMatch(`${check.stdout}${check.stderr}`, /error while linting|duplicate/i);
    } finally {
      await telemetry.shutdown();
    }
  });

  test('should bind loopback by default and serve /healthz and /readyz from readiness checks', async () => {
    const port = await freePort();
    const telemetry = await startTelemetry({
      service: 'grpc-proxy',
      region: 'eu',
      instanceId: 'p-1',
      metricsPort: port,
    });
    try {
      const base = `http://127.0.0.1:${port}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      assert.equal((await fetch(`${base}/readyz`)).status, 200, 'no checks: ready');
      let natsUp = false;
      telemetry.addReadinessCheck('nats', () => natsUp);
      telemetry.addReadinessCheck('broken', () => {
        throw new Error('boom');
      });
      const down = await fetch(`${base}/readyz`);
      assert.equal(down.status, 503);
      assert.deepEqual(await down.json(), {
        ready: false,
        checks: { nats: false, broken: false },
        reasons: [
          { check: 'nats', message: 'nats: check failed' },
          { check: 'broken', message: 'broken: check threw: boom' },
        ],
      });
      // A check may name what is wrong; a `false` uses the reason given with the check.
      telemetry.addReadinessCheck('broken', () => ({ reason: 'process 1 (pid 42) is not answering /readyz' }));
      telemetry.addReadinessCheck('nats', () => natsUp, 'nats: not connected');
      assert.deepEqual(((await (await fetch(`${base}/readyz`)).json()) as { reasons: unknown }).reasons, [
        { check: 'nats', message: 'nats: not connected' },
        { check: 'broken', message: 'process 1 (pid 42) is not answering /readyz' },
      ]);
      telemetry.addReadinessCheck('broken', () => true);
      natsUp = true;
      const up = await fetch(`${base}/readyz`);
      assert.equal(up.status, 200);
      assert.deepEqual(await up.json(), { ready: true, checks: { nats: true, broken: true }, reasons: [] });
      assert.equal((await fetch(`${base}/nope`)).status, 404);
    } finally {
      await telemetry.shutdown();
    }
  });
});

describe('createLogger', () => {
  test('should redact authorization, apiKey and token at any depth', () => {
    const out = collect();
    const logger = createLogger({ service: 'api', region: 'eu', destination: out.stream });
    logger.info(
      {
        authorization: 'Bearer top-secret',
        req: { headers: { authorization: 'Bearer nested-secret', host: 'x' } },
        apiKey: 'nvapi-123',
        account: { token: 'tok' },
      },
      'hello',
    );
    const [line] = out.lines();
    assert.equal(line.msg, 'hello');
    assert.equal(line.service, 'api');
    assert.equal(line.region, 'eu');
    assert.equal(line.level, 'info');
    assert.equal(line.authorization, '[REDACTED]');
    assert.deepEqual(line.req, { headers: { authorization: '[REDACTED]', host: 'x' } });
    assert.equal(line.apiKey, '[REDACTED]');
    assert.deepEqual(line.account, { token: '[REDACTED]' });
    assert.doesNotMatch(JSON.stringify(out.lines()), /secret|nvapi-123|tok"/);
  });

  test('should honour SWITCHYARD_LOG_LEVEL and write JSON to stderr', () => {
    const script = [
      `import { createLogger } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};`,
      "const logger = createLogger({ service: 'cli' });",
      "logger.info('hidden');",
      "logger.warn({ authorization: 'Bearer x' }, 'shown');",
    ].join('\n');
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, '');
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].msg, 'shown');
    assert.equal(lines[0].authorization, '[REDACTED]');
  });
});
