// A ticket carries its publisher's trace context in the NATS message headers (W3C `traceparent`,
// `tracestate`) and the consumer gets it back as `traceContext`; a ticket published outside any span
// has no headers and comes back with the root context. Real nats-server, real SDK propagator.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Ticket } from '@switchyard/protocol';
import { contextFromHeaders, ROOT_CONTEXT, startTelemetry, type Telemetry, trace } from '@switchyard/telemetry';
import { type NatsServerHandle, startNats } from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';

function ticket(versionId: string): Ticket {
  return {
    reqId: randomUUID(),
    accountId: 'acct',
    functionId: randomUUID(),
    versionId,
    kind: 'http',
    proxyId: 'proxy-1',
    callbackUri: 'http://127.0.0.1:10086',
    token: 'x'.repeat(32),
    deadlineMs: Date.now() + 30_000,
    region: 'tt',
  };
}

describe('ticket trace context', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let queue: TicketQueue;
  let telemetry: Telemetry;
  before(async () => {
    // Registers the W3C propagator (no exporter: nothing leaves the process).
    telemetry = await startTelemetry({ service: 'ticket-trace-test', region: 'tt', instanceId: 't' });
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    queue = await TicketQueue.open(nc, { region: 'tt' });
  });
  after(async () => {
    await nc.close();
    await nats.stop();
    await telemetry.shutdown();
  });

  test('the worker gets the trace context the publisher sent, tracestate included', async () => {
    const versionId = randomUUID();
    const sent = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };
    const ctx = contextFromHeaders({
      traceparent: `00-${sent.traceId}-${sent.spanId}-01`,
      tracestate: 'vendor=abc',
    });
    await queue.publish(ticket(versionId), ctx);
    const pulled = await (await queue.consumer(versionId)).next(5_000);
    assert.ok(pulled);
    const got = trace.getSpanContext(pulled.traceContext);
    assert.ok(got, 'a span context came with the ticket');
    assert.equal(got.traceId, sent.traceId);
    assert.equal(got.spanId, sent.spanId);
    assert.equal(got.traceFlags, 1);
    assert.equal(got.isRemote, true);
    assert.equal(got.traceState?.serialize(), 'vendor=abc');
    pulled.ack();
  });

  test('a ticket published outside a span carries none', async () => {
    const versionId = randomUUID();
    await queue.publish(ticket(versionId), ROOT_CONTEXT);
    const pulled = await (await queue.consumer(versionId)).next(5_000);
    assert.ok(pulled);
    assert.equal(pulled.traceContext, ROOT_CONTEXT);
    pulled.ack();
  });
});
