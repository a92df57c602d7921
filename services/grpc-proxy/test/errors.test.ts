// G3, G10, G14, S4: the shape of errors the proxy makes itself (trailers-only for gRPC, text/plain
// with a mapped HTTP status otherwise), CORS, attach timeouts and the bounded ticket queue.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  eventually,
  grpcFrame,
  grpcRequestHeaders,
  newChannel,
  type RawH2Response,
  rawH1,
  rawH2,
  unary,
} from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, RegionHarness } from './region-harness.ts';

const ORIGIN = 'https://app.example.com';

/**
 * CORS headers of the contract (G14) for a request from `origin`; `allowHeaders` is `*`, or on a
 * preflight from a browser the requested headers echoed (a credentialed request takes no `*`).
 */
function assertCors(headers: Record<string, unknown>, origin = ORIGIN, allowHeaders = '*'): void {
  assert.equal(headers['access-control-allow-origin'], origin);
  assert.equal(headers['access-control-allow-credentials'], 'true');
  assert.equal(headers['access-control-allow-methods'], 'HEAD, GET, POST, PUT, PATCH, DELETE');
  assert.equal(headers['access-control-allow-headers'], allowHeaders);
  assert.equal(headers['access-control-max-age'], '3600');
  assert.match(String(headers.vary), /\borigin\b/i);
}

