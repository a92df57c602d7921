// The front ends' root fast path (root-sampling.ts) under OTEL_TRACES_SAMPLER=parentbased_traceidratio:
// new traces are sampled at the configured ratio, the dropped ones carry valid, distinct IDs and the
// `traceparent` the W3C propagator would write, sampled ones are real SDK spans, and parent-based
// decisions are unchanged. Its own file: the SDK registers process-wide providers once.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { propagation, trace as traceApi } from '@opentelemetry/api';
import { overrideEnv } from '@switchyard/testkit';
import {
  contextFromHeaders,
  injectTraceHeaders,
  ROOT_CONTEXT,
  SpanKind,
  startChildSpan,
  startSpan,
  startTelemetry,
  type Telemetry,
  tracerFor,
} from '../src/index.ts';
import { mayCarryTraceContext, samplerRatioFromEnv, setRootSampling } from '../src/root-sampling.ts';

const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const NOT_SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

describe('root sampling fast path (parentbased_traceidratio, 0.25)', () => {
  let telemetry: Telemetry;
  let restoreEnv: () => void;
  const tracer = tracerFor('test');
  before(async () => {
    restoreEnv = overrideEnv({
      OTEL_TRACES_EXPORTER: undefined,
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    telemetry = await startTelemetry({ service: 'test', region: 'eu', instanceId: 't-1' });
  });
  after(async () => {
    await telemetry.shutdown();
    restoreEnv();
  });

  test('should sample new traces at the ratio and give dropped ones valid, distinct IDs', () => {
    const n = 4000;
    let sampled = 0;
    const traceIds = new Set<string>();
    for (let i = 0; i < n; i++) {
      const { span, ctx } = startSpan(tracer, 'root', SpanKind.SERVER, ROOT_CONTEXT);
      const sc = span.spanContext();
      assert.ok(traceApi.isSpanContextValid(sc), `span ${i}: invalid context ${JSON.stringify(sc)}`);
      traceIds.add(sc.traceId);
      if (span.isRecording()) {
        sampled++;
        assert.equal(sc.traceFlags & 1, 1);
        // A sampled root is the SDK's own span: its children record.
        const child = startChildSpan(tracer, 'child', SpanKind.INTERNAL, undefined, ctx);
        assert.equal(child?.isRecording(), true);
        assert.equal(child?.spanContext().traceId, sc.traceId);
        child?.end();
      } else assert.equal(sc.traceFlags, 0);
      span.end();
    }
    assert.equal(traceIds.size, n);
    // Binomial(4000, 0.25): mean 1000, sd 27.4; the bounds are 5.5 sd away.
    assert.ok(sampled > 850 && sampled < 1150, `sampled ${sampled} of ${n}`);
  });

  test('should write the traceparent the W3C propagator writes for a dropped root', () => {
    for (let i = 0; i < 200; i++) {
      const { span, ctx } = startSpan(tracer, 'root', SpanKind.SERVER, contextFromHeaders({}));
      const ours = injectTraceHeaders(ctx, {} as Record<string, unknown>);
      const theirs: Record<string, unknown> = {};
      propagation.inject(ctx, theirs);
      assert.deepEqual(ours, theirs);
      assert.match(String(ours.traceparent), /^00-[\da-f]{32}-[\da-f]{16}-0[01]$/);
      span.end();
    }
  });

  test('should leave a root with client baggage to the propagators (baggage travels on)', () => {
    const parent = contextFromHeaders({ baggage: 'tenant=acme' });
    const { span, ctx } = startSpan(tracer, 'root', SpanKind.SERVER, parent);
    const out = injectTraceHeaders(ctx, {} as Record<string, unknown>);
    assert.equal(out.baggage, 'tenant=acme');
    assert.match(String(out.traceparent), /^00-[\da-f]{32}-[\da-f]{16}-0[01]$/);
    span.end();
  });

  test('should skip the propagators only for headers they would take nothing from', () => {
    const base = ROOT_CONTEXT.setValue(Symbol('base'), 1);
    // No propagation header (a tracestate alone is ignored by the W3C propagator): the base itself.
    for (const headers of [{}, { tracestate: 'k=v' }, { 'content-type': 'application/json' }])
      assert.equal(contextFromHeaders(headers, base), base);
    // Anything else goes through the propagators and comes out as they make it.
    for (const headers of [
      { traceparent: SAMPLED },
      { traceparent: NOT_SAMPLED, tracestate: 'k=v' },
      { traceparent: 'not-a-traceparent' },
      { baggage: 'tenant=acme' },
    ]) {
      const ours = contextFromHeaders(headers, base);
      const theirs = propagation.extract(base, headers);
      assert.deepEqual(traceApi.getSpanContext(ours), traceApi.getSpanContext(theirs));
      assert.deepEqual(propagation.getBaggage(ours)?.getAllEntries(), propagation.getBaggage(theirs)?.getAllEntries());
    }
    // Other propagators (OTEL_PROPAGATORS=b3, say) may read other headers: always asked.
    const restoreEnv = overrideEnv({ OTEL_PROPAGATORS: 'b3' });
    try {
      setRootSampling(0.25);
      assert.equal(mayCarryTraceContext({}), true);
    } finally {
      restoreEnv();
      setRootSampling(0.25);
    }
    assert.equal(mayCarryTraceContext({}), false);
  });

  test('should keep parent-based decisions: a sampled client parent is followed, an unsampled one is not', () => {
    const sampled = startSpan(tracer, 'call', SpanKind.SERVER, contextFromHeaders({ traceparent: SAMPLED }));
    assert.equal(sampled.span.isRecording(), true);
    assert.equal(sampled.span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    const dropped = startSpan(tracer, 'call', SpanKind.SERVER, contextFromHeaders({ traceparent: NOT_SAMPLED }));
    assert.equal(dropped.span.isRecording(), false);
    assert.equal(dropped.span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    const out = injectTraceHeaders(dropped.ctx, {} as Record<string, unknown>);
    assert.match(String(out.traceparent), /^00-0af7651916cd43dd8448eb211c80319c-[\da-f]{16}-00$/);
    sampled.span.end();
    dropped.span.end();
  });

  test('should read OTEL_TRACES_SAMPLER_ARG as NodeSDK does', () => {
    assert.equal(samplerRatioFromEnv({ OTEL_TRACES_SAMPLER_ARG: '0.01' }), 0.01);
    assert.equal(samplerRatioFromEnv({ OTEL_TRACES_SAMPLER_ARG: ' 0 ' }), 0);
    assert.equal(samplerRatioFromEnv({}), 1);
    assert.equal(samplerRatioFromEnv({ OTEL_TRACES_SAMPLER_ARG: 'half' }), 1);
    assert.equal(samplerRatioFromEnv({ OTEL_TRACES_SAMPLER_ARG: '1.5' }), 1);
  });
});
