// OTLP export with the standard OTEL_* variables set, against a real OTLP/HTTP receiver (node:http)
// started here: spans go to /v1/traces; metrics never go to /v1/metrics (NodeSDK must not start its
// own OTLP metrics exporter beside the Prometheus one), whatever the global meter records.

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { ROOT_CONTEXT, SpanKind, startSpan, startTelemetry, type Telemetry, tracerFor } from '../src/index.ts';

/** Variables this file sets; their previous values are restored after it. */
const ENV = {
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
  OTEL_TRACES_SAMPLER: 'always_on',
  OTEL_BSP_SCHEDULE_DELAY: '20',
  // Short, so that an SDK-made metrics exporter would have posted many times before shutdown.
  OTEL_METRIC_EXPORT_INTERVAL: '20',
  OTEL_METRIC_EXPORT_TIMEOUT: '20',
} as const;

describe('OTLP export from the standard OTEL_* variables', () => {
  const posts: string[] = [];
  const receiver = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      posts.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const saved = new Map<string, string | undefined>();
  let telemetry: Telemetry;

  before(async () => {
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const { port } = receiver.address() as { port: number };
    // Only these OTEL_* variables (OTEL_METRICS_EXPORTER unset: the SDK's default would be otlp).
    for (const name of new Set([
      ...Object.keys(process.env).filter((n) => n.startsWith('OTEL_')),
      ...Object.keys(ENV),
      'OTEL_EXPORTER_OTLP_ENDPOINT',
    ])) {
      saved.set(name, process.env[name]);
      delete process.env[name];
    }
    Object.assign(process.env, ENV, { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    telemetry = await startTelemetry({ service: 'otlp-test', region: 'r1', instanceId: 'i1', metricsPort: 0 });
  });

  after(async () => {
    await telemetry.shutdown();
    receiver.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  test('should export spans to /v1/traces, post nothing to /v1/metrics and serve the global meter on /metrics', async () => {
    // A library recording on the global meter (what instrumentations do) must land in Prometheus.
    metrics.getMeter('some-library').createCounter('otlp_test_library_calls').add(1);
    const { span } = startSpan(tracerFor('otlp-test'), 'otlp-test-span', SpanKind.SERVER, ROOT_CONTEXT);
    span.end();
    const scrape = await (await fetch(telemetry.metricsUrl as string)).text();
    assert.match(scrape, /^otlp_test_library_calls_total\{[^}]*\} 1$/m);
    // Shutdown flushes every provider: a span batch, and a metrics export if any exporter exists.
    await telemetry.shutdown();
    assert.ok(posts.includes('POST /v1/traces'), `no span export reached the receiver: ${posts.join(', ')}`);
    assert.deepEqual(
      posts.filter((p) => p !== 'POST /v1/traces'),
      [],
    );
  });
});
