// Tracing helpers and log correlation with the real SDK (NodeSDK started by startTelemetry, no
// exporter configured): trace IDs in log lines, parent-based sampling, children only under recording
// spans, propagation headers in and out.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { overrideEnv } from '@switchyard/testkit';
import {
  context,
  contextFromHeaders,
  createLogger,
  endGrpcSpan,
  grpcMethodOf,
  injectTraceHeaders,
  remoteParentToFollow,
  SpanKind,
  startChildSpan,
  startSpan,
  startTelemetry,
  type Telemetry,
  trace,
  tracerFor,
} from '../src/index.ts';

function lines(): { stream: Writable; read: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const read = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { stream, read };
}

const SAMPLED = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const UNSAMPLED = '00-0af7651916cd43dd8448eb211c80319d-b7ad6b7169203332-00';

describe('tracing without an exporter', () => {
  let telemetry: Telemetry;
  let restoreEnv: () => void;
  before(async () => {
    restoreEnv = overrideEnv({ OTEL_TRACES_EXPORTER: undefined, OTEL_TRACES_SAMPLER: undefined });
    telemetry = await startTelemetry({ service: 'test', region: 'eu', instanceId: 't-1' });
  });
  after(async () => {
    await telemetry.shutdown();
    restoreEnv();
  });

  test('a log line inside a span carries trace_id and span_id; one outside carries neither', () => {
    const out = lines();
    const log = createLogger({ service: 'test', destination: out.stream });
    const tracer = tracerFor('test');
    const { span, ctx } = startSpan(tracer, 'call', SpanKind.SERVER, contextFromHeaders({ traceparent: SAMPLED }));
    log.info('outside');
    context.with(ctx, () => log.info({ reqId: 'r' }, 'inside'));
    span.end();
    const [outside, inside] = out.read();
    assert.equal(outside.trace_id, undefined);
    assert.equal(outside.span_id, undefined);
    assert.equal(inside.trace_id, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(inside.span_id, span.spanContext().spanId);
    assert.equal(inside.reqId, 'r');
  });

  test('parent-based: a sampled client trace records, an unsampled one and a new root do not', () => {
    const tracer = tracerFor('test');
    const sampled = startSpan(tracer, 's', SpanKind.SERVER, contextFromHeaders({ traceparent: SAMPLED }));
    const unsampled = startSpan(tracer, 'u', SpanKind.SERVER, contextFromHeaders({ traceparent: UNSAMPLED }));
    const root = startSpan(tracer, 'r', SpanKind.SERVER, contextFromHeaders({}), () => {
      throw new Error('attributes must not be built for a dropped span');
    });
    assert.equal(sampled.span.isRecording(), true);
    assert.equal(unsampled.span.isRecording(), false);
    assert.equal(root.span.isRecording(), false);
    assert.equal(unsampled.span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319d');
    assert.notEqual(root.span.spanContext().traceId, '00000000000000000000000000000000');

    // Children only under a recording span; none (nothing allocated) under a dropped one.
    const child = startChildSpan(tracer, 'child', SpanKind.CLIENT, () => ({ a: 1 }), sampled.ctx);
    assert.ok(child?.isRecording());
    assert.equal(
      startChildSpan(tracer, 'child', SpanKind.CLIENT, () => assert.fail('not built'), unsampled.ctx),
      undefined,
    );
    assert.equal(startChildSpan(tracer, 'child', SpanKind.CLIENT, undefined, context.active()), undefined);

    // Outgoing headers name the child (sampled) or the dropped server span (unsampled, flags 00).
    const out = injectTraceHeaders(trace.setSpan(sampled.ctx, child as never), {} as Record<string, string>);
    assert.equal(out.traceparent, `00-0af7651916cd43dd8448eb211c80319c-${child?.spanContext().spanId}-01`);
    const quiet = injectTraceHeaders(unsampled.ctx, {} as Record<string, string>);
    assert.equal(quiet.traceparent, `00-0af7651916cd43dd8448eb211c80319d-${unsampled.span.spanContext().spanId}-00`);
    child?.end();
    endGrpcSpan(sampled.span, '0', true);
    unsampled.span.end();
    root.span.end();
  });

  test('remoteParentToFollow: a sampled parent is followed; an unsampled one (parent-based sampler) and none are not', () => {
    const followed = remoteParentToFollow({ traceparent: SAMPLED, 'content-type': 'application/grpc' });
    assert.equal(trace.getSpanContext(followed ?? context.active())?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(remoteParentToFollow({ traceparent: UNSAMPLED }), undefined);
    assert.equal(remoteParentToFollow({ 'content-type': 'application/grpc' }), undefined);
    // A malformed header names no parent: the context is returned, and a child would be a new root
    // for the sampler to decide (what the full path did before).
    const malformed = remoteParentToFollow({ traceparent: 'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' });
    assert.notEqual(malformed, undefined);
    assert.equal(trace.getSpanContext(malformed ?? context.active()), undefined);
    // All-zero IDs are invalid (W3C): no parent, though the flags say "not sampled".
    for (const invalid of [
      '00-00000000000000000000000000000000-b7ad6b7169203331-00',
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-00',
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-00',
    ]) {
      const ctx = remoteParentToFollow({ traceparent: invalid });
      assert.notEqual(ctx, undefined, invalid);
      assert.equal(trace.getSpanContext(ctx ?? context.active()), undefined, invalid);
    }
    // Flags other than 00/01: the sampled bit decides (03 sampled, 02 not).
    assert.equal(remoteParentToFollow({ traceparent: UNSAMPLED.replace(/-00$/, '-02') }), undefined);
    const flagged = remoteParentToFollow({ traceparent: SAMPLED.replace(/-01$/, '-03') });
    assert.equal(trace.getSpanContext(flagged ?? context.active())?.traceId, '0af7651916cd43dd8448eb211c80319c');
    // Not the canonical form (a space around it, a later version): the propagator decides, as before.
    assert.equal(remoteParentToFollow({ traceparent: ` ${UNSAMPLED}` }), undefined);
    const later = remoteParentToFollow({ traceparent: `01-${SAMPLED.slice(3)}-extra` });
    assert.equal(trace.getSpanContext(later ?? context.active())?.traceId, '0af7651916cd43dd8448eb211c80319c');
  });

  test('grpcMethodOf splits /package.Service/Method and refuses other paths', () => {
    assert.deepEqual(grpcMethodOf('/switchyard.echo.v1.Echo/Unary'), {
      service: 'switchyard.echo.v1.Echo',
      method: 'Unary',
    });
    assert.equal(grpcMethodOf('/echo'), undefined);
    assert.equal(grpcMethodOf('/a/'), undefined);
    assert.equal(grpcMethodOf(undefined), undefined);
  });
});

describe('tracing with a sampler that is not parent-based (OTEL_TRACES_SAMPLER=always_on)', () => {
  let telemetry: Telemetry;
  let restoreEnv: () => void;
  before(async () => {
    restoreEnv = overrideEnv({ OTEL_TRACES_SAMPLER: 'always_on' });
    telemetry = await startTelemetry({ service: 'test', region: 'eu', instanceId: 't-2' });
  });
  after(async () => {
    await telemetry.shutdown();
    restoreEnv();
  });

  test('remoteParentToFollow follows an unsampled parent too: the sampler, not its flag, decides', () => {
    const followed = remoteParentToFollow({ traceparent: UNSAMPLED });
    assert.equal(trace.getSpanContext(followed ?? context.active())?.traceId, '0af7651916cd43dd8448eb211c80319d');
    const { span } = startSpan(tracerFor('test'), 'c', SpanKind.CLIENT, followed ?? context.active());
    assert.equal(span.isRecording(), true);
    span.end();
  });
});
