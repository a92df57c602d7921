// Traces across real processes (issue 9 item 2): one region launched as child processes (API, gRPC
// proxy, invocation service, workers, echo containers) exporting spans over OTLP/HTTP (JSON encoding)
// to a collector endpoint this test serves. A gRPC call through the proxy and an HTTP call through the
// invocation service each carry a sampled client `traceparent`; the test asserts one trace ID across
// the processes, the parent/child links (client -> front-end SERVER span -> allocate -> queue wait ->
// worker ticket claim; front end -> tunnel call -> worker container call), and that the container got
// a `traceparent` naming the worker's container-call span. An unsampled client trace is continued (the
// container sees its trace ID) but exports nothing, and log lines written inside a call carry
// `trace_id`/`span_id`.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inheritedEnv, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { RECEIVED_TRACEPARENT_HEADER, WANT_RECEIVED_TRACEPARENT_HEADER } from '@switchyard/sample-functions';
import { echoClient, sleep, unary } from '../services/worker/test/helpers.ts';
import { adminApi } from './admin-api.ts';
import { assertChild, Collector, clientTrace, Kind, one, parseTraceparent } from './otlp-collector.ts';

const REGION = 'tr';
const ADMIN_TOKEN = `tr_${randomBytes(12).toString('hex')}`;

