// WebSocket traces and container series across real processes (issue 9 items 1 and 2, G12): one
// region launched as child processes (API, gRPC proxy, a worker) exporting spans over OTLP/HTTP to a
// collector endpoint this test serves, the worker relaying WebSockets to the sample WebSocket container
// (services/grpc-proxy/test/ws-container.ts) run by this test. A WebSocket whose Upgrade request
// carries a sampled `traceparent` is one trace: client -> proxy SERVER span `switchyard.websocket` ->
// allocate -> queue wait -> worker ticket claim; proxy -> tunnel call -> worker container call, whose
// context the container receives on its Upgrade request. Spans end with the close code (1000 from the
// client: no error; a connection dropped without a close frame: 1006, an error), a refused upgrade with
// the container's status. An unsampled `traceparent` reaches the container and exports nothing. The
// worker's /metrics then shows the calls as `switchyard_protocol="websocket"`.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { inheritedEnv, type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { sampleValue, scrapeMetrics, waitFor } from '@switchyard/testkit';
import { adminApi } from './admin-api.ts';
import { assertChild, Collector, clientTrace, Kind, one, parseTraceparent } from './otlp-collector.ts';

/** The fields of services/grpc-proxy/test/ws-container.ts's hello this suite reads. */
interface WsHello {
  reqId: string | undefined;
  traceparent: string | undefined;
}

// ws-container.ts is loaded at run time: tsc -b refuses an import of another project's test file (TS2878).
const { APP_SUBPROTOCOL, startWsContainer } = (await import(
  new URL('../services/grpc-proxy/test/ws-container.ts', import.meta.url).href
)) as {
  APP_SUBPROTOCOL: string;
  startWsContainer(): Promise<{ port: number; readonly openCount: number; stop(): Promise<void> }>;
};
// echo-calls.ts likewise: a raw Upgrade request, what it answered and, for a 101, the socket.
const { rawUpgradeRequest } = (await import(
  new URL('../services/grpc-proxy/test/echo-calls.ts', import.meta.url).href
)) as {
  rawUpgradeRequest(
    address: string,
    headers: Record<string, string>,
    path?: string,
  ): Promise<{ status: number; socket?: Duplex; head?: Buffer }>;
};

const REGION = 'wst';
const ADMIN_TOKEN = `wst_${randomBytes(12).toString('hex')}`;
/** OTLP status code ERROR. */
const STATUS_ERROR = 2;

/** Headers of each WebSocket's 101 answer (the WebSocket API hides them; undici publishes them). */
const handshakes = new WeakMap<WebSocket, Record<string, string>>();
dc.subscribe('undici:websocket:open', (message) => {
  const m = message as { websocket: WebSocket; handshakeResponse?: { headers: Record<string, string> } };
  if (m.handshakeResponse) handshakes.set(m.websocket, m.handshakeResponse.headers);
});

/** Opens a WebSocket (Node's own client) with extra request `headers`; resolves with the container's hello. */
function openWs(
  address: string,
  protocols: string[],
  headers: Record<string, string>,
): Promise<{ ws: WebSocket; hello: WsHello; next: () => Promise<string>; closed: Promise<CloseEvent> }> {
  const ws = new WebSocket(`ws://${address}/`, { protocols, headers } as unknown as string[]);
  const queue: string[] = [];
  const waiters: ((m: string) => void)[] = [];
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener('close', resolve));
  ws.addEventListener('message', (e) => {
    const waiter = waiters.shift();
    if (waiter) waiter(String(e.data));
    else queue.push(String(e.data));
  });
  const next = () =>
    new Promise<string>((resolve) => {
      const m = queue.shift();
      if (m !== undefined) resolve(m);
      else waiters.push(resolve);
    });
  return new Promise((resolve, reject) => {
    ws.addEventListener('error', () => reject(new Error('WebSocket failed before opening')), { once: true });
    ws.addEventListener('open', async () => resolve({ ws, hello: JSON.parse(await next()), next, closed }), {
      once: true,
    });
  });
}

