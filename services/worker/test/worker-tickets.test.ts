// W2, W4: the worker takes tickets only while it has free capacity; it drops expired tickets and
// tickets whose callback URI is outside its allow-list, without dialling anything.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { newRequestId, type Ticket } from '@switchyard/protocol';
import { TicketQueue } from '@switchyard/ticket-queue';
import { echoClient, pendingAfter, rejectsWithStatus, sleep, unary } from './helpers.ts';
import type { HarnessProxy } from './region.ts';
import { startRegion, type TestRegion } from './region.ts';

describe('W2: tickets and capacity', () => {
  let r: TestRegion;
  let proxy: HarnessProxy;
  let queue: TicketQueue;
  before(async () => {
    r = await startRegion();
    proxy = await r.h.addProxy({ attachTimeoutMs: 1_500 });
    queue = await TicketQueue.open(r.h.nc, { region: r.h.region });
  });
  after(() => r.h.stop());

  /** A ticket as the proxy would publish it, with a token the proxy really issued. */
  function ticketFor(callbackUri: string, deadlineMs: number) {
    const reqId = newRequestId();
    const { token, attached, cancel } = proxy.proxy.tunnels.expectAttach(reqId, 10_000);
    const ticket: Ticket = {
      reqId,
      accountId: 'acct-test',
      functionId: r.h.functionId,
      versionId: r.h.versionId,
      kind: 'grpc',
      proxyId: proxy.proxy.config.proxyId,
      callbackUri,
      token,
      deadlineMs,
      region: r.h.region,
    };
    return { ticket, attached, cancel };
  }

  async function queuedTickets(): Promise<number> {
    const jsm = await jetstreamManager(r.h.nc);
    return (await jsm.streams.info(queue.stream)).state.messages;
  }

  const callback = () => `http://127.0.0.1:${proxy.callbackPort}`;

  test('W2: should take a third session of a concurrency-2 worker only once one of two ends', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2, reconnectWindowMs: 200 });
    const proxyB = await r.h.addProxy({ attachTimeoutMs: 8_000 });
    const clients = [0, 1, 2].map(() => echoClient(proxyB.address));
    const [a] = await Promise.all([unary(clients[0], {}, r.h.metadata()), unary(clients[1], {}, r.h.metadata())]);
    assert.equal(worker.freeCapacity, 0);
    const third = unary(clients[2], {}, r.h.metadata());
    assert.ok(await pendingAfter(third, 1_000), 'the third session waits');
    assert.equal(worker.sessionCount, 2, 'no ticket taken beyond capacity');
    assert.equal(await queuedTickets(), 1, 'its ticket stays queued');
    clients[0].close();
    const served = await third;
    assert.notEqual(served.reqId, a.reqId);
    assert.equal(worker.sessionCount, 2);
    for (const c of clients) c.close();
    await worker.stop();
    await proxyB.stop();
  });

  test('W2: should serve a directly published ticket whose deadline is ahead (control case)', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2 });
    const { ticket, attached } = ticketFor(callback(), Date.now() + 10_000);
    await queue.publish(ticket);
    const tunnel = await Promise.race([attached, sleep(3_000).then(() => undefined)]);
    assert.ok(tunnel, 'the worker attached for a live ticket');
    assert.equal((await r.directory.get(ticket.reqId))?.record.workerId, worker.config.workerId);
    await worker.stop();
  });

  test('W2: should drop an expired ticket without serving it', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2 });
    const { ticket, attached, cancel } = ticketFor(callback(), Date.now() - 1_000);
    await queue.publish(ticket);
    assert.ok(await pendingAfter(attached, 2_000), 'no attach for an expired ticket');
    cancel();
    assert.equal(await r.directory.get(ticket.reqId), null, 'no session record');
    assert.equal(worker.sessionCount, 0);
    assert.equal(worker.freeCapacity, 2);
    assert.equal(await queuedTickets(), 0, 'the ticket was terminated, not left for redelivery');
    await worker.stop();
  });

  test('W4: should drop a ticket whose callback URI is outside the allow-list, and the proxy times out', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2, callbackAllowList: ['http://10.255.255.1:'] });
    const client = echoClient(proxy.address);
    await rejectsWithStatus(
      unary(client, {}, r.h.metadata()),
      grpc.status.DEADLINE_EXCEEDED,
      /failed to establish link/,
    );
    assert.equal(worker.tunnelCount, 0, 'nothing dialled');
    assert.equal(proxy.proxy.tunnels.size, 0);
    assert.equal(worker.sessionCount, 0);
    assert.equal(await queuedTickets(), 0);
    client.close();
    await worker.stop();
  });

  test('W4: should not dial a callback URI that only looks allowed (userinfo before another host)', async () => {
    const { worker } = await r.h.addWorker({ concurrency: 2, callbackAllowList: ['http://127.0.0.1:'] });
    // Starts with the allowed prefix, but the host is `localhost` ("127.0.0.1:1" is userinfo).
    const { ticket, attached, cancel } = ticketFor(
      `http://127.0.0.1:1@localhost:${proxy.callbackPort}`,
      Date.now() + 10_000,
    );
    await queue.publish(ticket);
    assert.ok(await pendingAfter(attached, 2_000), 'the worker dialled a host outside its allow-list');
    cancel();
    assert.equal(worker.tunnelCount, 0);
    assert.equal(await r.directory.get(ticket.reqId), null);
    await worker.stop();
  });
});
