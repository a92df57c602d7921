// The invocation service's front-end series, read from its real /metrics endpoint while real requests
// run through a real region (NATS, Redis, a worker, the test container): label initialisation before any
// request, a request over HTTP/1.1 and one over HTTP/2, a 202 with status polls, a rate-limited
// rejection, and `promtool check metrics` on the whole scrape.

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { promtoolCheckMetrics, sampleValue, scrapeMetrics, waitForSample } from '@switchyard/testkit';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

describe('invocation metrics on /metrics', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  /** Function/version labels of the harness's function. */
  let fn: Record<string, string>;
  const auth = () => ({ authorization: `Bearer ${h.apiKey}` });

  /** Waits until `name` with `labels` at `at` equals `want` (a response's close follows its last byte). */
  const expectValue = (at: HarnessInvocation, name: string, labels: Record<string, string>, want: number) =>
    waitForSample(at.metricsUrl ?? '', name, labels, want);

  before(async () => {
    await h.start();
    inv = await h.addInvocation({}, { metrics: true });
    await h.addWorker();
    fn = { switchyard_function_id: h.functionId, switchyard_function_version_id: h.versionId };
  });
  after(() => h.stop());

  it('should serve 0 samples for the deployed version and enumerated labels before any request', async () => {
    const text = await scrapeMetrics(inv.metricsUrl ?? '');
    for (const outcome of ['2xx', '3xx', '4xx', '5xx', 'cancelled'])
      assert.equal(sampleValue(text, 'switchyard_calls_total', { ...fn, switchyard_outcome: outcome }), 0, outcome);
    for (const result of ['assigned', 'timeout', 'queue_full', 'rate_limited', 'cancelled', 'error'])
      assert.equal(
        sampleValue(text, 'switchyard_allocations_total', { ...fn, switchyard_allocation_result: result }),
        0,
      );
    assert.equal(sampleValue(text, 'switchyard_results_accepted_total', fn), 0);
    assert.equal(sampleValue(text, 'switchyard_tickets_queued', fn), 0);
    for (const result of ['fulfilled', 'pending', 'not_found', 'lost', 'errored'])
      assert.equal(sampleValue(text, 'switchyard_status_polls_total', { switchyard_poll_result: result }), 0);
    for (const reason of ['queue_full', 'rate_limited', 'key_connections_exceeded', 'shutting_down'])
      assert.equal(sampleValue(text, 'switchyard_rejections_total', { switchyard_rejection_reason: reason }), 0);
    for (const protocol of ['h2', 'http1'])
      assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: protocol }), 0);
    assert.equal(
      sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: 'websocket' }),
      undefined,
    );
    assert.match(text, /^switchyard_calls_total\{[^}]*service_name="invocation"[^}]*switchyard_region="test"/m);
  });

  it('should count a request over HTTP/1.1 and one over HTTP/2 by status class, with the allocation of the first', async () => {
    const res = await request(`${inv.url}/echo`, { headers: { host: h.host(inv), ...auth() } });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    const ok = { ...fn, switchyard_outcome: '2xx' };
    await expectValue(inv, 'switchyard_calls_total', ok, 1);
    let text = await scrapeMetrics(inv.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_call_duration_seconds_count', ok), 1);
    assert.equal(
      sampleValue(text, 'switchyard_allocations_total', { ...fn, switchyard_allocation_result: 'assigned' }),
      1,
    );
    assert.equal(sampleValue(text, 'switchyard_ticket_wait_duration_seconds_count', fn), 1);
    assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: 'http1' }), 1);

    const client = http2.connect(inv.url);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = client.request({ ':path': '/echo', host: h.host(inv), ...auth() });
        stream.on('response', (headers) => resolve(Number(headers[':status'])));
        stream.on('error', reject);
        stream.resume();
        stream.end();
      });
      assert.equal(status, 200);
      await expectValue(inv, 'switchyard_calls_total', ok, 2);
      await expectValue(inv, 'switchyard_client_connections_active', { switchyard_protocol: 'h2' }, 1);
    } finally {
      client.close();
    }
    await expectValue(inv, 'switchyard_client_connections_active', { switchyard_protocol: 'h2' }, 0);
    text = await scrapeMetrics(inv.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_client_connections_total', { switchyard_protocol: 'h2' }), 1);
    // A request for a function nobody deployed is `unknown`, never its made-up ID.
    const stranger = await request(`${inv.url}/echo`, {
      headers: { host: h.host(inv, '0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8'), ...auth() },
    });
    assert.equal(stranger.statusCode, 404);
    await stranger.body.dump();
    await expectValue(
      inv,
      'switchyard_calls_total',
      { switchyard_function_id: 'unknown', switchyard_function_version_id: 'unknown', switchyard_outcome: '4xx' },
      1,
    );
    assert.doesNotMatch(await scrapeMetrics(inv.metricsUrl ?? ''), /0b1c2d3e-4f50-4a61-8b72-93a4b5c6d7e8/);
  });

  it('should count a 202 and its status polls by result (pending, fulfilled, not_found)', async () => {
    const res = await request(`${inv.url}/slow?ms=1500`, {
      method: 'POST',
      headers: { host: h.host(inv), ...auth(), 'nvcf-poll-seconds': '1' },
      body: 'work',
    });
    assert.equal(res.statusCode, 202);
    const reqId = String(res.headers['nvcf-reqid']);
    await res.body.dump();
    const poll = async (headers: Record<string, string> = {}) => {
      const r = await request(`${inv.url}/v2/nvcf/pexec/status/${reqId}`, { headers: { ...auth(), ...headers } });
      await r.body.dump();
      return r.statusCode;
    };
    assert.equal(await poll(), 202);
    assert.equal(await poll({ 'nvcf-poll-seconds': '5' }), 200);
    assert.equal(await poll(), 404);
    await expectValue(inv, 'switchyard_status_polls_total', { switchyard_poll_result: 'not_found' }, 1);
    const text = await scrapeMetrics(inv.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_results_accepted_total', fn), 1);
    assert.equal(sampleValue(text, 'switchyard_status_polls_total', { switchyard_poll_result: 'pending' }), 1);
    assert.equal(sampleValue(text, 'switchyard_status_polls_total', { switchyard_poll_result: 'fulfilled' }), 1);
    assert.equal(sampleValue(text, 'switchyard_status_polls_total', { switchyard_poll_result: 'errored' }), 0);
    // The invocation answered 202 counts as a 2xx call; status polls are not calls.
    assert.equal(sampleValue(text, 'switchyard_calls_total', { ...fn, switchyard_outcome: '2xx' }), 3);
  });

  it('should count a rate-limited request as a rejection and a 4xx call', async () => {
    const limited = await h.addInvocation({ rateLimitPerKeyPerMinute: 1 }, { metrics: true });
    const send = async () => {
      const r = await request(`${limited.url}/echo`, { headers: { host: h.host(limited), ...auth() } });
      await r.body.dump();
      return r.statusCode;
    };
    assert.equal(await send(), 200);
    assert.equal(await send(), 429);
    await expectValue(limited, 'switchyard_calls_total', { ...fn, switchyard_outcome: '4xx' }, 1);
    const text = await scrapeMetrics(limited.metricsUrl ?? '');
    assert.equal(sampleValue(text, 'switchyard_rejections_total', { switchyard_rejection_reason: 'rate_limited' }), 1);
    assert.equal(sampleValue(text, 'switchyard_rejections_total', { switchyard_rejection_reason: 'queue_full' }), 0);
    assert.equal(sampleValue(text, 'switchyard_calls_total', { ...fn, switchyard_outcome: '2xx' }), 1);
  });

  it('should pass promtool check metrics on a scrape of the service', async () => {
    const text = await scrapeMetrics(inv.metricsUrl ?? '');
    assert.match(text, /^switchyard_call_duration_seconds_bucket\{/m);
    const { status, output } = promtoolCheckMetrics(text);
    assert.equal(status, 0, output);
  });
});
