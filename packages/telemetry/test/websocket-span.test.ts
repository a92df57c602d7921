// endWebSocketSpan with the OpenTelemetry SDK's own tracer provider and InMemorySpanExporter (no
// global provider, no NodeSDK): the ended span keeps its name, carries the close code and who closed,
// and its status says whether the close was an error for a SERVER (proxy) or CLIENT (worker) span.

import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { tracing } from '@opentelemetry/sdk-node';
import { endWebSocketSpan, SpanKind, SpanNames, TraceAttr } from '../src/index.ts';

const exporter = new tracing.InMemorySpanExporter();
const provider = new tracing.BasicTracerProvider({
  sampler: new tracing.AlwaysOnSampler(),
  spanProcessors: [new tracing.SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('websocket-span-test');

/** Starts a WebSocket span of `kind`, ends it with `result` and returns the one exported span. */
function ended(
  kind: SpanKind,
  result: Parameters<typeof endWebSocketSpan>[1],
): tracing.ReadableSpan & { status: { code: SpanStatusCode; message?: string } } {
  const span = tracer.startSpan(SpanNames.webSocket, { kind });
  endWebSocketSpan(span, result, kind === SpanKind.SERVER);
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1, 'one span exported');
  return spans[0];
}

describe('endWebSocketSpan', () => {
  beforeEach(() => exporter.reset());

  test('a normal close (1000 by the client) ends the span with its code, who closed and an unset status', () => {
    const span = ended(SpanKind.SERVER, { closeCode: 1000, closedBy: 'client' });
    assert.equal(span.name, SpanNames.webSocket);
    assert.equal(span.kind, SpanKind.SERVER);
    assert.equal(span.attributes[TraceAttr.webSocketCloseCode], 1000);
    assert.equal(span.attributes[TraceAttr.webSocketClosedBy], 'client');
    assert.equal(span.attributes[TraceAttr.errorType], undefined);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
    assert.equal(span.events.length, 0);
  });

  test('a server-side failure close (1011 by the container) is an ERROR with error.type the code', () => {
    const span = ended(SpanKind.SERVER, { closeCode: 1011, closedBy: 'container' });
    assert.equal(span.name, SpanNames.webSocket);
    assert.equal(span.attributes[TraceAttr.webSocketCloseCode], 1011);
    assert.equal(span.attributes[TraceAttr.webSocketClosedBy], 'container');
    assert.equal(span.attributes[TraceAttr.errorType], '1011');
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message: 'WebSocket closed with 1011' });
  });

  test('no close frame is 1006 (abnormal closure), an ERROR without a closed_by', () => {
    const span = ended(SpanKind.SERVER, {});
    assert.equal(span.attributes[TraceAttr.webSocketCloseCode], 1006);
    assert.equal(span.attributes[TraceAttr.webSocketClosedBy], undefined);
    assert.equal(span.status.code, SpanStatusCode.ERROR);
  });

  test('a relay error is an ERROR with an exception event whatever the close code', () => {
    const span = ended(SpanKind.SERVER, { closeCode: 1000, closedBy: 'client', error: 'SY_TUNNEL_LOST' });
    assert.equal(span.attributes[TraceAttr.webSocketCloseCode], 1000);
    assert.equal(span.attributes[TraceAttr.errorType], 'SY_TUNNEL_LOST');
    assert.deepEqual(span.status, { code: SpanStatusCode.ERROR, message: 'SY_TUNNEL_LOST' });
    assert.equal(span.events[0]?.name, 'exception');
  });

  test('a CLIENT span: 1008 (policy) is an ERROR; an application code (4000) and 1001 are not', () => {
    assert.equal(ended(SpanKind.CLIENT, { closeCode: 1008, closedBy: 'container' }).status.code, SpanStatusCode.ERROR);
    exporter.reset();
    assert.equal(ended(SpanKind.CLIENT, { closeCode: 4000, closedBy: 'container' }).status.code, SpanStatusCode.UNSET);
    exporter.reset();
    assert.equal(ended(SpanKind.CLIENT, { closeCode: 1001, closedBy: 'client' }).status.code, SpanStatusCode.UNSET);
    // The same 1008 on a SERVER span is the client's policy, not a server failure.
    exporter.reset();
    assert.equal(ended(SpanKind.SERVER, { closeCode: 1008, closedBy: 'proxy' }).status.code, SpanStatusCode.UNSET);
  });
});
