import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { isSwitchyardError, type Ticket } from '@switchyard/protocol';
import { type NatsServerHandle, startNats, waitFor } from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';

function ticket(versionId: string, overrides: Partial<Ticket> = {}): Ticket {
  return {
    reqId: randomUUID(),
    accountId: 'acct',
    functionId: randomUUID(),
    versionId,
    kind: 'grpc',
    proxyId: 'proxy-1',
    callbackUri: 'http://127.0.0.1:10086',
    token: 'x'.repeat(32),
    deadlineMs: Date.now() + 30_000,
    region: 'tq',
    ...overrides,
  };
}

describe('ticket queue', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let queue: TicketQueue;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    queue = await TicketQueue.open(nc, { region: 'tq' });
  });
  after(async () => {
    await nc.close();
    await nats.stop();
  });

  test('W2: a ticket should reach the consumer of its version only, and be gone once acknowledged', async () => {
    const v1 = randomUUID();
    const v2 = randomUUID();
    const t = ticket(v1);
    await queue.publish(t);
    const other = await (await queue.consumer(v2)).next(1_000);
    assert.equal(other, null);
    const pulled = await (await queue.consumer(v1)).next(2_000);
    assert.equal(pulled?.ticket.reqId, t.reqId);
    pulled?.ack();
    assert.equal(await (await queue.consumer(v1)).next(1_000), null);
  });

  test('W2: a pulled ticket should say how many of its version still wait behind it, in order', async () => {
    const v = randomUUID();
    const other = randomUUID();
    const sent = [ticket(v), ticket(v), ticket(v)];
    for (const t of sent) await queue.publish(t);
    await queue.publish(ticket(other)); // another version's ticket is not counted
    const consumer = await queue.consumer(v);
    const seen: [string, number][] = [];
    for (let i = 0; i < 3; i++) {
      const pulled = await consumer.next(2_000);
      assert.ok(pulled);
      seen.push([pulled.ticket.reqId, pulled.pending]);
      pulled.ack();
    }
    assert.deepEqual(
      seen,
      sent.map((t, i) => [t.reqId, 2 - i]),
    );
  });

  test('H8/G10: a withdrawn ticket should never be delivered', async () => {
    const v = randomUUID();
    const seq = await queue.publish(ticket(v));
    await queue.withdraw(seq);
    assert.equal(await (await queue.consumer(v)).next(1_000), null);
  });

  test('should deduplicate a ticket published twice with the same request ID', async () => {
    const v = randomUUID();
    const t = ticket(v);
    // JetStream answers "not enabled" for a moment after the restart; the publish itself recreates the stream.
    await waitFor(async () => (await queue.publish(t).catch(() => undefined)) !== undefined, {
      what: 'a publish to succeed',
    });
    await queue.publish(t);
    const c = await queue.consumer(v);
    (await c.next(1_000))?.ack();
    assert.equal(await c.next(1_000), null);
  });

  test('S4: a full stream should answer SY_QUEUE_FULL', async () => {
    const small = await TicketQueue.open(nc, { region: 'tqsmall', maxTickets: 2 });
    const v = randomUUID();
    await small.publish(ticket(v, { region: 'tqsmall' }));
    await small.publish(ticket(v, { region: 'tqsmall' }));
    await assert.rejects(small.publish(ticket(v, { region: 'tqsmall' })), (err) =>
      isSwitchyardError(err, 'SY_QUEUE_FULL'),
    );
  });

  test('should recreate its memory stream after a server restart, for publishers and consumers', async () => {
    const v = randomUUID();
    await (await queue.consumer(v)).next(1_000);
    await nats.stop();
    await nats.restart();
    await waitFor(async () => (await nc.rtt().catch(() => undefined)) !== undefined, {
      what: 'the client to reconnect',
    });
    const jsm = await jetstreamManager(nc);
    await assert.rejects(jsm.streams.info(queue.stream), 'a memory stream does not survive the restart');
    const t = ticket(v);
    // JetStream answers "not enabled" for a moment after the restart; the publish itself recreates the stream.
    await waitFor(async () => (await queue.publish(t).catch(() => undefined)) !== undefined, {
      what: 'a publish to succeed',
    });
    let got: string | undefined;
    for (let i = 0; i < 10 && !got; i++) {
      try {
        const pulled = await (await queue.consumer(v)).next(1_000);
        got = pulled?.ticket.reqId;
        pulled?.ack();
      } catch {
        // the first pull after the restart fails; the next one reopens the consumer
      }
    }
    assert.equal(got, t.reqId);
  });
});
