// G15, G8 and spill-over across two regions on loopback: a 2-region nats-server supercluster (one
// server per region, gateways), a gRPC proxy per region, workers in one or both regions. A session
// started in us-east is resumed through eu-west's proxy and reaches the same worker; a region whose
// NATS is down makes its sessions UNAVAILABLE within the lookup timeout (never a hang, never a wrong
// NOT_FOUND) while the other region keeps serving; resume works again once the link is healed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { RegionHealthView } from '@switchyard/region-health';
import { sampleValue, scrapeMetrics, startTcpRelay, type TcpRelayHandle } from '@switchyard/testkit';
import { echoClient, rejectsWithStatus, sleep, type UnaryResult, unary } from '../services/worker/test/helpers.ts';
import { RegionsStack, type StackFunction, type StackProxy } from './regions-stack.ts';

const EAST = 'us-east';
const WEST = 'eu-west';
const REMOTE_TIMEOUT_MS = 800;
/** The resume histogram's count series (a proxy's /metrics). */
const RESUMES = 'switchyard_session_resume_duration_seconds_count';

/** One call on a fresh connection (closed afterwards, so the session is held by its reconnect window). */
async function callOnce(address: string, md: Record<string, string>, deadlineMs = 8_000): Promise<UnaryResult> {
  const client = echoClient(address);
  try {
    return await unary(client, {}, md, { deadlineMs });
  } finally {
    client.close();
  }
}

