// S2: a held session's record is refreshed so that the bucket TTL never removes it; a worker that
// dies without cleanup stops refreshing, its records vanish within the TTL and resumes get NOT_FOUND.
// A record write whose reply was lost (a NATS server failing over) neither drops a new session nor
// ends a held one.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type { EchoClient } from '@switchyard/sample-functions';
import { startTcpRelay, type TcpRelayHandle, waitFor } from '@switchyard/testkit';
import { echoClient, rejectsWithStatus, sleep, unary } from './helpers.ts';
import { startRegion, type TestRegion } from './region.ts';

const TTL_MS = 1_500;
const NODE = process.execPath;
const WORKER_MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

describe('S2: session record refresh', () => {
  let r: TestRegion;
  before(async () => {
    r = await startRegion({ sessionTtlMs: TTL_MS });
    await r.h.addProxy();
  });
  after(() => r.h.stop());

  test('S2: should keep refreshing a held session so the record outlives the bucket TTL', async () => {
    const { worker } = await r.h.addWorker({ sessionTtlMs: TTL_MS });
    assert.equal(r.directory.ttlMs, TTL_MS);
    const client = echoClient(r.h.proxies[0].address);
    const { reqId } = await unary(client, {}, r.h.metadata());
    const created = await r.directory.get(reqId);
    assert.ok(created);
    await sleep(5_000);
    const later = await r.directory.get(reqId);
    assert.ok(later, 'record still present after more than 3 TTLs');
    assert.ok(later.revision > created.revision, 'the record was rewritten (refreshed)');
    client.close();
    await worker.stop();
  });

  test("S2: should refresh at the bucket's own TTL when the bucket already existed with a shorter one", async () => {
    // The worker is configured for 60 s, but the bucket (created first) removes records after 1.5 s.
    const { worker } = await r.h.addWorker({ sessionTtlMs: 60_000 });
    const client = echoClient(r.h.proxies[0].address);
    const { reqId } = await unary(client, {}, r.h.metadata());
    await sleep(TTL_MS * 2.5);
    assert.ok(await r.directory.get(reqId), 'record of a live session removed by the bucket TTL');
    client.close();
    await worker.stop();
  });

  test('S2: should keep a session whose refresh reply was lost (the write landed): a NATS failover is no eviction', async () => {
    const { worker } = await r.h.addWorker({ sessionTtlMs: TTL_MS });
    const client = echoClient(r.h.proxies[0].address);
    const first = await unary(client, {}, r.h.metadata());
    const free = worker.freeCapacity;
    // What a refresh that timed out while a NATS server failed over leaves behind: the worker's own
    // bytes at the next revision, a revision the worker never learned. (Retried when the worker's
    // own refresh moves the record between the read and the write.)
    let landed = 0;
    await waitFor(
      async () => {
        const entry = await r.directory.get(first.reqId);
        assert.ok(entry, 'record of the live session');
        landed = await r.directory.refresh(first.reqId, entry.revision).catch(() => 0);
        return landed > 0;
      },
      { timeoutMs: 5_000, intervalMs: 10, what: 'a write the worker does not know of' },
    );
    await sleep(TTL_MS); // three of the worker's refreshes (every TTL/3)
    const later = await r.directory.get(first.reqId);
    assert.ok(later, 'the record is still there');
    assert.ok(later.revision > landed, `the worker refreshed past the landed write (${later.revision} > ${landed})`);
    const again = await unary(client, {}, r.h.metadata());
    assert.equal(again.res.request_id, first.reqId, 'the same session answers');
    assert.equal(again.res.session_calls, first.res.session_calls + 1);
    assert.equal(worker.freeCapacity, free, 'still one unit held');
    client.close();
    await worker.stop();
  });

  test('S2: should let the TTL remove the records of a worker that lost NATS without cleanup', async () => {
    const w = await r.h.addWorker({ sessionTtlMs: TTL_MS, reconnectWindowMs: 60_000 });
    const client = echoClient(r.h.proxies[0].address);
    const { reqId } = await unary(client, {}, r.h.metadata());
    client.close(); // the session is now held by the reconnect window only
    await sleep(300);
    assert.ok(await r.directory.get(reqId));
    const diedAt = Date.now();
    await w.nc.close(); // no worker.stop(): nothing deletes the record, nothing refreshes it
    await waitFor(async () => (await r.directory.get(reqId)) === null, {
      timeoutMs: TTL_MS + 3_000,
      intervalMs: 100,
      what: 'record removed by the bucket TTL',
    });
    assert.ok(Date.now() - diedAt >= TTL_MS / 2, 'removed by the TTL, not by the worker');
    const late = echoClient(r.h.proxies[0].address);
    await rejectsWithStatus(
      unary(late, {}, r.h.metadata({ 'nvcf-reqid': reqId })),
      grpc.status.NOT_FOUND,
      /no existing session found/,
    );
    late.close();
    await w.stop();
  });
});

