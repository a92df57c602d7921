// recordNatsOperations against a real nats-server: every KV operation, a stream publish and a core
// request are recorded under their bounded operation name with a duration; "no responders" and a
// timeout are counted by kind; an answer that refuses (a KV create of an existing key) is no error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { type NatsServerHandle, startNats } from '@switchyard/testkit';
import { type DependencyErrorKind, natsOperationOf, recordNatsOperations, timeNatsOperation } from '../src/index.ts';

/** A recorder keeping what it was told. */
function collector() {
  const records: { operation: string; seconds: number; error: DependencyErrorKind | undefined }[] = [];
  return {
    records,
    operation(operation: string, seconds: number, error: DependencyErrorKind | undefined) {
      records.push({ operation, seconds, error });
    },
    ops: () => records.map((r) => (r.error ? `${r.operation}:${r.error}` : r.operation)),
  };
}

describe('recordNatsOperations', () => {
  let server: NatsServerHandle;
  let nc: Awaited<ReturnType<typeof connect>>;
  before(async () => {
    server = await startNats({ jetstream: true });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  test('KV get, put, create, update, delete and a stream publish are timed under their names', async () => {
    const kv = await new Kvm(nc).create('ops_test', { history: 1 });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'RQ_TEST', subjects: ['rq.test.>'] });
    const rec = collector();
    recordNatsOperations(nc, rec);
    const rev = await kv.create('a', 'one');
    await assert.rejects(kv.create('a', 'again'), 'the key exists');
    await kv.update('a', 'two', rev);
    await kv.put('b', 'three');
    assert.equal((await kv.get('a'))?.string(), 'two');
    await kv.delete('a');
    await jetstream(nc).publish('rq.test.v.r', 'ticket');
    const ops = rec.ops();
    for (const op of ['kv_create', 'kv_update', 'kv_put', 'kv_get', 'kv_delete', 'stream_publish'])
      assert.ok(ops.includes(op), `${op} in ${ops.join(', ')}`);
    assert.ok(!ops.some((o) => o.includes(':')), `a refusal is an answer, not an error: ${ops.join(', ')}`);
    assert.ok(rec.records.every((r) => r.seconds >= 0 && r.seconds < 10));
  });

  test('no responders and a timeout are counted by kind, under the subject family', async () => {
    const rec = collector();
    recordNatsOperations(nc, rec);
    await assert.rejects(nc.request('worker.v1.w1.reconnect', new Uint8Array(), { timeout: 1_000 }));
    const silent = nc.subscribe('proxy.p1.attach');
    try {
      await assert.rejects(nc.request('proxy.p1.attach', new Uint8Array(), { timeout: 200 }));
    } finally {
      silent.unsubscribe();
    }
    assert.deepEqual(rec.ops(), ['worker_reconnect:no_responders', 'proxy_attach:timeout']);
  });

  test('timeNatsOperation records a consumer fetch, and its failure by kind', async () => {
    const rec = collector();
    recordNatsOperations(nc, rec);
    assert.equal(await timeNatsOperation(nc, 'consumer_fetch', async () => 7), 7);
    await assert.rejects(timeNatsOperation(nc, 'consumer_fetch', () => Promise.reject(new Error('gone'))));
    assert.deepEqual(rec.ops(), ['consumer_fetch', 'consumer_fetch:other']);
  });

  test('operation names stay bounded whatever the subject', () => {
    assert.equal(natsOperationOf('$JS.API.DIRECT.GET.KV_sessions_eu.$KV.sessions_eu.abc'), 'kv_get');
    assert.equal(natsOperationOf('$JS.API.STREAM.INFO.TICKETS_eu'), 'jetstream_api');
    assert.equal(natsOperationOf('invocation.result.eu'), 'result_exchange');
    assert.equal(natsOperationOf('worker.v.w.evict'), 'worker_evict');
    assert.equal(natsOperationOf('anything.else.at.all'), 'request');
  });
});
