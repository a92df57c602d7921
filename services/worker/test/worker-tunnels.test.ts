// W1, W3: one tunnel per (worker, proxy) shared by every session between them; a lost tunnel is
// re-dialled on the next pinned call or resume and the session continues; the worker owns its
// records (written on allocation, deleted on a clean stop, kept for the window after a tunnel loss).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { EchoClient } from '@switchyard/sample-functions';
import { waitFor } from '@switchyard/testkit';
import { echoClient, rejectsWithStatus, sleep, unary } from './helpers.ts';
import { startRegion, type TestRegion } from './region.ts';

describe('W1: tunnels per (worker, proxy)', () => {
  let r: TestRegion;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy();
  });
  after(() => r.h.stop());

  test('W1: should carry 200 sessions from one proxy to one worker over one tunnel, and open a second for a second proxy', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 200 });
    const [p1] = r.h.proxies;
    const clients: EchoClient[] = Array.from({ length: 200 }, () => echoClient(p1.address));
    // Tickets taken in the same tick must share one dial: a second tunnel would close the first.
    let dialled = 0;
    const onTunnel = () => dialled++;
    p1.proxy.tunnels.on('tunnel', onTunnel);
    try {
      const results = await Promise.all(clients.map((c) => unary(c, {}, r.h.metadata())));
      assert.equal(dialled, 1, 'one dial for 200 concurrent allocations');
      assert.equal(new Set(results.map((x) => x.reqId)).size, 200, '200 distinct sessions');
      for (const x of results) assert.equal(x.res.request_id, x.reqId);
      assert.equal(worker.sessionCount, 200);
      assert.equal(worker.freeCapacity, 0);
      assert.equal(p1.proxy.tunnels.size, 1, 'one tunnel at the proxy');
      assert.equal(worker.tunnelCount, 1, 'one tunnel at the worker');
    } finally {
      p1.proxy.tunnels.off('tunnel', onTunnel);
      for (const c of clients) c.close();
    }
    await worker.stop();

    const w2 = await r.h.addWorker({ concurrency: 4 });
    const p2 = await r.h.addProxy();
    const a = echoClient(p1.address);
    const b = echoClient(p2.address);
    await unary(a, {}, r.h.metadata());
    await unary(b, {}, r.h.metadata());
    assert.equal(w2.worker.tunnelCount, 2, 'one tunnel per proxy');
    assert.equal(p2.proxy.tunnels.size, 1);
    a.close();
    b.close();
    await w2.worker.stop();
    await p2.stop();
  });

  test('W1: should re-dial a lost tunnel on the next call of a pinned connection and continue the session', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 4 });
    const [p1] = r.h.proxies;
    const client = echoClient(p1.address);
    const first = await unary(client, {}, r.h.metadata());
    const tunnel = p1.proxy.tunnels.get(worker.config.workerId);
    assert.ok(tunnel);
    tunnel.destroy();
    await waitFor(() => worker.tunnelCount === 0, { timeoutMs: 2_000, what: 'the worker sees the loss' });

    const next = await unary(client, {}, r.h.metadata());
    assert.equal(next.res.request_id, first.reqId, 'same session');
    assert.equal(next.res.instance_id, first.res.instance_id);
    assert.equal(Number(next.res.session_calls), 2, 'the session continues');
    const redialled = p1.proxy.tunnels.get(worker.config.workerId);
    assert.ok(redialled && redialled !== tunnel, 'a new tunnel');
    assert.equal(worker.tunnelCount, 1);
    client.close();
    await worker.stop();
  });

  test('W1: should re-dial a lost tunnel on a resume and continue the session', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 4, reconnectWindowMs: 10_000 });
    const [p1] = r.h.proxies;
    const a = echoClient(p1.address);
    const first = await unary(a, {}, r.h.metadata());
    a.close();
    await sleep(200);
    p1.proxy.tunnels.get(worker.config.workerId)?.destroy();
    await waitFor(() => worker.tunnelCount === 0, { timeoutMs: 2_000, what: 'the worker sees the loss' });
    assert.equal(worker.sessionCount, 1, 'kept for the window (W3)');

    const b = echoClient(p1.address);
    const resumed = await unary(b, {}, r.h.metadata({ 'nvcf-reqid': first.reqId }));
    assert.equal(resumed.res.request_id, first.reqId);
    assert.equal(Number(resumed.res.session_calls), 2);
    assert.equal(worker.tunnelCount, 1);
    b.close();
    await worker.stop();
  });

  test('W1: should keep a session whose connection stayed open across a lost tunnel once its calls flow again', async () => {
    const window = 1_000;
    const { worker } = await r.h.addWorker({ concurrency: 4, reconnectWindowMs: window });
    const [p1] = r.h.proxies;
    const p = echoClient(p1.address);
    const q = echoClient(p1.address);
    await unary(p, {}, r.h.metadata());
    const qFirst = await unary(q, {}, r.h.metadata());
    p1.proxy.tunnels.get(worker.config.workerId)?.destroy();
    await waitFor(() => worker.tunnelCount === 0, { timeoutMs: 2_000, what: 'the worker sees the loss' });

    await unary(p, {}, r.h.metadata()); // re-dials the tunnel for P's session
    const qSecond = await unary(q, {}, r.h.metadata()); // Q's call arrives over the new tunnel
    assert.equal(qSecond.res.request_id, qFirst.reqId);
    await sleep(window * 2); // Q's connection is open: its session must not end with the window
    const qThird = await unary(q, {}, r.h.metadata());
    assert.equal(qThird.res.request_id, qFirst.reqId, 'same session after the window');
    assert.equal(Number(qThird.res.session_calls), 3);
    for (const c of [p, q]) c.close();
    await worker.stop();
  });
});

