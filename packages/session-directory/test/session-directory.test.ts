// Session directory against a real nats-server: CRUD with revisions, TTL expiry and refresh (S2),
// watch, and the rule that an unreachable directory is UNAVAILABLE, never "not found" (G8, G15).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { isSwitchyardError, NatsNames, type SessionRecord } from '@switchyard/protocol';
import { type NatsServerHandle, startNats, startNatsCluster, stopAll, waitFor } from '@switchyard/testkit';
import { findSession, type SessionChange, SessionDirectory } from '../src/index.ts';

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  return {
    reqId: randomUUID(),
    accountId: 'acct-1',
    functionId: randomUUID(),
    versionId: randomUUID(),
    workerId: 'worker-1',
    region: 'a',
    createdAtMs: Date.now(),
    ...overrides,
  };
}

function connectTo(servers: string | string[]): Promise<NatsConnection> {
  return connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2_000 });
}

after(async () => {
  await stopAll();
});

describe('SessionDirectory on one nats-server', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let dir: SessionDirectory;

  before(async () => {
    server = await startNats({ jetstream: true });
    nc = await connectTo(server.url);
    dir = await SessionDirectory.open(nc, { region: 'a' });
  });

  after(async () => {
    await dir.close();
    await nc.close();
    await server.stop();
  });

  test('a created record can be read, refreshed and deleted', async () => {
    const rec = record();
    const rev1 = await dir.create(rec);
    assert.ok(rev1 > 0);
    assert.deepEqual(await dir.get(rec.reqId), { record: rec, revision: rev1 });

    const rev2 = await dir.refresh(rec.reqId, rev1);
    assert.ok(rev2 > rev1);
    const moved = { ...rec, workerId: 'worker-2' };
    const rev3 = await dir.refresh(rec.reqId, rev2, moved);
    assert.deepEqual(await dir.get(rec.reqId), { record: moved, revision: rev3 });

    await dir.delete(rec.reqId, rev3);
    assert.equal(await dir.get(rec.reqId), null);
  });

  test('the bucket is named by NatsNames.sessionBucket and reports its TTL', async () => {
    assert.equal(dir.region, 'a');
    assert.equal(dir.ttlMs, 60_000);
    const status = await (await new Kvm(nc).open(NatsNames.sessionBucket('a'))).status();
    assert.equal(status.ttl, 60_000);
  });

  test('creating a record of the same request ID with another value fails with SY_SESSION_EXISTS', async () => {
    const rec = record();
    await dir.create(rec);
    const other = { ...rec, workerId: 'worker-2' };
    await assert.rejects(dir.create(other), (err) => isSwitchyardError(err, 'SY_SESSION_EXISTS'));
    assert.equal((await dir.get(rec.reqId))?.record.workerId, 'worker-1', 'the first value stays');
  });

  test('creating the same record again answers its revision (a create whose reply was lost can be retried)', async () => {
    const rec = record();
    const rev = await dir.create(rec);
    assert.equal(await dir.create({ ...rec }), rev);
    assert.equal((await dir.get(rec.reqId))?.revision, rev, 'nothing written the second time');
  });

  test('a deleted request ID can be created again', async () => {
    const rec = record();
    await dir.create(rec);
    await dir.delete(rec.reqId);
    assert.ok((await dir.create(rec)) > 0);
  });

  test('refresh with a stale revision fails with SY_SESSION_CONFLICT when the record was rewritten', async () => {
    const rec = record();
    const rev1 = await dir.create(rec);
    await dir.refresh(rec.reqId, rev1, { ...rec, workerId: 'worker-2' });
    await assert.rejects(dir.refresh(rec.reqId, rev1), (err) => isSwitchyardError(err, 'SY_SESSION_CONFLICT'));
    await assert.rejects(dir.refresh(rec.reqId, rev1, rec), (err) => isSwitchyardError(err, 'SY_SESSION_CONFLICT'));
    assert.equal((await dir.get(rec.reqId))?.record.workerId, 'worker-2', 'the other value stays');
  });

  test('a refresh whose reply was lost (its write landed) is redone at the current revision, not a conflict', async () => {
    const rec = record();
    const rev1 = await dir.create(rec);
    // What a refresh that timed out while a NATS server failed over leaves behind: its write, the
    // same bytes at the next revision, which the caller never learned.
    const kv = await new Kvm(nc).open(NatsNames.sessionBucket('a'));
    const stored = await kv.get(rec.reqId);
    assert.ok(stored);
    const landed = await kv.update(rec.reqId, stored.value, rev1);
    const rev3 = await dir.refresh(rec.reqId, rev1, rec);
    assert.ok(rev3 > landed, `rewritten after the landed write (${rev3} > ${landed})`);
    assert.equal((await dir.get(rec.reqId))?.revision, rev3);
    // Deleted meanwhile is still a conflict, whatever the caller writes.
    await dir.delete(rec.reqId);
    await assert.rejects(dir.refresh(rec.reqId, rev3, rec), (err) => isSwitchyardError(err, 'SY_SESSION_CONFLICT'));
    assert.equal(await dir.get(rec.reqId), null, 'a deleted record is not written back');
  });

  test('refresh of a deleted record fails with SY_SESSION_CONFLICT', async () => {
    const rec = record();
    const rev = await dir.create(rec);
    await dir.delete(rec.reqId);
    await assert.rejects(dir.refresh(rec.reqId, rev), (err) => isSwitchyardError(err, 'SY_SESSION_CONFLICT'));
    await assert.rejects(dir.refresh(rec.reqId, rev, rec), (err) => isSwitchyardError(err, 'SY_SESSION_CONFLICT'));
  });

  test('delete with a stale revision fails with SY_SESSION_CONFLICT and keeps the record', async () => {
    const rec = record();
    const rev1 = await dir.create(rec);
    await dir.refresh(rec.reqId, rev1);
    await assert.rejects(dir.delete(rec.reqId, rev1), (err) => isSwitchyardError(err, 'SY_SESSION_CONFLICT'));
    assert.notEqual(await dir.get(rec.reqId), null);
  });

  test('get of an unknown or non-UUID request ID is null', async () => {
    assert.equal(await dir.get(randomUUID()), null);
    assert.equal(await dir.get('not-a-uuid'), null);
    assert.equal(await dir.get('a.b.>'), null);
  });

  test('a purged record reads as not found', async () => {
    const rec = record();
    await dir.create(rec);
    await (await new Kvm(nc).open(NatsNames.sessionBucket('a'))).purge(rec.reqId);
    assert.equal(await dir.get(rec.reqId), null);
  });

  test('a stored value that is not a SessionRecord is SY_INTERNAL, not null', async () => {
    const reqId = randomUUID();
    const kv = await new Kvm(nc).open(NatsNames.sessionBucket('a'));
    await kv.put(reqId, '{"reqId":"nope"}');
    await assert.rejects(dir.get(reqId), (err) => isSwitchyardError(err, 'SY_INTERNAL'));
    await kv.put(reqId, 'not json');
    await assert.rejects(dir.get(reqId), (err) => isSwitchyardError(err, 'SY_INTERNAL'));
    await kv.delete(reqId);
  });

  test('creating an invalid record is SY_INTERNAL', async () => {
    await assert.rejects(dir.create({ ...record(), functionId: 'x' }), (err) => isSwitchyardError(err, 'SY_INTERNAL'));
  });

  test('listByWorker returns exactly the live records of that worker', async () => {
    const region = 'lists';
    const d = await SessionDirectory.open(nc, { region });
    const mine = [record({ workerId: 'w-x', region }), record({ workerId: 'w-x', region })];
    const other = record({ workerId: 'w-y', region });
    const gone = record({ workerId: 'w-x', region });
    for (const r of [...mine, other, gone]) await d.create(r);
    await d.delete(gone.reqId);

    const listed = await d.listByWorker('w-x');
    assert.deepEqual(new Set(listed.map((r) => r.reqId)), new Set(mine.map((r) => r.reqId)));
    assert.equal((await d.list()).length, 3);
    assert.deepEqual(await d.listByWorker('w-none'), []);
    await d.close();
  });

  test('list of an empty bucket is empty', async () => {
    const d = await SessionDirectory.open(nc, { region: 'empty' });
    assert.deepEqual(await d.list(), []);
    await d.close();
  });

  test('watch sees puts and deletes', async () => {
    const events: SessionChange[] = [];
    const w = await dir.watch((e) => events.push(e));
    const rec = record();
    const rev1 = await dir.create(rec);
    const rev2 = await dir.refresh(rec.reqId, rev1);
    await dir.delete(rec.reqId);
    await waitFor(() => events.filter((e) => e.reqId === rec.reqId).length === 3, { what: 'three watch events' });
    const mine = events.filter((e) => e.reqId === rec.reqId);
    assert.deepEqual(mine[0], { op: 'put', reqId: rec.reqId, record: rec, revision: rev1 });
    assert.deepEqual(mine[1], { op: 'put', reqId: rec.reqId, record: rec, revision: rev2 });
    assert.equal(mine[2].op, 'delete');
    assert.equal(mine[2].record, undefined);
    w.stop();
    const after = events.length;
    await dir.create(record());
    await sleep(200);
    assert.equal(events.length, after, 'no events after stop()');
  });

  test('watch with initial delivers existing records first', async () => {
    const rec = record();
    await dir.create(rec);
    const seen: SessionChange[] = [];
    const w = await dir.watch((e) => seen.push(e), { initial: true });
    await waitFor(() => seen.some((e) => e.reqId === rec.reqId && e.op === 'put'), { what: 'initial record' });
    w.stop();
  });

  test('a record that is not refreshed expires with the bucket TTL, and refresh keeps one alive', async () => {
    const d = await SessionDirectory.open(nc, { region: 'ttl', ttlMs: 1_500 });
    assert.equal(d.ttlMs, 1_500);
    const idle = record({ region: 'ttl' });
    const kept = record({ region: 'ttl' });
    await d.create(idle);
    let rev = await d.create(kept);

    const started = Date.now();
    let stopRefreshing = false;
    const refresher = (async () => {
      while (!stopRefreshing) {
        rev = await d.refresh(kept.reqId, rev);
        await sleep(400);
      }
    })();

    await waitFor(async () => (await d.get(idle.reqId)) === null, { timeoutMs: 10_000, what: 'idle record to expire' });
    assert.ok(Date.now() - started >= 1_000, 'not removed long before its TTL');
    // Keep refreshing well past two TTLs: the refreshed record must still be there.
    await waitFor(() => Date.now() - started > 4_000, { timeoutMs: 10_000 });
    assert.notEqual(await d.get(kept.reqId), null);

    stopRefreshing = true;
    await refresher;
    await waitFor(async () => (await d.get(kept.reqId)) === null, { timeoutMs: 10_000, what: 'kept record to expire' });
    await d.close();
  });
});