describe('S1: a session record write whose reply was lost', () => {
  let r: TestRegion;
  let relay: TcpRelayHandle;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy({ attachTimeoutMs: 12_000 });
    relay = await startTcpRelay({ targetPort: r.h.nats.port });
  });
  after(async () => {
    await r.h.stop();
    await relay.stop();
  });

  /**
   * A worker that reaches NATS through the relay (its directory gives up on a request after 1 s; its
   * ticket pulls outlast the slow link: a pull that expired before its ticket arrived would lose it),
   * with a first session taken over the healthy link (its ticket consumer exists and its pulls wait).
   * Then the link slows to 1.5 s per chunk: every reply comes after the worker stopped waiting for it.
   * @returns the worker, the first session's client, and the records in the bucket before the slow part.
   */
  async function workerOnSlowLink() {
    const { worker } = await r.h.addWorker({
      natsServers: [`nats://127.0.0.1:${relay.port}`],
      ticketPullExpiresMs: 8_000,
    });
    const first = echoClient(r.h.proxies[0].address);
    await unary(first, {}, r.h.metadata());
    const records = (await r.directory.list()).length;
    relay.setDelay(1_500);
    return { worker, first, records };
  }

  /** Waits (10 s at most) until the bucket's record count passes `ok`. */
  const untilRecords = (ok: (count: number) => boolean, what: string) =>
    waitFor(async () => ok((await r.directory.list()).length), { timeoutMs: 10_000, intervalMs: 20, what });

  test('S1: should allocate the session when its record write timed out but landed, not drop the ticket', async () => {
    const { worker, first, records } = await workerOnSlowLink();
    const free = worker.freeCapacity;
    const client = echoClient(r.h.proxies[0].address);
    const call = unary(client, {}, r.h.metadata(), { deadlineMs: 15_000 });
    // The record lands while the worker has given up on that write; the link is healed then.
    await untilRecords((n) => n > records, 'the record written through the slow link');
    relay.setDelay(0);
    const { reqId, res } = await call;
    assert.equal(res.session_calls, 1);
    const stored = await r.directory.get(reqId);
    assert.ok(stored, 'the record of the session');
    assert.equal(worker.freeCapacity, free - 1, 'one unit held by the session');
    client.close();
    first.close();
    await worker.stop();
  });

  test('S1: should serve the session when every try of its record write timed out: the ticket goes back without the record', async () => {
    const { worker, first, records } = await workerOnSlowLink();
    const client = echoClient(r.h.proxies[0].address);
    const call = unary(client, {}, r.h.metadata(), { deadlineMs: 20_000 });
    // Every try lands after the worker gave up on it; the worker then removes what may have landed
    // and puts the ticket back. Healed then, the ticket's next taking writes its record afresh.
    await untilRecords((n) => n > records, 'a record written through the slow link');
    await untilRecords((n) => n === records, 'the record removed before the ticket went back');
    relay.setDelay(0);
    const { reqId, res } = await call;
    assert.equal(res.session_calls, 1);
    assert.ok(await r.directory.get(reqId), 'the record of the session');
    client.close();
    first.close();
    await worker.stop();
  });
});

describe('S2: a worker process killed with SIGKILL', () => {
  let r: TestRegion;
  let child: ChildProcess | undefined;
  let pinned: EchoClient;
  let reqId = '';
  before(async () => {
    r = await startRegion({ sessionTtlMs: TTL_MS });
    await r.h.addProxy();
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    pinned?.close();
    await r.h.stop();
  });

  test('S2: should lose the sessions of a killed worker process within the TTL, and resumes get NOT_FOUND', async () => {
    const container = await startEchoContainer(r);
    const workerId = `worker-${randomUUID()}`;
    child = spawn(NODE, [WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        SWITCHYARD_REGION: r.h.region,
        SWITCHYARD_WORKER_ID: workerId,
        SWITCHYARD_FUNCTION_ID: r.h.functionId,
        SWITCHYARD_VERSION_ID: r.h.versionId,
        SWITCHYARD_UPSTREAM: `grpc://127.0.0.1:${container.port}`,
        SWITCHYARD_NATS_SERVERS: r.h.nats.url,
        SWITCHYARD_SESSION_TTL_MS: String(TTL_MS),
        SWITCHYARD_TICKET_PULL_EXPIRES_MS: '1000',
        SWITCHYARD_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d) => {
      output += d;
    });
    child.stderr?.on('data', (d) => {
      output += d;
    });
    await waitFor(() => output.includes('"ready":true'), { timeoutMs: 15_000, what: 'worker process ready' });

    // Session A stays pinned to an open connection; session B's client has left (window only).
    pinned = echoClient(r.h.proxies[0].address);
    const a = await unary(pinned, {}, r.h.metadata());
    reqId = a.reqId;
    const gone = echoClient(r.h.proxies[0].address);
    const b = await unary(gone, {}, r.h.metadata());
    gone.close();
    for (const id of [a.reqId, b.reqId]) assert.equal((await r.directory.get(id))?.record.workerId, workerId);
    await sleep(TTL_MS); // past one TTL: only refreshes keep them
    for (const id of [a.reqId, b.reqId]) assert.ok(await r.directory.get(id), 'refreshed while alive');

    child.kill('SIGKILL');
    await once(child, 'exit');
    const killedAt = Date.now();
    await waitFor(async () => (await r.directory.get(a.reqId)) === null && (await r.directory.get(b.reqId)) === null, {
      timeoutMs: TTL_MS + 3_000,
      intervalMs: 100,
      what: 'records removed by the bucket TTL',
    });
    assert.ok(Date.now() - killedAt < TTL_MS + 3_000);
    const other = echoClient(r.h.proxies[0].address);
    await rejectsWithStatus(
      unary(other, {}, r.h.metadata({ 'nvcf-reqid': b.reqId }), { deadlineMs: 5_000 }),
      grpc.status.NOT_FOUND,
      /no existing session found/,
    );
    other.close();
  });

  test("S2: should answer the killed worker's pinned connection with NOT_FOUND promptly, not hang", async () => {
    assert.ok(reqId, 'needs the session of the previous test');
    // The tunnel's socket is gone with the process; the proxy must notice and find no responder.
    await rejectsWithStatus(unary(pinned, {}, r.h.metadata(), { deadlineMs: 4_000 }), grpc.status.NOT_FOUND);
  });
});

async function startEchoContainer(r: TestRegion) {
  const { startEchoServer } = await import('@switchyard/sample-functions');
  const echo = await startEchoServer({ port: 0 });
  r.h.containers.push(echo);
  return echo;
}