describe('W3: the worker owns its session records', () => {
  let r: TestRegion;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy();
  });
  after(() => r.h.stop());

  test('W3: should write the record on allocation and delete every record on a clean stop', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 4 });
    const clients = [0, 1, 2].map(() => echoClient(r.h.proxies[0].address));
    const ids: string[] = [];
    for (const c of clients) {
      const { reqId } = await unary(c, {}, r.h.metadata());
      const entry = await r.directory.get(reqId);
      assert.ok(entry, 'record written by the time the first call returns');
      assert.equal(entry.record.workerId, worker.config.workerId);
      assert.equal(entry.record.functionId, r.h.functionId);
      assert.equal(entry.record.versionId, r.h.versionId);
      ids.push(reqId);
    }
    assert.deepEqual(new Set(worker.sessionIds()), new Set(ids));
    await worker.stop();
    for (const id of ids) assert.equal(await r.directory.get(id), null, `record ${id} deleted on stop`);
    assert.equal(worker.sessionCount, 0);
    assert.equal(worker.tunnelCount, 0);
    // Clients pinned to the stopped worker's sessions are told to go (GOAWAY) and start over.
    await rejectsWithStatus(
      unary(echoClient(r.h.proxies[0].address), {}, r.h.metadata({ 'nvcf-reqid': ids[0] })),
      grpc.status.NOT_FOUND,
    );
    for (const c of clients) c.close();
  });

  test('W3: should keep sessions for the reconnect window after an unclean tunnel loss, then delete them', async () => {
    const window = 1_500;
    const { worker } = await r.h.addWorker({ concurrency: 4, reconnectWindowMs: window });
    const client = echoClient(r.h.proxies[0].address);
    const { reqId } = await unary(client, {}, r.h.metadata());
    const lostAt = Date.now();
    r.h.proxies[0].proxy.tunnels.get(worker.config.workerId)?.destroy();
    await sleep(window / 2);
    assert.equal(worker.sessionCount, 1, 'held inside the window');
    assert.ok(await r.directory.get(reqId), 'record kept inside the window');
    await waitFor(() => worker.sessionCount === 0, { timeoutMs: window + 3_000, what: 'session ended' });
    assert.ok(Date.now() - lostAt >= window - 50, 'not before the window');
    assert.equal(await r.directory.get(reqId), null, 'record deleted after the window');
    assert.equal(worker.freeCapacity, 4);
    client.close();
    await worker.stop();
  });
});
