// The proxy's front-end series, read from its real /metrics endpoint while real calls run through a
// real region (NATS, workers, echo and WebSocket containers): label initialisation before any call, a
// unary call with its new session, resumes (held here, found in the directory, unknown), a queue-full
// rejection, a WebSocket, an absorb request, and `promtool check metrics` on the whole scrape.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { promtoolCheckMetrics, sampleValue, scrapeMetrics, waitForSample } from '@switchyard/testkit';
import { newChannel, reqIdOf, unary, withChannel } from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, RegionHarness } from './region-harness.ts';
import { APP_SUBPROTOCOL, startWsContainer, type WsContainer } from './ws-container.ts';

const UNKNOWN_REQ_ID = '3c9a7b1e-52d4-4f0a-8b6c-1d2e3f4a5b6c';

describe('grpc-proxy metrics on /metrics', () => {
  const h = new RegionHarness();
  let a: HarnessProxy;
  let b: HarnessProxy;
  let idle: HarnessFunction;
  let container: WsContainer;
  /** Function/version labels of the harness's echo function. */
  let echo: Record<string, string>;

  /** The value of `name` with `labels` in a scrape of `proxy` (undefined: no such series). */
  const valueAt = async (proxy: HarnessProxy, name: string, labels: Record<string, string> = {}) =>
    sampleValue(await scrapeMetrics(proxy.metricsUrl ?? ''), name, labels);
  /** Waits until `name` with `labels` at `proxy` equals `want` (a call's stream closes just after its status). */
  const expectValue = (proxy: HarnessProxy, name: string, labels: Record<string, string>, want: number) =>
    waitForSample(proxy.metricsUrl ?? '', name, labels, want);

  before(async () => {
    await h.start();
    idle = await h.addFunction({ name: 'idle' });
    container = await startWsContainer();
    // One allocation per version may wait here: a second one is SY_QUEUE_FULL.
    a = await h.addProxy({ maxQueuePerVersion: 1, attachTimeoutMs: 1_500 }, {}, { metrics: true });
    b = await h.addProxy({}, {}, { metrics: true });
    await h.addWorker({ concurrency: 20, websocketUpstream: `ws://127.0.0.1:${container.port}` });
    echo = { switchyard_function_id: h.functionId, switchyard_function_version_id: h.versionId };
  });
  after(async () => {
    await h.stop();
    await container.stop();
  });

  test('should serve 0 samples for deployed versions and enumerated labels before any call, and for a version deployed later', async () => {
    const text = await scrapeMetrics(a.metricsUrl ?? '');
    for (const fn of [
      echo,
      { switchyard_function_id: idle.functionId, switchyard_function_version_id: idle.versionId },
    ]) {
      for (const outcome of ['0', '4', '8', '13', '14'])
        assert.equal(sampleValue(text, 'switchyard_calls_total', { ...fn, switchyard_outcome: outcome }), 0, outcome);
      for (const result of ['assigned', 'timeout', 'queue_full', 'rate_limited', 'cancelled', 'error'])
        assert.equal(
          sampleValue(text, 'switchyard_allocations_total', { ...fn, switchyard_allocation_result: result }),
          0,
        );
      assert.equal(sampleValue(text, 'switchyard_tickets_queued', fn), 0);
    }
    for (const reason of ['queue_full', 'rate_limited', 'key_connections_exceeded', 'shutting_down'])
      assert.equal(sampleValue(text, 'switchyard_rejections_total', { switchyard_rejection_reason: reason }), 0);
    for (const protocol of ['h2', 'http1', 'websocket']) {
      assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: protocol }), 0);
      assert.equal(sampleValue(text, 'switchyard_client_connections_active', { switchyard_protocol: protocol }), 0);
    }
    for (const result of ['allocated', 'ended', 'not_found', 'error'])
      assert.equal(sampleValue(text, 'switchyard_absorbs_total', { switchyard_absorb_result: result }), 0);
    assert.equal(sampleValue(text, 'switchyard_calls_total', { switchyard_function_id: 'unknown' }), undefined);
    // Every series carries the instance's constant labels.
    assert.match(text, /^switchyard_calls_total\{[^}]*service_name="grpc-proxy"[^}]*switchyard_region="test"/m);

    const late = await h.addFunction({ name: 'late' });
    const lateLabels = { switchyard_function_id: late.functionId, switchyard_function_version_id: late.versionId };
    await expectValue(a, 'switchyard_calls_total', { ...lateLabels, switchyard_outcome: '0' }, 0);
    await expectValue(a, 'switchyard_tickets_queued', lateLabels, 0);
  });

  test('should count a unary call with its new session, allocation and ticket wait, and its h2 connection', async () => {
    const call = await withChannel(a.address, (c) => unary(c, { payload: Buffer.from('hi') }, h.metadata()));
    assert.equal(call.status.code, grpc.status.OK);
    const ok = { ...echo, switchyard_outcome: '0' };
    await expectValue(a, 'switchyard_calls_total', ok, 1);
    const text = await scrapeMetrics(a.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_call_duration_seconds_count', ok), 1);
    assert.equal(sampleValue(text, 'switchyard_call_duration_seconds_bucket', { ...ok, le: '1800' }), 1);
    assert.equal(sampleValue(text, 'switchyard_session_init_duration_seconds_count', echo), 1);
    assert.equal(
      sampleValue(text, 'switchyard_allocations_total', { ...echo, switchyard_allocation_result: 'assigned' }),
      1,
    );
    assert.equal(sampleValue(text, 'switchyard_ticket_wait_duration_seconds_count', echo), 1);
    assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: 'h2' }), 1);
    // The channel is closed: no h2 connection stays active.
    await expectValue(a, 'switchyard_client_connections_active', { switchyard_protocol: 'h2' }, 0);
    // Proxy B saw nothing.
    assert.equal(await valueAt(b, 'switchyard_calls_total', ok), 0);
  });

  test('should time resumes by source and result: held here (local), found in the directory (replica), unknown (not_found)', async () => {
    const holder = newChannel(a.address);
    try {
      const first = await unary(holder, {}, h.metadata());
      const reqId = reqIdOf(first);
      assert.match(reqId, /^[0-9a-f-]{36}$/);
      const here = await withChannel(a.address, (c) => unary(c, {}, h.metadata({ 'nvcf-reqid': reqId })));
      assert.equal(here.status.code, grpc.status.OK);
      const there = await withChannel(b.address, (c) => unary(c, {}, h.metadata({ 'nvcf-reqid': reqId })));
      assert.equal(there.status.code, grpc.status.OK);
      const missing = await withChannel(a.address, (c) => unary(c, {}, h.metadata({ 'nvcf-reqid': UNKNOWN_REQ_ID })));
      assert.equal(missing.status.code, grpc.status.NOT_FOUND);
    } finally {
      holder.close();
    }
    const resumes = 'switchyard_session_resume_duration_seconds_count';
    const textA = await scrapeMetrics(a.metricsUrl ?? '');
    assert.equal(
      sampleValue(textA, resumes, { switchyard_resume_source: 'local', switchyard_resume_result: 'found' }),
      1,
    );
    assert.equal(
      sampleValue(textA, resumes, { switchyard_resume_source: 'replica', switchyard_resume_result: 'not_found' }),
      1,
    );
    assert.equal(
      sampleValue(textA, resumes, { switchyard_resume_source: 'replica', switchyard_resume_result: 'found' }),
      undefined,
    );
    assert.equal(
      await valueAt(b, resumes, { switchyard_resume_source: 'replica', switchyard_resume_result: 'found' }),
      1,
    );
    await expectValue(a, 'switchyard_calls_total', { ...echo, switchyard_outcome: '5' }, 1);
  });

  test('should count a queue-full rejection, the queued ticket while it waits, and its timeout', async () => {
    const labels = { switchyard_function_id: idle.functionId, switchyard_function_version_id: idle.versionId };
    const c1 = newChannel(a.address);
    const c2 = newChannel(a.address);
    try {
      // No worker serves `idle`: the first call waits for one (attachTimeoutMs), the second finds the queue full.
      const waiting = unary(c1, {}, h.metadata({}, idle));
      await expectValue(a, 'switchyard_tickets_queued', labels, 1);
      const refused = await unary(c2, {}, h.metadata({}, idle));
      assert.equal(refused.status.code, grpc.status.RESOURCE_EXHAUSTED);
      const timedOut = await waiting;
      assert.notEqual(timedOut.status.code, grpc.status.OK);
    } finally {
      c1.close();
      c2.close();
    }
    await expectValue(a, 'switchyard_tickets_queued', labels, 0);
    const text = await scrapeMetrics(a.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_rejections_total', { switchyard_rejection_reason: 'queue_full' }), 1);
    assert.equal(
      sampleValue(text, 'switchyard_allocations_total', { ...labels, switchyard_allocation_result: 'queue_full' }),
      1,
    );
    assert.equal(
      sampleValue(text, 'switchyard_allocations_total', { ...labels, switchyard_allocation_result: 'timeout' }),
      1,
    );
    assert.equal(sampleValue(text, 'switchyard_ticket_wait_duration_seconds_count', labels), 1);
    assert.equal(sampleValue(text, 'switchyard_calls_total', { ...labels, switchyard_outcome: '8' }), 1);
    assert.equal(sampleValue(text, 'switchyard_calls_total', { ...labels, switchyard_outcome: '0' }), 0);
  });

  test('should count a WebSocket as a websocket connection (and its HTTP/1.1 connection) until it closes', async () => {
    const ws = new WebSocket(`ws://${a.address}/`, [
      `authorization.${h.apiKey}`,
      `function-id.${h.functionId}`,
      APP_SUBPROTOCOL,
    ]);
    const closed = new Promise((resolve) => ws.addEventListener('close', resolve));
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', () => reject(new Error('WebSocket failed')), { once: true });
    });
    await expectValue(a, 'switchyard_client_connections_active', { switchyard_protocol: 'websocket' }, 1);
    ws.close();
    await closed;
    await expectValue(a, 'switchyard_client_connections_active', { switchyard_protocol: 'websocket' }, 0);
    const text = await scrapeMetrics(a.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: 'websocket' }), 1);
    assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: 'http1' }), 1);
    assert.equal(sampleValue(text, 'switchyard_session_init_duration_seconds_count', echo), 3);
  });

  test('should count G13 absorb requests by result', async () => {
    const res = await fetch(`http://${a.address}/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.apiKey}`, 'function-id': h.functionId, 'x-nvcf-absorb': 'true' },
    });
    assert.equal(res.status, 200);
    const gone = await fetch(`http://${a.address}/`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${h.apiKey}`, 'function-id': h.functionId, 'nvcf-reqid': UNKNOWN_REQ_ID },
    });
    assert.equal(gone.status, 404);
    const text = await scrapeMetrics(a.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_absorbs_total', { switchyard_absorb_result: 'allocated' }), 1);
    assert.equal(sampleValue(text, 'switchyard_absorbs_total', { switchyard_absorb_result: 'not_found' }), 1);
  });

  test('should pass promtool check metrics on a scrape of the proxy', async () => {
    const text = await scrapeMetrics(a.metricsUrl ?? '');
    assert.match(text, /^switchyard_call_duration_seconds_bucket\{/m);
    const { status, output } = promtoolCheckMetrics(text);
    assert.equal(status, 0, output);
  });
});
