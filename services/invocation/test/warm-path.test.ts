// The warm path of one-shot HTTP requests (H8, W2): after a worker of a version took one ticket of an
// invocation instance, the instance offers the next requests of that version straight over the
// worker's tunnel; a worker without a free unit refuses (REFUSED_STREAM) and the request takes a
// ticket, never served twice nor lost. Tickets are counted on the wire with a core NATS subscription.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Subscription } from '@nats-io/nats-core';
import { NatsNames } from '@switchyard/protocol';
import { startTcpRelay, type TcpRelayHandle } from '@switchyard/testkit';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness, patternBuffer } from './harness.ts';

/** Counts the tickets published for the harness function's version. */
function countTickets(h: InvocationHarness): { readonly count: number; sub: Subscription } {
  const counter = { count: 0, sub: undefined as unknown as Subscription };
  counter.sub = h.nc.subscribe(NatsNames.ticketFilter(h.region, h.versionId), {
    callback: () => {
      counter.count++;
    },
  });
  return counter;
}

async function echo(h: InvocationHarness, inv: HarnessInvocation, body: string) {
  const res = await request(`${inv.url}/echo?n=${encodeURIComponent(body)}`, {
    method: 'POST',
    headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}`, 'content-type': 'text/plain' },
    body,
  });
  const json = (await res.body.json()) as { body: string; query: Record<string, string> };
  return { status: res.statusCode, json, headers: res.headers };
}

describe('the warm path of HTTP requests (H8, W2)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let tickets: ReturnType<typeof countTickets>;

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    await h.addWorker({ concurrency: 1 });
    tickets = countTickets(h);
    await h.nc.flush();
  });
  after(async () => {
    tickets.sub.unsubscribe();
    await h.stop();
  });

  it('H8: should send requests after the first one over the worker tunnel without a ticket', async () => {
    const first = await echo(h, inv, 'first');
    assert.equal(first.status, 200);
    assert.equal(first.json.body, 'first');
    assert.equal(tickets.count, 1, 'the first request takes a ticket');
    for (let i = 0; i < 20; i++) {
      const r = await echo(h, inv, `warm-${i}`);
      assert.equal(r.status, 200);
      assert.equal(r.json.body, `warm-${i}`, 'each answer is its own request');
      assert.equal(r.json.query.n, `warm-${i}`);
      assert.match(String(r.headers['nvcf-reqid']), /^[0-9a-f-]{36}$/);
    }
    await h.nc.flush();
    assert.equal(tickets.count, 1, 'no ticket for warm requests');
    const seen = h.container.log.seen.filter((s) => s.url.startsWith('/echo?n=warm-')).length;
    assert.equal(seen, 20, 'each request reached the container exactly once');
  });

  it('W2: should refuse a warm offer past the worker concurrency; the request takes a ticket, waits for the unit, and arrives whole once', async () => {
    const before = tickets.count;
    const auth = { host: h.host(inv), authorization: `Bearer ${h.apiKey}` };
    const slow = request(`${inv.url}/slow?ms=700`, { headers: auth }); // warm: holds the only unit
    await new Promise((r) => setTimeout(r, 150));
    const upload = patternBuffer(1 << 20, 7);
    const startedMs = Date.now();
    const second = await request(`${inv.url}/upload`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: upload,
    });
    const result = (await second.body.json()) as { sha256: string; bytes: number };
    const slowRes = await slow;
    await slowRes.body.dump();
    assert.equal(slowRes.statusCode, 200);
    assert.equal(second.statusCode, 200);
    assert.equal(result.bytes, upload.length);
    assert.equal(result.sha256, createHash('sha256').update(upload).digest('hex'), 'the body the refusal held back');
    assert.ok(Date.now() - startedMs >= 400, 'served only once the slow request freed the unit');
    await h.nc.flush();
    assert.equal(tickets.count - before, 1, 'the refused request took exactly one ticket');
    assert.equal(h.container.log.seen.filter((s) => s.url === '/upload').length, 1, 'served once');
    assert.equal(h.workers[0].worker.freeCapacity, 1, 'every unit is free again');
  });

  it('W2: should re-send a small body read before the warm offer whole through a ticket when the offer is refused', async () => {
    const before = tickets.count;
    const auth = { host: h.host(inv), authorization: `Bearer ${h.apiKey}` };
    const slow = request(`${inv.url}/slow?ms=500`, { headers: auth });
    await new Promise((r) => setTimeout(r, 150));
    const small = patternBuffer(10_000, 3); // <= 64 KiB: sent with the offer, kept for the ticket path
    const second = await request(`${inv.url}/upload`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/octet-stream' },
      body: small,
    });
    const result = (await second.body.json()) as { sha256: string; bytes: number };
    await (await slow).body.dump();
    assert.equal(second.statusCode, 200);
    assert.equal(result.bytes, small.length);
    assert.equal(result.sha256, createHash('sha256').update(small).digest('hex'));
    await h.nc.flush();
    assert.equal(tickets.count - before, 1, 'refused, then one ticket');
    // Admitted at once when the unit is free: small and large bodies, no ticket.
    const large = patternBuffer(3 << 20, 5);
    for (const body of [small, large]) {
      const res = await request(`${inv.url}/upload`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/octet-stream' },
        body,
      });
      const got = (await res.body.json()) as { sha256: string; bytes: number };
      assert.equal(got.sha256, createHash('sha256').update(body).digest('hex'));
    }
    await h.nc.flush();
    assert.equal(tickets.count - before, 1, 'no further ticket');
  });

  it('should send every request as a ticket with warmPath=false', async () => {
    const cold = await h.addInvocation({ warmPath: false });
    const before = tickets.count;
    for (let i = 0; i < 5; i++) assert.equal((await echo(h, cold, `cold-${i}`)).status, 200);
    await h.nc.flush();
    assert.equal(tickets.count - before, 5);
  });

  it('should fall back to tickets when the warm worker is gone, and go warm again with a new worker', async () => {
    await h.workers[0].stop();
    h.workers.splice(0, 1);
    await h.addWorker({ concurrency: 2 });
    const before = tickets.count;
    for (let i = 0; i < 5; i++) assert.equal((await echo(h, inv, `after-${i}`)).status, 200);
    await h.nc.flush();
    assert.equal(tickets.count - before, 1, 'one ticket to the new worker, then warm');
  });
});

describe('the warm path yields to queued tickets (W2 fairness)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let relay: TcpRelayHandle;
  let tickets: ReturnType<typeof countTickets>;
  const DELAY_MS = 150; // one way, on the worker's NATS link only: its pulls are slow, its tunnel is not

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    relay = await startTcpRelay({ targetPort: h.nats.port, delayMs: DELAY_MS });
    await h.addWorker({ concurrency: 1 }, { natsUrl: `nats://127.0.0.1:${relay.port}` });
    tickets = countTickets(h);
    await h.nc.flush();
  });
  after(async () => {
    tickets.sub.unsubscribe();
    await h.stop();
    await relay.stop();
  });

  it('W2: should refuse warm offers once a ticket had to go back, so the queued request is served first', async () => {
    const auth = { host: h.host(inv), authorization: `Bearer ${h.apiKey}` };
    const at = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
    const done: string[] = [];
    const call = async (tag: string, path: string) => {
      const res = await request(`${inv.url}${path}${path.includes('?') ? '&' : '?'}tag=${tag}`, { headers: auth });
      await res.body.dump();
      done.push(tag);
      return res.statusCode;
    };
    assert.equal(await call('warmup', '/echo'), 200); // a ticket: the worker's tunnel is known from now on
    await at(200); // the idle worker has a pull outstanding again
    const before = tickets.count;
    const t0 = Date.now();
    // S goes warm and holds the only unit until ~300 ms.
    const s = call('S', '/slow?ms=300');
    await at(50 - (Date.now() - t0));
    // R is refused and takes a ticket; the outstanding pull brings it to the worker at ~200 ms (the
    // link's delay), which has no unit: R goes back to the queue, and the worker marks a backlog.
    const r = call('R', '/echo');
    await at(360 - (Date.now() - t0));
    // S ended: the unit is free, and the worker's new pull brings R only at ~600 ms. W1 is offered in
    // between. Without the backlog rule it would take the unit and R would bounce again; with it, W1 is
    // refused and queues behind R.
    const w1 = call('W1', '/slow?ms=300');
    await at(1_000 - (Date.now() - t0));
    const w2 = call('W2', '/echo');
    assert.deepEqual(await Promise.all([s, r, w1, w2]), [200, 200, 200, 200]);
    assert.deepEqual(
      done.filter((t) => t !== 'S' && t !== 'warmup'),
      ['R', 'W1', 'W2'],
      'the queued request first, then the offers in their order',
    );
    await h.nc.flush();
    assert.equal(tickets.count - before, 3, 'R, W1 and W2 took tickets; only S went warm');
  });
});

describe('a burst of first requests (W1)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    await h.addWorker({ concurrency: 32 });
  });
  after(() => h.stop());

  it('W1: should dial one tunnel for tickets taken together, and lose none of the requests', async () => {
    let dialled = 0;
    inv.service.tunnels.on('tunnel', () => dialled++);
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => echo(h, inv, `burst-${i}`)));
    for (const [i, r] of results.entries()) {
      assert.equal(r.status, 200, `request ${i}`);
      assert.equal(r.json.body, `burst-${i}`);
    }
    assert.equal(dialled, 1, 'a second dial would close the first tunnel under its streams');
  });
});
