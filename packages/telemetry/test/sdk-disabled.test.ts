// OTEL_SDK_DISABLED=true (the standard OpenTelemetry switch) turns tracing off entirely, even with an
// exporter and a sampler configured: no tracer provider, context manager or propagator is registered,
// so spans are the API's non-recording ones with an invalid context and nothing is injected downstream.
// The metrics port is Switchyard's own and still serves. Its own file: the SDK registers process-wide
// providers once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trace as traceApi } from '@opentelemetry/api';
import { overrideEnv } from '@switchyard/testkit';
import {
  context,
  contextFromHeaders,
  injectTraceHeaders,
  SpanKind,
  startSpan,
  startTelemetry,
  type Telemetry,
  tracerFor,
} from '../src/index.ts';

const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('OTEL_SDK_DISABLED=true', () => {
  let telemetry: Telemetry;
  let restoreEnv: () => void;
  before(async () => {
    restoreEnv = overrideEnv({
      OTEL_SDK_DISABLED: 'true',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_TRACES_SAMPLER: 'always_on',
    });
    telemetry = await startTelemetry({ service: 'test', region: 'eu', instanceId: 't-1', metricsPort: 0 });
  });
  after(async () => {
    await telemetry.shutdown();
    restoreEnv();
  });

  test('spans do not record and carry no trace, even under a sampled client parent', () => {
    const tracer = tracerFor('test');
    const root = startSpan(tracer, 'root', SpanKind.SERVER, context.active());
    assert.equal(root.span.isRecording(), false);
    assert.equal(traceApi.isSpanContextValid(root.span.spanContext()), false);
    const parent = contextFromHeaders({ traceparent: SAMPLED });
    const child = startSpan(tracer, 'child', SpanKind.SERVER, parent);
    assert.equal(child.span.isRecording(), false);
    root.span.end();
    child.span.end();
  });

  test('no trace context is injected into the next hop', () => {
    const out: Record<string, string | undefined> = {};
    injectTraceHeaders(contextFromHeaders({ traceparent: SAMPLED }), out);
    assert.equal(out.traceparent, undefined);
  });

  test('the metrics port still serves (metrics are not the SDK)', async () => {
    const res = await fetch(`http://127.0.0.1:${telemetry.metricsPort}/metrics`);
    assert.equal(res.status, 200);
    await res.text();
  });
});