/** Retries `call` while it fails with UNAVAILABLE (links healing); any other failure is thrown at once. */
async function untilServed(call: () => Promise<UnaryResult>, budgetMs: number): Promise<UnaryResult> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      const e = err as grpc.ServiceError;
      if (e.code === grpc.status.NOT_FOUND || Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

/** Waits until `view` sees `free` > 0 for `versionId` in `region`. */
async function waitCapacity(view: RegionHealthView, region: string, versionId: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (view.freeCapacity(region, versionId) === 0) {
    if (Date.now() > deadline) throw new Error(`no capacity of ${versionId} seen in ${region}`);
    await sleep(50);
  }
}

describe('two regions: cross-region resume (G15), region loss and spill-over', () => {
  let stack: RegionsStack;
  let echo: StackFunction;
  let spill: StackFunction;
  let localOnly: StackFunction;
  let east: StackProxy;
  let west: StackProxy;
  let observer: { nc: NatsConnection; view: RegionHealthView };
  // eu-west reaches us-east's gateway through this relay, so the link can be cut and healed.
  const relays = new Map<string, TcpRelayHandle>();
  // Every relay started, stopped at the end: a supercluster that was not ready in time is started
  // again on fresh ports, which calls the hook again (an earlier attempt's relays would keep the
  // test process alive).
  const started: TcpRelayHandle[] = [];

  before(async () => {
    stack = await RegionsStack.start({
      regions: [EAST, WEST],
      gatewayAddresses: async (region, ports) => {
        const addresses: string[] = [];
        for (const port of ports) {
          const relay = await startTcpRelay({ targetPort: port });
          relays.set(region, relay);
          started.push(relay);
          addresses.push(`127.0.0.1:${relay.port}`);
        }
        return addresses;
      },
    });
    echo = await stack.addFunction({ name: 'echo' });
    spill = await stack.addFunction({ name: 'spill', spillPolicy: 'spill-over' });
    localOnly = await stack.addFunction({ name: 'local', spillPolicy: 'local-only' });
    // us-east serves every function; eu-west only echo.
    await stack.addWorker(EAST, echo);
    await stack.addWorker(EAST, spill);
    await stack.addWorker(EAST, localOnly);
    await stack.addWorker(WEST, echo);
    const overrides = { remoteLookupTimeoutMs: REMOTE_TIMEOUT_MS, attachTimeoutMs: 5_000, reconnectTimeoutMs: 2_000 };
    east = await stack.addProxy(EAST, overrides, { metrics: true });
    west = await stack.addProxy(WEST, overrides, { metrics: true });
    const nc = await connect({ servers: stack.urls(WEST) });
    observer = { nc, view: await RegionHealthView.start(nc) };
  });

  after(async () => {
    observer?.view.stop();
    await observer?.nc.close().catch(() => undefined);
    await stack?.stop();
    for (const relay of started) await relay.stop();
  });

  test('G15: a session started through us-east is resumed through eu-west and reaches the same worker', async () => {
    const first = await callOnce(east.address, stack.metadata(echo));
    assert.match(first.reqId, /^[0-9a-f-]{36}$/);
    const started = Date.now();
    const resumed = await callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': first.reqId }));
    const elapsedMs = Date.now() - started;
    assert.equal(resumed.reqId, first.reqId, 'nvcf-reqid of the same session');
    assert.equal(resumed.res.request_id, first.res.request_id);
    assert.equal(resumed.res.instance_id, first.res.instance_id, 'the same worker container');
    assert.equal(Number(resumed.res.session_calls), Number(first.res.session_calls) + 1, 'the session continues');
    assert.ok(elapsedMs < 3_000, `resume took ${elapsedMs} ms`);
    // And back: eu-west's own sessions resume through us-east.
    const westSession = await callOnce(west.address, stack.metadata(echo));
    const back = await callOnce(east.address, stack.metadata(echo, { 'nvcf-reqid': westSession.reqId }));
    assert.equal(back.res.instance_id, westSession.res.instance_id);
    assert.equal(Number(back.res.session_calls), Number(westSession.res.session_calls) + 1);
    // Each proxy timed one resume found in the other region's bucket.
    const fromRegion = { switchyard_resume_source: 'region', switchyard_resume_result: 'found' };
    for (const proxy of [east, west])
      assert.equal(
        sampleValue(await scrapeMetrics(proxy.metricsUrl ?? ''), RESUMES, fromRegion),
        1,
        `${proxy.region}: ${RESUMES}${JSON.stringify(fromRegion)}`,
      );
  });

  test('G8, G15: a request ID unknown in every region is NOT_FOUND (all regions answered)', async () => {
    await rejectsWithStatus(
      callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': '3c9a7b1e-52d4-4f0a-8b6c-1d2e3f4a5b6c' })),
      grpc.status.NOT_FOUND,
      /no existing session found/,
    );
    // A miss after asking the other region too counts as source `region`.
    const missed = { switchyard_resume_source: 'region', switchyard_resume_result: 'not_found' };
    assert.equal(sampleValue(await scrapeMetrics(west.metricsUrl ?? ''), RESUMES, missed), 1);
  });

  test('spill-over: with no capacity in eu-west a spill-over function is served by us-east; local-only is not', async () => {
    await waitCapacity(observer.view, EAST, spill.versionId);
    await waitCapacity(observer.view, EAST, localOnly.versionId);
    assert.equal(observer.view.freeCapacity(WEST, spill.versionId), 0);
    const served = await callOnce(west.address, stack.metadata(spill));
    const worker = stack.workers.find((w) => w.region === EAST && w.worker.config.versionId === spill.versionId);
    assert.ok(worker?.worker.sessionIds().includes(served.reqId), 'the us-east worker holds the session');
    // The client stays on eu-west's proxy: a resume there reaches the same session.
    const again = await callOnce(west.address, stack.metadata(spill, { 'nvcf-reqid': served.reqId }));
    assert.equal(again.res.instance_id, served.res.instance_id);
    // local-only never leaves the region: no worker in eu-west, so the attach times out (G10).
    // (The call's own 1.5 s deadline bounds the wait, G4/G10.)
    await rejectsWithStatus(callOnce(west.address, stack.metadata(localOnly), 1_500), grpc.status.DEADLINE_EXCEEDED);
  });

  test('G15: a cut gateway makes remote sessions UNAVAILABLE within the timeout; healed, they resume', async () => {
    const held = await callOnce(east.address, stack.metadata(echo));
    const relay = relays.get(EAST) as TcpRelayHandle;
    relay.cut(); // eu-west can no longer reach us-east
    relays.get(WEST)?.cut(); // nor us-east eu-west: the gateway link is down both ways
    try {
      const started = Date.now();
      await rejectsWithStatus(
        callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': held.reqId })),
        grpc.status.UNAVAILABLE,
      );
      const elapsedMs = Date.now() - started;
      assert.ok(elapsedMs < REMOTE_TIMEOUT_MS + 1_500, `UNAVAILABLE after ${elapsedMs} ms, not a hang`);
      // eu-west keeps serving its own sessions meanwhile.
      const local = await callOnce(west.address, stack.metadata(echo));
      const resumedLocal = await callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': local.reqId }));
      assert.equal(resumedLocal.res.instance_id, local.res.instance_id);
    } finally {
      relay.heal();
      relays.get(WEST)?.heal();
    }
    const resumed = await untilServed(
      () => callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': held.reqId }), 3_000),
      20_000,
    );
    assert.equal(resumed.res.instance_id, held.res.instance_id);
    assert.equal(Number(resumed.res.session_calls), Number(held.res.session_calls) + 1);
  });

  test('G15: with us-east NATS stopped, its sessions are UNAVAILABLE from eu-west (no hang) and eu-west keeps serving new and pinned calls', async () => {
    const held = await callOnce(east.address, stack.metadata(echo));
    const server = stack.nats.clusters[EAST].servers[0];
    await server.stop();
    try {
      const started = Date.now();
      const err = await rejectsWithStatus(
        callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': held.reqId })),
        grpc.status.UNAVAILABLE,
      );
      const elapsedMs = Date.now() - started;
      assert.ok(elapsedMs < REMOTE_TIMEOUT_MS + 1_500, `UNAVAILABLE after ${elapsedMs} ms (${err.details})`);
      // eu-west keeps serving: new sessions (ticket publish, pull, record write need no meta leader)
      // and pinned calls on their connections (G6: no NATS at all).
      const client = echoClient(west.address);
      try {
        const fresh = await unary(client, {}, stack.metadata(echo), { deadlineMs: 8_000 });
        const pinned = await unary(client, {}, stack.metadata(echo), { deadlineMs: 8_000 });
        assert.equal(pinned.res.request_id, fresh.res.request_id);
        assert.equal(Number(pinned.res.session_calls), Number(fresh.res.session_calls) + 1);
      } finally {
        client.close();
      }
      // A resume of an eu-west session on a new connection reads its bucket through the JetStream
      // API, which refuses requests once the 2-server meta group has lost its quorum
      // (infra/nats/README.md, "Limits"): served or UNAVAILABLE, never NOT_FOUND, never a hang.
      const local = await callOnce(west.address, stack.metadata(echo));
      const again = Date.now();
      try {
        const resumedLocal = await callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': local.reqId }));
        assert.equal(resumedLocal.res.instance_id, local.res.instance_id);
      } catch (e) {
        assert.equal((e as grpc.ServiceError).code, grpc.status.UNAVAILABLE, (e as grpc.ServiceError).details);
        assert.ok(Date.now() - again < 5_000, 'no hang');
      }
    } finally {
      await server.restart();
    }
    const resumed = await untilServed(
      () => callOnce(west.address, stack.metadata(echo, { 'nvcf-reqid': held.reqId }), 3_000),
      25_000,
    );
    assert.equal(resumed.res.instance_id, held.res.instance_id);
  });

  test('issue 8: with the gateway cut, eu-west refuses calls UNAVAILABLE past controlMaxStalenessMs (never serving a key revoked meanwhile); healed, the revocation applies', async () => {
    const MAX_STALENESS_MS = 1_500;
    // Last in this suite: eu-west's own proxies (10 s bound) would otherwise start the next test with a
    // freshness proof as old as this cut.
    const guarded = await stack.addProxy(WEST, { controlMaxStalenessMs: MAX_STALENESS_MS });
    const { key, record } = await stack.admin.control.createApiKey({ accountId: stack.accountId });
    const md = { ...stack.metadata(echo), authorization: `Bearer ${key}` };
    await untilServed(() => callOnce(guarded.address, md, 3_000), 10_000);
    for (const relay of relays.values()) relay.cut();
    let revokedAt = 0;
    try {
      await stack.admin.control.revokeApiKey(record.keyId); // us-east holds the control buckets
      revokedAt = Date.now();
      const outcomes = new Set<string>();
      while (Date.now() < revokedAt + MAX_STALENESS_MS + 2_500) {
        const afterBound = Date.now() > revokedAt + MAX_STALENESS_MS + 100;
        const result = await callOnce(guarded.address, md, 2_000).then(
          () => 'OK',
          (err: grpc.ServiceError) => grpc.status[err.code],
        );
        if (afterBound) outcomes.add(result);
        await sleep(100);
      }
      assert.deepEqual([...outcomes], ['UNAVAILABLE'], 'past the bound: refused, never served');
    } finally {
      for (const relay of relays.values()) relay.heal();
    }
    // Healed: the revocation made during the cut is known, and the key is refused as revoked (G2).
    const deadline = Date.now() + 20_000;
    for (;;) {
      const code = await callOnce(guarded.address, md, 2_000).then(
        () => grpc.status.OK,
        (err: grpc.ServiceError) => err.code,
      );
      assert.notEqual(code, grpc.status.OK, 'a revoked key is never served');
      if (code === grpc.status.UNAUTHENTICATED) break;
      assert.ok(Date.now() < deadline, `still ${grpc.status[code]} after the heal`);
      await sleep(250);
    }
  });
});
