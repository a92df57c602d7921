// Resume lookups in traces across two regions (G15): a session started through us-east is resumed
// through eu-west's proxy with a sampled client `traceparent`; the proxy's SERVER span has the local
// lookup (this region's directory: missing) and the remote one (the other regions': found) as
// children. The stack runs in this process (RegionsStack), its spans exported over OTLP/HTTP (JSON)
// to a collector this test serves, through the SDK that startTelemetry starts.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTelemetry, type Telemetry } from '@switchyard/telemetry';
import { echoClient, unary } from '../services/worker/test/helpers.ts';
import { assertChild, Collector, clientTrace, one } from './otlp-collector.ts';
import { RegionsStack, type StackFunction, type StackProxy } from './regions-stack.ts';

const EAST = 'us-east';
const WEST = 'eu-west';

describe('two regions: resume lookups in the trace (G15)', () => {
  const collector = new Collector();
  let telemetry: Telemetry;
  let stack: RegionsStack;
  let echo: StackFunction;
  let east: StackProxy;
  let west: StackProxy;

  before(async () => {
    const port = await collector.listen();
    Object.assign(process.env, {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    telemetry = await startTelemetry({ service: 'regions-test', region: EAST, instanceId: 'test' });
    stack = await RegionsStack.start({ regions: [EAST, WEST] });
    echo = await stack.addFunction({ name: 'echo' });
    await stack.addWorker(EAST, echo);
    const overrides = { remoteLookupTimeoutMs: 2_000, attachTimeoutMs: 5_000 };
    east = await stack.addProxy(EAST, overrides);
    west = await stack.addProxy(WEST, overrides);
  });

  after(async () => {
    await stack?.stop();
    await telemetry?.shutdown();
    collector.server.close();
    collector.server.closeAllConnections();
  });

  test('a resume through another region has a local (missing) and a remote (found) lookup span', async () => {
    const first = echoClient(east.address);
    let reqId = '';
    try {
      reqId = (await unary(first, {}, stack.metadata(echo), { deadlineMs: 10_000 })).reqId;
    } finally {
      first.close();
    }
    const client = clientTrace(true);
    const other = echoClient(west.address);
    try {
      const md = stack.metadata(echo, { 'nvcf-reqid': reqId, traceparent: client.traceparent });
      const resumed = await unary(other, {}, md, { deadlineMs: 10_000 });
      assert.equal(resumed.res.request_id, reqId);
    } finally {
      other.close();
    }
    const spans = await collector.waitFor(client.traceId, [
      'switchyard.echo.v1.Echo/Unary',
      'switchyard.resume.lookup.local',
      'switchyard.resume.lookup.remote',
      'switchyard.tunnel.call',
      'switchyard.container.call',
    ]);
    const server = one(spans, 'switchyard.echo.v1.Echo/Unary');
    assert.equal(server.parentSpanId, client.spanId);
    const local = one(spans, 'switchyard.resume.lookup.local');
    assertChild(local, server);
    assert.equal(local.attributes['switchyard.region'], WEST);
    assert.equal(local.attributes['switchyard.lookup.result'], 'missing');
    const remote = one(spans, 'switchyard.resume.lookup.remote');
    assertChild(remote, server);
    assert.equal(remote.attributes['switchyard.region'], EAST);
    assert.equal(remote.attributes['switchyard.lookup.result'], 'found');
    assertChild(one(spans, 'switchyard.container.call'), one(spans, 'switchyard.tunnel.call'));
  });
});