describe('SessionDirectory when NATS is unreachable', () => {
  test('get while nats-server is stopped throws SY_DIRECTORY_UNAVAILABLE within timeoutMs', async () => {
    const server = await startNats({ jetstream: true });
    const nc = await connectTo(server.url);
    const dir = await SessionDirectory.open(nc, { region: 'down', timeoutMs: 500 });
    const rec = record({ region: 'down' });
    await dir.create(rec);
    await server.stop();

    for (const op of [() => dir.get(rec.reqId), () => dir.create(record()), () => dir.refresh(rec.reqId, 1)]) {
      const started = Date.now();
      await assert.rejects(op(), (err) => {
        assert.ok(isSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE'), String(err));
        assert.ok(err.cause !== undefined, 'carries the NATS error as cause');
        return true;
      });
      assert.ok(Date.now() - started < 1_500, `answered in ${Date.now() - started} ms`);
    }

    await server.restart();
    await waitFor(async () => (await dir.get(rec.reqId)) !== null, { timeoutMs: 15_000, what: 'record after restart' });
    await dir.close();
    await nc.close();
    await server.stop();
  });

  test('a bind-only directory of a bucket that does not exist is unavailable, not empty', async () => {
    const server = await startNats({ jetstream: true });
    const nc = await connectTo(server.url);
    const dir = await SessionDirectory.open(nc, { region: 'nowhere', create: false, timeoutMs: 500 });
    await assert.rejects(dir.get(randomUUID()), (err) => isSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE'));
    await nc.close();
    await server.stop();
  });
});

describe('SessionDirectory on a 3-node cluster', () => {
  test('an R3 bucket survives killing one node: records stay readable and writable', async () => {
    const cluster = await startNatsCluster({ size: 3 });
    const nc = await connectTo(cluster.urls);
    const dir = await SessionDirectory.open(nc, { region: 'r3', replicas: 3, timeoutMs: 1_000 });
    const rec = record({ region: 'r3' });
    const rev = await dir.create(rec);

    await cluster.servers[0].kill();

    let got: Awaited<ReturnType<SessionDirectory['get']>> = null;
    await waitFor(
      async () => {
        got = await dir.get(rec.reqId);
        return got !== null;
      },
      { timeoutMs: 20_000, what: 'read after a node was killed' },
    );
    assert.deepEqual(got, { record: rec, revision: rev });
    let refreshed = 0;
    await waitFor(
      async () => {
        refreshed = await dir.refresh(rec.reqId, rev);
        return true;
      },
      { timeoutMs: 20_000, what: 'write after a node was killed' },
    );
    assert.ok(refreshed > rev);
    const other = record({ region: 'r3' });
    await dir.create(other);
    assert.equal((await dir.get(other.reqId))?.record.reqId, other.reqId);

    await dir.close();
    await nc.close();
    await cluster.stop();
  });
});

describe('findSession', () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let a: SessionDirectory;
  let b: SessionDirectory;

  before(async () => {
    server = await startNats({ jetstream: true });
    nc = await connectTo(server.url);
    a = await SessionDirectory.open(nc, { region: 'fa' });
    b = await SessionDirectory.open(nc, { region: 'fb' });
  });

  after(async () => {
    await nc.close();
    await server.stop();
  });

  test('finds a session held in the second of two directories', async () => {
    const rec = record({ region: 'fb' });
    const rev = await b.create(rec);
    assert.deepEqual(await findSession([a, b], rec.reqId), { record: rec, revision: rev });
  });

  test('returns null when every directory answers that it has no such session', async () => {
    assert.equal(await findSession([a, b], randomUUID()), null);
    assert.equal(await findSession([], randomUUID()), null);
  });

  test('throws SY_DIRECTORY_UNAVAILABLE when a directory cannot answer and none has the session', async () => {
    const downServer = await startNats({ jetstream: true });
    const downNc = await connectTo(downServer.url);
    const down = await SessionDirectory.open(downNc, { region: 'fc', timeoutMs: 400 });
    await downServer.stop();

    await assert.rejects(findSession([a, down], randomUUID()), (err) =>
      isSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE'),
    );
    await assert.rejects(findSession([a, down], randomUUID(), { timeoutMs: 200 }), (err) =>
      isSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE'),
    );
    // A hit elsewhere still wins over a region that cannot answer.
    const rec = record({ region: 'fa' });
    await a.create(rec);
    assert.equal((await findSession([down, a], rec.reqId))?.record.reqId, rec.reqId);

    await downNc.close();
  });
});
