// S1, S3, S4: how long a session holds worker capacity, how an operator evicts it, and how a new
// session waits for capacity. A real region in-process; windows and timeouts shrunk by config.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsNames } from '@switchyard/protocol';
import { waitFor } from '@switchyard/testkit';
import {
  echoClient,
  echoRequestFrame,
  pendingAfter,
  RawGrpcConnection,
  rejectsWithStatus,
  settle,
  sleep,
  unary,
  within,
} from './helpers.ts';
import { startRegion, type TestRegion } from './region.ts';

const WINDOW_MS = 1_000;

async function evict(
  nc: NatsConnection,
  worker: { versionId: string; workerId: string },
  reqId: string,
): Promise<{ ok: boolean; code?: string }> {
  const reply = await nc.request(NatsNames.workerEvict(worker.versionId, worker.workerId), JSON.stringify({ reqId }), {
    timeout: 3_000,
  });
  return JSON.parse(Buffer.from(reply.data).toString());
}

describe('S1: session capacity and the reconnect window', () => {
  let r: TestRegion;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy({ attachTimeoutMs: 8_000 });
  });
  after(() => r.h.stop());

  test('S1: should hold one unit of capacity from allocation until the reconnect window after the last connection closes', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2, reconnectWindowMs: WINDOW_MS });
    const client = echoClient(r.h.proxies[0].address);
    const first = await unary(client, {}, r.h.metadata());
    assert.equal(worker.freeCapacity, 1, 'the session holds one unit');
    const again = await unary(client, {}, r.h.metadata());
    assert.equal(again.res.request_id, first.reqId, 'a pinned call reuses the session');
    assert.equal(worker.freeCapacity, 1, 'a second call on the session takes no more capacity');

    client.close();
    const closedAt = Date.now();
    await sleep(WINDOW_MS / 2);
    assert.equal(worker.freeCapacity, 1, 'still held inside the window');
    assert.ok(await r.directory.get(first.reqId), 'record present inside the window');

    await waitFor(() => worker.freeCapacity === 2, { timeoutMs: WINDOW_MS + 3_000, what: 'capacity back' });
    assert.ok(Date.now() - closedAt >= WINDOW_MS - 50, 'freed only after the window');
    await waitFor(async () => (await r.directory.get(first.reqId)) === null, { timeoutMs: 2_000, what: 'record gone' });

    const late = echoClient(r.h.proxies[0].address);
    await rejectsWithStatus(
      unary(late, {}, r.h.metadata({ 'nvcf-reqid': first.reqId })),
      grpc.status.NOT_FOUND,
      /no existing session found/,
    );
    late.close();
    await worker.stop();
  });

  test('S1: should keep the session when a client resumes inside the reconnect window', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2, reconnectWindowMs: WINDOW_MS });
    const a = echoClient(r.h.proxies[0].address);
    const first = await unary(a, {}, r.h.metadata());
    a.close();
    await sleep(WINDOW_MS / 3);

    const b = echoClient(r.h.proxies[0].address);
    const resumed = await unary(b, {}, r.h.metadata({ 'nvcf-reqid': first.reqId }));
    assert.equal(resumed.res.request_id, first.reqId);
    assert.equal(resumed.res.instance_id, first.res.instance_id);
    assert.equal(Number(resumed.res.session_calls), 2);

    // The resumed connection stays open past the window: the session must outlive it.
    await sleep(WINDOW_MS * 2);
    assert.equal(worker.freeCapacity, 1, 'session still held while a connection uses it');
    const later = await unary(b, {}, r.h.metadata());
    assert.equal(later.res.request_id, first.reqId);
    assert.equal(Number(later.res.session_calls), 3);

    b.close();
    await waitFor(() => worker.freeCapacity === 2, { timeoutMs: WINDOW_MS + 3_000, what: 'capacity back' });
    assert.equal(await r.directory.get(first.reqId), null);
    await worker.stop();
  });

  test('S1: should serve a second client of a concurrency-1 worker only after the first session ended', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 1, reconnectWindowMs: WINDOW_MS });
    const a = echoClient(r.h.proxies[0].address);
    const first = await unary(a, {}, r.h.metadata());
    assert.equal(worker.freeCapacity, 0);

    const b = echoClient(r.h.proxies[0].address);
    let servedAt = 0;
    const second = unary(b, {}, r.h.metadata()).then((res) => {
      servedAt = Date.now();
      return res;
    });
    assert.ok(await pendingAfter(second, 700), 'the second session waits while the first holds the worker');

    a.close();
    const closedAt = Date.now();
    const done = await second;
    assert.notEqual(done.reqId, first.reqId, 'a new session');
    assert.equal(done.res.request_id, done.reqId);
    assert.ok(servedAt - closedAt >= WINDOW_MS - 50, `served ${servedAt - closedAt} ms after the close`);
    b.close();
    await worker.stop();
  });
});