describe('WebSocket traces and container series across processes', () => {
  const collector = new Collector();
  let launch: RegionsLaunch;
  let stateDir: string;
  let container: Awaited<ReturnType<typeof startWsContainer>>;
  let worker: LaunchedChild;
  let apiKey = '';
  let fn = { functionId: '', versionId: '' };
  const api = adminApi(() => launch.regions[REGION].endpoints.api, ADMIN_TOKEN);
  const proxy = () => launch.regions[REGION].endpoints.grpc;
  const creds = () => [`authorization.${apiKey}`, `function-id.${fn.functionId}`];

  before(async () => {
    const port = await collector.listen();
    container = await startWsContainer();
    stateDir = mkdtempSync(join(tmpdir(), 'switchyard-ws-traces-'));
    launch = await launchRegions({
      regions: [{ name: REGION }],
      stateDir,
      logDir: join(stateDir, 'logs'),
      redis: false,
      services: ['api', 'grpc-proxy'],
      adminToken: ADMIN_TOKEN,
      env: inheritedEnv({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      }),
    });
    fn = await api('POST', '/v1/functions', { name: 'ws-echo', kind: 'grpc' });
    apiKey = (await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'ws traces' })).key;
    worker = launch.startWorker({
      region: REGION,
      name: 'worker-ws',
      functionId: fn.functionId,
      versionId: fn.versionId,
      // The sample container answers WebSocket upgrades on its one port (plain requests get 426).
      upstream: `http://127.0.0.1:${container.port}`,
      concurrency: 8,
      callbackAllowList: ['http://127.0.0.1:'],
    });
    await launch.waitReady([worker]);
  });

  after(async () => {
    await launch?.stop();
    await container?.stop();
    collector.server.close();
    collector.server.closeAllConnections();
    if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
  });

  /** The spans of a WebSocket trace, with the links every one of them has. */
  async function webSocketTrace(traceId: string, clientSpanId: string, allocated: boolean) {
    const names = ['switchyard.websocket', 'switchyard.tunnel.call', 'switchyard.container.call'];
    const spans = await collector.waitFor(traceId, allocated ? [...names, 'switchyard.ticket.claim'] : names);
    const server = one(spans, 'switchyard.websocket');
    assert.equal(server.service, 'grpc-proxy');
    assert.equal(server.kind, Kind.server);
    assert.equal(server.parentSpanId, clientSpanId, 'the proxy continues the Upgrade request’s traceparent');
    const tunnel = one(spans, 'switchyard.tunnel.call');
    assert.equal(tunnel.service, 'grpc-proxy');
    assert.equal(tunnel.kind, Kind.client);
    assertChild(tunnel, server);
    const containerCall = one(spans, 'switchyard.container.call');
    assert.equal(containerCall.service, 'worker');
    assert.equal(containerCall.kind, Kind.client);
    assertChild(containerCall, tunnel);
    assert.equal(containerCall.attributes['network.protocol.name'], 'websocket');
    return { spans, server, tunnel, containerCall };
  }

  test('a WebSocket is one trace: client -> proxy -> queue wait -> worker -> container, closed 1000 without error', async () => {
    const client = clientTrace(true);
    const c = await openWs(proxy(), [...creds(), APP_SUBPROTOCOL], { traceparent: client.traceparent });
    const reqId = handshakes.get(c.ws)?.['nvcf-reqid'];
    c.ws.send('traced hello');
    assert.equal(await c.next(), 'traced hello');
    c.ws.close(1000, 'done');
    assert.equal((await c.closed).code, 1000);

    const { spans, server, tunnel, containerCall } = await webSocketTrace(client.traceId, client.spanId, true);
    assert.equal(server.attributes['switchyard.function.id'], fn.functionId);
    assert.equal(server.attributes['http.request.method'], 'GET');
    const allocate = one(spans, 'switchyard.allocate');
    assertChild(allocate, server);
    assertChild(one(spans, 'switchyard.ticket.queue_wait'), allocate);
    const claim = one(spans, 'switchyard.ticket.claim');
    assert.equal(claim.service, 'worker');
    assertChild(claim, one(spans, 'switchyard.ticket.queue_wait'));
    assert.equal(tunnel.attributes['switchyard.request.id'], reqId);
    for (const span of [server, tunnel, containerCall]) {
      assert.equal(span.attributes['switchyard.websocket.close.code'], 1000, `${span.name} close code`);
      assert.equal(span.attributes['switchyard.websocket.closed_by'], 'client', `${span.name} closed by`);
      assert.notEqual(span.status, STATUS_ERROR, `${span.name} is not an error`);
    }

    const got = parseTraceparent(c.hello.traceparent);
    assert.equal(got.traceId, client.traceId, 'the container got the client trace ID');
    assert.equal(got.spanId, containerCall.spanId, "the container's parent is the worker's container-call span");
    assert.equal(got.flags, '01');
  });

  test('a WebSocket dropped without a close frame ends its spans with 1006 and an error', async () => {
    const client = clientTrace(true);
    const { status, socket, head } = await rawUpgradeRequest(proxy(), {
      'sec-websocket-protocol': [...creds(), APP_SUBPROTOCOL].join(', '),
      traceparent: client.traceparent,
    });
    assert.equal(status, 101);
    // The container's hello arrives, then the client vanishes (no close frame).
    if (!head?.length) await new Promise((resolve) => socket?.once('data', resolve));
    socket?.destroy();
    const { server, tunnel, containerCall } = await webSocketTrace(client.traceId, client.spanId, true);
    for (const span of [server, tunnel, containerCall]) {
      assert.equal(span.attributes['switchyard.websocket.close.code'], 1006, `${span.name} close code`);
      assert.equal(span.status, STATUS_ERROR, `${span.name} is an error`);
      assert.equal(span.attributes['error.type'], '1006');
    }
  });

  test('a refused upgrade ends its spans with the container status (an error for the client spans only)', async () => {
    const client = clientTrace(true);
    const { status } = await rawUpgradeRequest(
      proxy(),
      { 'sec-websocket-protocol': creds().join(', '), traceparent: client.traceparent },
      '/refuse',
    );
    assert.equal(status, 403);
    const { server, tunnel, containerCall } = await webSocketTrace(client.traceId, client.spanId, true);
    for (const span of [server, tunnel, containerCall]) {
      assert.equal(span.attributes['http.response.status_code'], 403, `${span.name} status`);
      assert.equal(span.attributes['switchyard.websocket.close.code'], undefined);
    }
    assert.notEqual(server.status, STATUS_ERROR, 'a 4xx is not a server error');
    assert.equal(tunnel.status, STATUS_ERROR);
    assert.equal(containerCall.status, STATUS_ERROR);
  });

  test('an unsampled WebSocket trace is continued to the container but exports nothing', async () => {
    const client = clientTrace(false);
    const c = await openWs(proxy(), [...creds(), APP_SUBPROTOCOL], { traceparent: client.traceparent });
    c.ws.close(1000);
    await c.closed;
    const got = parseTraceparent(c.hello.traceparent);
    assert.equal(got.traceId, client.traceId, 'the trace ID reaches the container');
    assert.equal(got.flags, '00', 'still unsampled');
    // A sampled WebSocket after it is exported: once it is, the unsampled one would have been too.
    const marker = clientTrace(true);
    const m = await openWs(proxy(), [...creds(), APP_SUBPROTOCOL], { traceparent: marker.traceparent });
    m.ws.close(1000);
    await m.closed;
    await webSocketTrace(marker.traceId, marker.spanId, true);
    assert.deepEqual(collector.of(client.traceId), []);
  });

  test("the worker's /metrics shows its WebSocket calls as switchyard_protocol=websocket", async () => {
    const url = worker.readyLine?.metrics;
    assert.equal(typeof url, 'string', 'the worker prints its metrics URL');
    // Another WebSocket without any traceparent: recorded all the same.
    const c = await openWs(proxy(), [...creds(), APP_SUBPROTOCOL], {});
    c.ws.close(1000);
    await c.closed;
    const ws = { switchyard_protocol: 'websocket' };
    let text = '';
    await waitFor(
      async () => {
        text = await scrapeMetrics(url as string);
        // the WebSockets that switched (four above, this one), the refused one 4xx
        const switched = sampleValue(text, 'switchyard_container_call_duration_seconds_count', {
          ...ws,
          switchyard_outcome: '1xx',
        });
        return (switched ?? 0) >= 5;
      },
      { timeoutMs: 15_000, what: 'WebSocket container calls in the worker scrape' },
    );
    assert.equal(
      sampleValue(text, 'switchyard_container_call_duration_seconds_count', { ...ws, switchyard_outcome: '1xx' }),
      5,
    );
    const refused = sampleValue(text, 'switchyard_container_call_duration_seconds_count', {
      ...ws,
      switchyard_outcome: '4xx',
    });
    assert.equal(refused, 1, 'the refused upgrade');
    const reset = sampleValue(text, 'switchyard_container_errors_total', { ...ws, switchyard_error_kind: 'reset' });
    assert.equal(reset, 0, 'no container socket failed');
    for (const protocol of ['grpc', 'http', 'websocket'])
      for (const kind of ['unavailable', 'failed', 'reset'])
        assert.notEqual(
          sampleValue(text, 'switchyard_container_errors_total', {
            switchyard_protocol: protocol,
            switchyard_error_kind: kind,
          }),
          undefined,
          `${protocol}/${kind} initialised`,
        );
  });
});