describe('proxy-made errors, CORS, attach timeout and queue bound (G3, G10, G14, S4)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  /** A function no worker serves. */
  let orphan: HarnessFunction;
  let scopedKey = '';
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ attachTimeoutMs: 800 });
    await h.addWorker({ concurrency: 100 });
    orphan = await h.addFunction({ name: 'orphan' });
    const other = await h.addFunction({ name: 'other' });
    scopedKey = (await h.addApiKey({ functions: [other.functionId] })).key;
  });
  after(() => h.stop());

  const auth = () => ({ authorization: `Bearer ${h.apiKey}`, 'function-id': h.functionId });

  test('G3: should answer a gRPC request with HTTP 200 trailers-only (grpc-status in the single HEADERS frame, END_STREAM)', async () => {
    const res = await rawH2(proxy.address, grpcRequestHeaders({ 'function-id': h.functionId }), grpcFrame({}));
    assert.equal(res.headers[':status'], 200);
    assert.equal(res.endStreamOnHeaders, true, 'trailers-only: END_STREAM on the response HEADERS');
    assert.equal(res.trailers, undefined);
    assert.equal(res.body.length, 0);
    assert.match(String(res.headers['content-type']), /^application\/grpc/);
    assert.equal(res.headers['grpc-status'], String(grpc.status.UNAUTHENTICATED));
    assert.equal(res.headers['grpc-message'], 'no authorization was passed in the metadata');
  });

  test('G3: should percent-encode grpc-message and keep HTTP 200 for every proxy-made gRPC error', async () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ authorization: `Bearer ${h.apiKey}` }, grpc.status.INVALID_ARGUMENT],
      [{ authorization: `Bearer ${scopedKey}`, 'function-id': h.functionId }, grpc.status.PERMISSION_DENIED],
      [{ ...auth(), 'function-id': '0f8e1c2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f' }, grpc.status.NOT_FOUND],
      [{ ...auth(), 'nvcf-reqid': '0f8e1c2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f' }, grpc.status.NOT_FOUND],
    ];
    for (const [headers, code] of cases) {
      const res = await rawH2(proxy.address, grpcRequestHeaders(headers), grpcFrame({}));
      assert.equal(res.headers[':status'], 200);
      assert.equal(res.endStreamOnHeaders, true);
      assert.equal(res.headers['grpc-status'], String(code), JSON.stringify(headers));
      assert.doesNotMatch(String(res.headers['grpc-message']), /[^\x20-\x7e]/);
    }
  });

  test('G3: should answer a non-gRPC HTTP/2 request with text/plain and the mapped HTTP status (3->400, 16->401, 7->403, 5->404)', async () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ authorization: `Bearer ${h.apiKey}` }, 400],
      [{ 'function-id': h.functionId }, 401],
      [{ authorization: `Bearer ${scopedKey}`, 'function-id': h.functionId }, 403],
      [{ ...auth(), 'function-id': '0f8e1c2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f' }, 404],
    ];
    for (const [headers, status] of cases) {
      const res = await rawH2(
        proxy.address,
        { ':method': 'POST', ':path': '/', 'content-type': 'text/plain', ...headers },
        Buffer.from('x'),
      );
      assert.equal(res.headers[':status'], status, JSON.stringify(headers));
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.equal(res.headers['grpc-status'], undefined);
      assert.ok(res.body.toString().length > 0);
    }
  });

  test('G3: should answer a non-gRPC HTTP/2 request to a function without workers with 504 (4->504)', async () => {
    const res = await rawH2(proxy.address, {
      ':method': 'GET',
      ':path': '/',
      authorization: `Bearer ${h.apiKey}`,
      'function-id': orphan.functionId,
    });
    assert.equal(res.headers[':status'], 504);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.match(res.body.toString(), /failed to establish link to worker/);
  });

  test('G3: should answer an HTTP/1.1 request with text/plain and the mapped HTTP status (3->400, 16->401, 7->403, 5->404, 14->503)', async () => {
    const cases: Array<[Record<string, string>, number]> = [
      [{ authorization: `Bearer ${h.apiKey}` }, 400],
      [{ 'function-id': h.functionId }, 401],
      [{ authorization: `Bearer ${scopedKey}`, 'function-id': h.functionId }, 403],
      [{ ...auth(), 'function-id': '0f8e1c2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f' }, 404],
      [{ ...auth(), 'nvcf-reqid': '0f8e1c2d-3b4a-4c5d-9e6f-7a8b9c0d1e2f' }, 404],
      [auth(), 503],
    ];
    for (const [headers, status] of cases) {
      const res = await rawH1(proxy.address, 'POST', headers);
      assert.equal(res.status, status, JSON.stringify(headers));
      assert.match(String(res.headers['content-type']), /^text\/plain/);
    }
  });

  test('G14: should answer an OPTIONS preflight over HTTP/1.1 with 204 and the CORS headers, echoing the Origin and requested headers', async () => {
    const res = await rawH1(proxy.address, 'OPTIONS', {
      origin: ORIGIN,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, function-id',
    });
    assert.equal(res.status, 204);
    assertCors(res.headers, ORIGIN, 'authorization, function-id');
    assert.match(String(res.headers.vary), /access-control-request-headers/i);
  });

  test('G14: should answer an OPTIONS preflight over HTTP/2 with 204 and the CORS headers, echoing the Origin and requested headers', async () => {
    const res = await rawH2(proxy.address, {
      ':method': 'OPTIONS',
      ':path': '/switchyard.echo.v1.Echo/Unary',
      origin: ORIGIN,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, function-id, nvcf-reqid',
    });
    assert.equal(res.headers[':status'], 204);
    assertCors(res.headers, ORIGIN, 'authorization, function-id, nvcf-reqid');
    const bare = await rawH2(proxy.address, { ':method': 'OPTIONS', ':path': '/', origin: ORIGIN });
    assertCors(bare.headers);
  });

  test('G14: should answer a preflight without Origin with `access-control-allow-origin: *`', async () => {
    const h1 = await rawH1(proxy.address, 'OPTIONS');
    assert.equal(h1.status, 204);
    assertCors(h1.headers, '*');
    const h2 = await rawH2(proxy.address, { ':method': 'OPTIONS', ':path': '/' });
    assert.equal(h2.headers[':status'], 204);
    assertCors(h2.headers, '*');
  });

  test('G14: should put the CORS headers on proxy-made errors (gRPC, non-gRPC HTTP/2, HTTP/1.1)', async () => {
    const grpcError = await rawH2(proxy.address, grpcRequestHeaders({ origin: ORIGIN }), grpcFrame({}));
    assert.equal(grpcError.headers['grpc-status'], String(grpc.status.UNAUTHENTICATED));
    assertCors(grpcError.headers);
    const h2Error = await rawH2(proxy.address, { ':method': 'GET', ':path': '/', origin: ORIGIN });
    assert.equal(h2Error.headers[':status'], 401);
    assertCors(h2Error.headers);
    const h1Error = await rawH1(proxy.address, 'GET', { origin: ORIGIN });
    assert.equal(h1Error.status, 401);
    assertCors(h1Error.headers);
  });

  test('G14: should let a browser read a relayed response: allow-origin echoed and nvcf-reqid exposed', async () => {
    const res = await rawH2(
      proxy.address,
      grpcRequestHeaders({ ...auth(), origin: ORIGIN }),
      grpcFrame({ payload: Buffer.from('cors') }),
    );
    assert.equal(res.trailers?.['grpc-status'], '0');
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.match(String(res.headers['access-control-expose-headers']), /nvcf-reqid/);
  });

  test('G10: should answer DEADLINE_EXCEEDED "failed to establish link to worker" after the attach timeout and withdraw the ticket', async () => {
    const jsm = await jetstreamManager(h.nc);
    const stream = `TICKETS_${h.region}`;
    const messages = async () => (await jsm.streams.info(stream)).state.messages;
    const channel = newChannel(proxy.address);
    try {
      const started = Date.now();
      const pending = unary(channel, {}, h.metadata({}, orphan));
      await eventually(async () => (await messages()) === 1, 700, 'the ticket to be queued');
      const result = await pending;
      const elapsed = Date.now() - started;
      assert.equal(result.status.code, grpc.status.DEADLINE_EXCEEDED);
      assert.equal(result.status.details, 'failed to establish link to worker');
      assert.ok(elapsed >= 750 && elapsed < 3_000, `answered after ${elapsed} ms (attachTimeoutMs 800)`);
      await eventually(async () => (await messages()) === 0, 1_000, 'the ticket to be withdrawn');
      // A worker that starts now finds nothing to take.
      const late = await h.addWorker({ functionId: orphan.functionId, versionId: orphan.versionId });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(late.worker.sessionCount, 0);
      await late.stop();
    } finally {
      channel.close();
    }
  });

  test('G10: should bound the attach wait by a shorter grpc-timeout', async () => {
    const patient = await h.addProxy({ attachTimeoutMs: 10_000 });
    const res: RawH2Response = await rawH2(
      patient.address,
      grpcRequestHeaders({
        authorization: `Bearer ${h.apiKey}`,
        'function-id': orphan.functionId,
        'grpc-timeout': '300m',
      }),
      grpcFrame({}),
    );
    assert.equal(res.headers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
    assert.ok(res.elapsedMs < 2_000, `answered after ${res.elapsedMs} ms, grpc-timeout 300m`);
    const jsm = await jetstreamManager(h.nc);
    await eventually(
      async () => (await jsm.streams.info(`TICKETS_${h.region}`)).state.messages === 0,
      1_000,
      'the ticket to be withdrawn',
    );
  });

  test('S4: should answer RESOURCE_EXHAUSTED to a new session when the queue of its version is full (maxQueuePerVersion=1)', async () => {
    const bounded = await h.addProxy({ maxQueuePerVersion: 1, attachTimeoutMs: 800 });
    const a = newChannel(bounded.address);
    const b = newChannel(bounded.address);
    try {
      const first = unary(a, {}, h.metadata({}, orphan));
      await new Promise((r) => setTimeout(r, 100));
      const second = await unary(b, {}, h.metadata({}, orphan));
      assert.equal(second.status.code, grpc.status.RESOURCE_EXHAUSTED);
      // RESOURCE_EXHAUSTED (not DEADLINE_EXCEEDED after attachTimeoutMs) shows it was never queued.
      assert.equal((await first).status.code, grpc.status.DEADLINE_EXCEEDED);
      // Another version's queue is independent, and the bound frees up.
      const served = await unary(b, {}, h.metadata());
      assert.equal(served.error, undefined);
      const nonGrpc = rawH2(bounded.address, {
        ':method': 'GET',
        ':path': '/',
        authorization: `Bearer ${h.apiKey}`,
        'function-id': orphan.functionId,
      });
      await new Promise((r) => setTimeout(r, 100));
      const full = await rawH2(bounded.address, {
        ':method': 'GET',
        ':path': '/',
        authorization: `Bearer ${h.apiKey}`,
        'function-id': orphan.functionId,
      });
      assert.equal(full.headers[':status'], 429, 'G3: 8->429');
      assert.equal((await nonGrpc).headers[':status'], 504);
    } finally {
      a.close();
      b.close();
    }
  });
});