describe('S3: eviction', () => {
  let r: TestRegion;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy();
  });
  after(() => r.h.stop());

  test('S3: should end an evicted session with UNAVAILABLE on in-flight calls, GOAWAY, a deleted record and NOT_FOUND on resume', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 4 });
    const address = r.h.proxies[0].address;
    const raw = new RawGrpcConnection(address);
    const opened = await raw.call('Unary', r.h.metadata(), echoRequestFrame({ payload: Buffer.from('x') }));
    assert.equal(opened.grpcStatus, 0);
    const reqId = String(opened.headers['nvcf-reqid']);
    assert.ok(await r.directory.get(reqId));
    assert.equal(worker.freeCapacity, 3);

    // In flight: a unary call whose answer is 10 s away (headers already sent), on the raw connection,
    // and a server stream on a second connection that resumed the session.
    const slow = raw.call('Unary', r.h.metadata(), echoRequestFrame({ payload: Buffer.from('y'), delay_ms: 10_000 }));
    const b = echoClient(address);
    const stream = b.ServerStream({ payload: Buffer.from('z'), repeat: 100, delay_ms: 100 }, toMd(r, reqId));
    const streamEnd = new Promise<grpc.ServiceError | undefined>((resolve) => {
      stream.on('data', () => undefined);
      stream.on('error', (err: grpc.ServiceError) => resolve(err));
      stream.on('end', () => resolve(undefined));
    });
    await new Promise((resolve) => stream.once('data', resolve));
    await sleep(200);

    const answer = await evict(r.h.nc, worker.config, reqId);
    assert.deepEqual(answer, { ok: true });

    const slowResult = await within(slow, 5_000, 'the in-flight unary call');
    assert.equal(
      slowResult.grpcStatus,
      grpc.status.UNAVAILABLE,
      `in-flight unary: grpc-status ${slowResult.grpcStatus}, rst ${slowResult.rstCode}`,
    );
    const streamErr = await within(streamEnd, 5_000, 'the in-flight server stream');
    assert.ok(streamErr, 'the server stream ended with an error, not OK');
    assert.equal(
      streamErr.code,
      grpc.status.UNAVAILABLE,
      `server stream: ${grpc.status[streamErr.code]} ${streamErr.details}`,
    );
    await waitFor(() => raw.goaway, { timeoutMs: 2_000, what: 'GOAWAY on the client connection' });
    assert.equal(await r.directory.get(reqId), null, 'record deleted');
    assert.equal(worker.freeCapacity, 4, 'capacity freed');

    const c = echoClient(address);
    await rejectsWithStatus(
      unary(c, {}, r.h.metadata({ 'nvcf-reqid': reqId })),
      grpc.status.NOT_FOUND,
      /no existing session found/,
    );
    for (const x of [b, c]) x.close();
    raw.close();
    await worker.stop();
  });

  test('S3: should answer an eviction of an unknown session with SY_SESSION_NOT_FOUND', async () => {
    const { worker } = await r.h.addWorker();
    const answer = await evict(r.h.nc, worker.config, '0b7c2c1e-5c43-4d4e-8d1a-6f1f8f0a9b11');
    assert.equal(answer.ok, false);
    assert.equal(answer.code, 'SY_SESSION_NOT_FOUND');
    await worker.stop();
  });
});

function toMd(r: TestRegion, reqId: string): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(r.h.metadata({ 'nvcf-reqid': reqId }))) md.set(k, v);
  return md;
}

describe('S4: waiting for capacity', () => {
  let r: TestRegion;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy({ attachTimeoutMs: 2_500 });
  });
  after(() => r.h.stop());

  test('S4: should give up with DEADLINE_EXCEEDED after the attach timeout when no worker frees up', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 1, reconnectWindowMs: 30_000 });
    const a = echoClient(r.h.proxies[0].address);
    await unary(a, {}, r.h.metadata());
    const b = echoClient(r.h.proxies[0].address);
    const startedAt = Date.now();
    await rejectsWithStatus(unary(b, {}, r.h.metadata()), grpc.status.DEADLINE_EXCEEDED, /failed to establish link/);
    const waited = Date.now() - startedAt;
    assert.ok(waited >= 2_300 && waited < 5_000, `waited ${waited} ms for a 2500 ms attach timeout`);
    assert.equal(worker.sessionCount, 1, 'the timed-out session was never allocated');
    for (const x of [a, b]) x.close();
    await worker.stop();
  });

  test('S4: should serve a waiting session when a worker frees up within the attach timeout', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 1, reconnectWindowMs: 300 });
    const a = echoClient(r.h.proxies[0].address);
    const first = await unary(a, {}, r.h.metadata());
    const b = echoClient(r.h.proxies[0].address);
    const second = settle(unary(b, {}, r.h.metadata()));
    await sleep(500);
    a.close(); // frees the worker 300 ms later, well inside the 2500 ms attach timeout
    const result = await second;
    assert.ok(result.ok, `the waiting session was served: ${result.ok ? '' : (result.error as Error).message}`);
    assert.notEqual(result.value.reqId, first.reqId);
    assert.equal(result.value.res.instance_id, first.res.instance_id);
    b.close();
    await worker.stop();
  });

  test('S4: should refuse with RESOURCE_EXHAUSTED when the per-version queue is full', async () => {
    const proxy = await r.h.addProxy({ attachTimeoutMs: 2_000, maxQueuePerVersion: 1 });
    const clients = [echoClient(proxy.address), echoClient(proxy.address)];
    // No worker at all: the first waits in the queue, the second finds it full.
    const waiting = settle(unary(clients[0], {}, r.h.metadata()));
    await sleep(200);
    await rejectsWithStatus(unary(clients[1], {}, r.h.metadata()), grpc.status.RESOURCE_EXHAUSTED);
    const first = await waiting;
    assert.equal(first.ok, false);
    assert.equal((first as { error: grpc.ServiceError }).error.code, grpc.status.DEADLINE_EXCEEDED);
    for (const c of clients) c.close();
  });
});