describe('traces across processes (OTLP/HTTP collector)', () => {
  const collector = new Collector();
  let launch: RegionsLaunch;
  let stateDir: string;
  let apiKey = '';
  let echoFn = { functionId: '', versionId: '' };
  let httpFn = { functionId: '', versionId: '' };
  /** Client address of a second gRPC proxy: it resumes sessions of the first by lookup. */
  let proxy2 = '';

  const api = adminApi(() => launch.regions[REGION].endpoints.api, ADMIN_TOKEN);

  before(async () => {
    const port = await collector.listen();
    stateDir = mkdtempSync(join(tmpdir(), 'switchyard-traces-'));
    launch = await launchRegions({
      regions: [{ name: REGION }],
      stateDir,
      logDir: join(stateDir, 'logs'),
      redis: true,
      services: ['api', 'grpc-proxy', 'invocation'],
      adminToken: ADMIN_TOKEN,
      logLevel: 'debug',
      env: inheritedEnv({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        // Parent-based, new roots never sampled: only the client's sampled traces are exported.
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      }),
      samples: () => [
        { name: 'echo', sample: 'echo', instanceId: 'echo' },
        { name: 'http', sample: 'http', instanceId: 'http' },
      ],
    });
    const region = launch.regions[REGION];
    const second = await launch.startFrontEnd('grpc-proxy', REGION, 'grpc-proxy-2');
    await launch.waitReady([second.child]);
    proxy2 = second.client;
    echoFn = await api('POST', '/v1/functions', { name: 'echo', kind: 'grpc' });
    httpFn = await api('POST', '/v1/functions', { name: 'http-echo', kind: 'http', inferenceUrl: '/echo' });
    apiKey = (await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'traces' })).key;
    await launch.waitReady(
      (
        [
          ['worker-echo', echoFn, 'grpc', 'echo'],
          ['worker-http', httpFn, 'http', 'http'],
        ] as const
      ).map(([name, fn, scheme, sample]) =>
        launch.startWorker({
          region: REGION,
          name,
          functionId: fn.functionId,
          versionId: fn.versionId,
          upstream: `${scheme}://127.0.0.1:${region.samples[sample].port}`,
          concurrency: 4,
          callbackAllowList: ['http://127.0.0.1:'],
        }),
      ),
    );
  });

  after(async () => {
    await launch?.stop();
    collector.server.close();
    collector.server.closeAllConnections();
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  test('a gRPC call through the proxy is one trace: client -> proxy -> queue wait -> worker -> container', async () => {
    const client = clientTrace(true);
    const echo = echoClient(launch.regions[REGION].endpoints.grpc);
    let received: unknown;
    let second: ReturnType<typeof clientTrace>;
    let secondReceived: unknown;
    try {
      const md = {
        authorization: `Bearer ${apiKey}`,
        'function-id': echoFn.functionId,
        [WANT_RECEIVED_TRACEPARENT_HEADER]: '1',
      };
      const first = await unary(echo, {}, { ...md, traceparent: client.traceparent }, { deadlineMs: 20_000 });
      received = first.headers.get(RECEIVED_TRACEPARENT_HEADER)[0];
      // A second call on the same connection: the pinned fast path (no allocation), still traced.
      second = clientTrace(true);
      const again = await unary(echo, {}, { ...md, traceparent: second.traceparent }, { deadlineMs: 20_000 });
      secondReceived = again.headers.get(RECEIVED_TRACEPARENT_HEADER)[0];
    } finally {
      echo.close();
    }

    const spans = await collector.waitFor(client.traceId, [
      'switchyard.echo.v1.Echo/Unary',
      'switchyard.allocate',
      'switchyard.ticket.publish',
      'switchyard.ticket.queue_wait',
      'switchyard.ticket.claim',
      'switchyard.tunnel.call',
      'switchyard.container.call',
    ]);
    const server = one(spans, 'switchyard.echo.v1.Echo/Unary');
    assert.equal(server.service, 'grpc-proxy');
    assert.equal(server.kind, Kind.server);
    assert.equal(server.parentSpanId, client.spanId, 'the proxy continues the client span');
    assert.equal(server.attributes['rpc.system'], 'grpc');
    assert.equal(server.attributes['rpc.service'], 'switchyard.echo.v1.Echo');
    assert.equal(server.attributes['rpc.method'], 'Unary');
    assert.equal(server.attributes['rpc.grpc.status_code'], 0);
    assert.equal(server.attributes['switchyard.function.id'], echoFn.functionId);

    const allocate = one(spans, 'switchyard.allocate');
    assertChild(allocate, server);
    assert.equal(allocate.attributes['switchyard.allocation.outcome'], 'attached');
    const publish = one(spans, 'switchyard.ticket.publish');
    assertChild(publish, allocate);
    assert.equal(publish.kind, Kind.producer);
    const wait = one(spans, 'switchyard.ticket.queue_wait');
    assertChild(wait, allocate);
    const claim = one(spans, 'switchyard.ticket.claim');
    assert.equal(claim.service, 'worker');
    assert.equal(claim.kind, Kind.consumer);
    assertChild(claim, wait);

    const tunnel = one(spans, 'switchyard.tunnel.call');
    assert.equal(tunnel.service, 'grpc-proxy');
    assert.equal(tunnel.kind, Kind.client);
    assertChild(tunnel, server);
    assert.equal(tunnel.attributes['rpc.grpc.status_code'], 0);
    const container = one(spans, 'switchyard.container.call');
    assert.equal(container.service, 'worker');
    assert.equal(container.kind, Kind.client);
    assertChild(container, tunnel);

    const got = parseTraceparent(received);
    assert.equal(got.traceId, client.traceId, 'the container got the client trace ID');
    assert.equal(got.spanId, container.spanId, "the container's parent is the worker's container-call span");
    assert.equal(got.flags, '01');

    // The pinned call: server -> tunnel call -> container call, no allocation.
    const s2 = await collector.waitFor(second.traceId, [
      'switchyard.echo.v1.Echo/Unary',
      'switchyard.tunnel.call',
      'switchyard.container.call',
    ]);
    assert.equal(s2.filter((s) => s.name === 'switchyard.allocate').length, 0, 'a pinned call allocates nothing');
    const server2 = one(s2, 'switchyard.echo.v1.Echo/Unary');
    assert.equal(server2.parentSpanId, second.spanId);
    const tunnel2 = one(s2, 'switchyard.tunnel.call');
    assertChild(tunnel2, server2);
    const container2 = one(s2, 'switchyard.container.call');
    assertChild(container2, tunnel2);
    assert.equal(parseTraceparent(secondReceived).spanId, container2.spanId);
  });

  test('a resume through another proxy traces its session lookup', async () => {
    const md = { authorization: `Bearer ${apiKey}`, 'function-id': echoFn.functionId };
    const first = echoClient(launch.regions[REGION].endpoints.grpc);
    let reqId = '';
    try {
      reqId = (await unary(first, {}, md, { deadlineMs: 20_000 })).reqId;
    } finally {
      first.close();
    }
    assert.notEqual(reqId, '');
    const client = clientTrace(true);
    const other = echoClient(proxy2);
    try {
      const md2 = { ...md, 'nvcf-reqid': reqId, traceparent: client.traceparent };
      const resumed = await unary(other, {}, md2, { deadlineMs: 20_000 });
      assert.equal(resumed.res.request_id, reqId);
    } finally {
      other.close();
    }
    const spans = await collector.waitFor(client.traceId, [
      'switchyard.echo.v1.Echo/Unary',
      'switchyard.resume.lookup.local',
      'switchyard.tunnel.call',
      'switchyard.container.call',
    ]);
    const server = one(spans, 'switchyard.echo.v1.Echo/Unary');
    assert.equal(server.parentSpanId, client.spanId);
    const lookup = one(spans, 'switchyard.resume.lookup.local');
    assertChild(lookup, server);
    assert.equal(lookup.attributes['switchyard.lookup.result'], 'found');
    assert.equal(lookup.attributes['switchyard.region'], REGION);
    assert.equal(spans.filter((s) => s.name === 'switchyard.allocate').length, 0, 'a resume allocates nothing');
    assertChild(one(spans, 'switchyard.container.call'), one(spans, 'switchyard.tunnel.call'));
  });

  test('an HTTP call through invocation is one trace: client -> invocation -> queue wait -> worker -> container', async () => {
    const client = clientTrace(true);
    const base = new URL(launch.regions[REGION].endpoints.http);
    const res = await fetch(`${base.origin}/echo`, {
      method: 'POST',
      headers: {
        'function-id': httpFn.functionId,
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        traceparent: client.traceparent,
      },
      body: JSON.stringify({ hello: 'traces' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const echoed = (await res.json()) as { headers: Record<string, string> };

    const spans = await collector.waitFor(client.traceId, [
      'POST',
      'switchyard.allocate',
      'switchyard.ticket.queue_wait',
      'switchyard.ticket.claim',
      'switchyard.tunnel.call',
      'switchyard.container.call',
    ]);
    const server = one(spans, 'POST');
    assert.equal(server.service, 'invocation');
    assert.equal(server.kind, Kind.server);
    assert.equal(server.parentSpanId, client.spanId);
    assert.equal(server.attributes['http.request.method'], 'POST');
    assert.equal(server.attributes['http.response.status_code'], 200);
    const allocate = one(spans, 'switchyard.allocate');
    assertChild(allocate, server);
    const wait = one(spans, 'switchyard.ticket.queue_wait');
    assertChild(wait, allocate);
    const claim = one(spans, 'switchyard.ticket.claim');
    assert.equal(claim.service, 'worker');
    assertChild(claim, wait);
    const tunnel = one(spans, 'switchyard.tunnel.call');
    assertChild(tunnel, server);
    assert.equal(tunnel.attributes['http.response.status_code'], 200);
    const container = one(spans, 'switchyard.container.call');
    assert.equal(container.service, 'worker');
    assertChild(container, tunnel);
    const got = parseTraceparent(echoed.headers.traceparent);
    assert.equal(got.traceId, client.traceId);
    assert.equal(got.spanId, container.spanId);

    // The next request takes the warm path (an offer over the tunnel, no ticket): its offer carries
    // the tunnel-call span, the container call is its child.
    const warm = clientTrace(true);
    const res2 = await fetch(`${base.origin}/echo`, {
      method: 'POST',
      headers: {
        'function-id': httpFn.functionId,
        authorization: `Bearer ${apiKey}`,
        'content-type': 'application/json',
        traceparent: warm.traceparent,
      },
      body: JSON.stringify({ hello: 'warm' }),
    });
    assert.equal(res2.status, 200, await res2.clone().text());
    const echoed2 = (await res2.json()) as { headers: Record<string, string> };
    const s2 = await collector.waitFor(warm.traceId, ['POST', 'switchyard.tunnel.call', 'switchyard.container.call']);
    assert.equal(s2.filter((s) => s.name === 'switchyard.allocate').length, 0, 'the warm path allocates nothing');
    const server2 = one(s2, 'POST');
    assert.equal(server2.parentSpanId, warm.spanId);
    const tunnel2 = one(s2, 'switchyard.tunnel.call');
    assertChild(tunnel2, server2);
    assert.equal(tunnel2.attributes['http.response.status_code'], 200);
    const container2 = one(s2, 'switchyard.container.call');
    assertChild(container2, tunnel2);
    assert.equal(parseTraceparent(echoed2.headers.traceparent).spanId, container2.spanId);
  });

  test('an unsampled client trace is continued to the container but exports nothing', async () => {
    const client = clientTrace(false);
    const echo = echoClient(launch.regions[REGION].endpoints.grpc);
    let received: unknown;
    try {
      const md = {
        authorization: `Bearer ${apiKey}`,
        'function-id': echoFn.functionId,
        [WANT_RECEIVED_TRACEPARENT_HEADER]: '1',
        traceparent: client.traceparent,
      };
      received = (await unary(echo, {}, md, { deadlineMs: 20_000 })).headers.get(RECEIVED_TRACEPARENT_HEADER)[0];
    } finally {
      echo.close();
    }
    const got = parseTraceparent(received);
    assert.equal(got.traceId, client.traceId, 'the trace ID reaches the container');
    assert.equal(got.flags, '00', 'still unsampled');
    // A sampled call made after it is exported: once it is, the unsampled one would have been too.
    const marker = clientTrace(true);
    const echo2 = echoClient(launch.regions[REGION].endpoints.grpc);
    try {
      const md = {
        authorization: `Bearer ${apiKey}`,
        'function-id': echoFn.functionId,
        traceparent: marker.traceparent,
      };
      await unary(echo2, {}, md, { deadlineMs: 20_000 });
    } finally {
      echo2.close();
    }
    await collector.waitFor(marker.traceId, ['switchyard.container.call', 'switchyard.echo.v1.Echo/Unary']);
    assert.deepEqual(collector.of(client.traceId), []);
  });

  test('log lines written inside a call carry trace_id and span_id', async () => {
    const client = clientTrace(true);
    const echo = echoClient(launch.regions[REGION].endpoints.grpc);
    try {
      // An unknown function: the proxy answers NOT_FOUND and logs the detail at debug level, inside the call.
      const md = {
        authorization: `Bearer ${apiKey}`,
        'function-id': '00000000-0000-4000-8000-000000000000',
        traceparent: client.traceparent,
      };
      await assert.rejects(unary(echo, {}, md, { deadlineMs: 10_000 }));
    } finally {
      echo.close();
    }
    const spans = await collector.waitFor(client.traceId, ['switchyard.echo.v1.Echo/Unary']);
    const server = one(spans, 'switchyard.echo.v1.Echo/Unary');
    assert.notEqual(server.attributes['rpc.grpc.status_code'], 0, 'the call failed');
    const logFile = join(stateDir, 'logs', 'grpc-proxy.log');
    const deadline = Date.now() + 5_000;
    let line: Record<string, unknown> | undefined;
    while (line === undefined && Date.now() < deadline) {
      line = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.trace_id === client.traceId);
      if (line === undefined) await sleep(100);
    }
    assert.ok(line, `a grpc-proxy log line with trace_id ${client.traceId}`);
    assert.equal(line.span_id, server.spanId);
  });
});
