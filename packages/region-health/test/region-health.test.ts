import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsNames } from '@switchyard/protocol';
import { HeartbeatPublisher, RegionHealthView } from '@switchyard/region-health';
import {
  type NatsServerHandle,
  type NatsSuperclusterHandle,
  startNats,
  startNatsSupercluster,
  waitFor,
} from '@switchyard/testkit';

const INTERVAL_MS = 200;

describe('region health on one server', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let view: RegionHealthView;
  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    view = await RegionHealthView.start(nc);
  });
  after(async () => {
    view.stop();
    await nc.close();
    await nats.stop();
  });

  test('D2: a region should be healthy while a proxy beats and leave at once when it stops cleanly', async () => {
    const proxy = new HeartbeatPublisher(nc, {
      region: 'r1',
      kind: 'grpc-proxy',
      instanceId: 'p1',
      intervalMs: INTERVAL_MS,
      collect: () => ({ addresses: { grpc: ['192.0.2.1'], api: ['192.0.2.9'] } }),
    });
    proxy.start();
    await waitFor(() => view.healthyRegions().includes('r1'));
    assert.deepEqual(view.addresses('r1', 'grpc'), ['192.0.2.1']);
    assert.deepEqual(view.addresses('r1', 'api'), ['192.0.2.9']);
    assert.deepEqual(view.addresses('r1', 'http'), []);
    const [status] = view.regions();
    assert.equal(status.region, 'r1');
    assert.deepEqual(status.instances, { 'grpc-proxy': 1, invocation: 0, worker: 0 });
    const stoppedAt = Date.now();
    await proxy.stop();
    await waitFor(() => !view.healthyRegions().includes('r1'));
    assert.ok(Date.now() - stoppedAt < INTERVAL_MS, 'a leaving beat should drop the instance before any expiry');
  });

  test('D2: an instance that stops beating should be dropped within 2 intervals, with a change event', async () => {
    const side = await connect({ servers: nats.url });
    const proxy = new HeartbeatPublisher(side, {
      region: 'r2',
      kind: 'invocation',
      instanceId: 'i1',
      intervalMs: INTERVAL_MS,
    });
    proxy.start();
    await waitFor(() => view.healthyRegions().includes('r2'));
    let changes = 0;
    const onChange = () => changes++;
    view.on('change', onChange);
    await side.close(); // dies: no leaving beat
    const diedAt = Date.now();
    await waitFor(() => !view.healthyRegions().includes('r2'), { timeoutMs: 5 * INTERVAL_MS, intervalMs: 10 });
    const gone = Date.now() - diedAt;
    assert.ok(gone <= 2 * INTERVAL_MS + 200, `dropped after ${gone} ms`);
    await waitFor(() => changes > 0);
    view.off('change', onChange);
    await proxy.stop(); // closed connection: a no-op that must not throw
  });

  test('workers alone should not make a region healthy, and free capacity should add up per version', async () => {
    const beats = [
      { id: 'w1', versionId: 'v1', freeCapacity: 3 },
      { id: 'w2', versionId: 'v1', freeCapacity: 2 },
      { id: 'w3', versionId: 'v2', freeCapacity: 7 },
    ].map(
      (w) =>
        new HeartbeatPublisher(nc, {
          region: 'r3',
          kind: 'worker',
          instanceId: w.id,
          intervalMs: INTERVAL_MS,
          collect: () => ({ versionId: w.versionId, freeCapacity: w.freeCapacity }),
        }),
    );
    for (const b of beats) b.start();
    await waitFor(() => view.freeCapacity('r3', 'v1') === 5);
    assert.equal(view.freeCapacity('r3', 'v2'), 7);
    assert.equal(view.freeCapacity('r3', 'v9'), 0);
    assert.equal(view.freeCapacity('elsewhere', 'v1'), 0);
    assert.ok(!view.healthyRegions().includes('r3'));
    assert.equal(view.regions().find((r) => r.region === 'r3')?.instances.worker, 3);
    await Promise.all(beats.map((b) => b.stop()));
    await waitFor(() => view.freeCapacity('r3', 'v1') === 0);
  });

  test('should ignore malformed beats and beats whose subject names another instance', async () => {
    const before = view.invalidBeats;
    nc.publish(NatsNames.healthSubject('r4', 'grpc-proxy', 'x'), 'not json');
    nc.publish(
      NatsNames.healthSubject('r4', 'grpc-proxy', 'x'),
      JSON.stringify({ region: 'r4', kind: 'grpc-proxy', instanceId: 'y', atMs: 1, intervalMs: 1000 }),
    );
    await nc.flush();
    await waitFor(() => view.invalidBeats === before + 2);
    assert.ok(!view.healthyRegions().includes('r4'));
  });

  test('D2: a view that starts after a front end beat should know it at once, not an interval later', async () => {
    const long = 60_000;
    const side = await connect({ servers: nats.url });
    const proxy = new HeartbeatPublisher(side, {
      region: 'r5',
      kind: 'grpc-proxy',
      instanceId: 'p5',
      intervalMs: long,
      answerBeatRequests: true,
    });
    const worker = new HeartbeatPublisher(side, { region: 'r5', kind: 'worker', instanceId: 'w5', intervalMs: long });
    proxy.start();
    worker.start();
    await side.flush();
    // Both first beats went out before this view subscribed: only the proxy answers its request.
    const late = await RegionHealthView.start(nc);
    try {
      await waitFor(() => late.healthyRegions().includes('r5'), { timeoutMs: 2_000 });
      assert.deepEqual(late.regions().find((r) => r.region === 'r5')?.instances, {
        'grpc-proxy': 1,
        invocation: 0,
        worker: 0,
      });
    } finally {
      late.stop();
      await proxy.stop();
      await worker.stop();
      await side.close();
    }
  });

  test('should answer beat requests at most once a second, and none once stopped', async () => {
    const side = await connect({ servers: nats.url });
    const proxy = new HeartbeatPublisher(side, {
      region: 'r6',
      kind: 'invocation',
      instanceId: 'i6',
      intervalMs: 60_000,
      answerBeatRequests: true,
    });
    const beats: number[] = [];
    const sub = nc.subscribe(proxy.subject, {
      callback: () => {
        beats.push(Date.now());
      },
    });
    await nc.flush();
    try {
      proxy.start();
      await waitFor(() => beats.length === 1);
      await side.flush();
      // Three views starting together: one answer, not three.
      for (let i = 0; i < 3; i++) nc.publish(NatsNames.healthBeatRequest);
      await waitFor(() => beats.length === 2);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(beats.length, 2, 'requests within a second were answered more than once');
      await proxy.stop(); // its leaving beat
      await waitFor(() => beats.length === 3);
      nc.publish(NatsNames.healthBeatRequest);
      await nc.flush();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(beats.length, 3, 'a stopped publisher answered a beat request');
    } finally {
      sub.unsubscribe();
      await side.close();
    }
  });

  test('should reject a bad interval and a bad region', () => {
    assert.throws(
      () => new HeartbeatPublisher(nc, { region: 'r', kind: 'worker', instanceId: 'w', intervalMs: 0 }),
      TypeError,
    );
    assert.throws(() => new HeartbeatPublisher(nc, { region: 'a.b', kind: 'worker', instanceId: 'w' }), TypeError);
  });
});

describe('region health across a supercluster', () => {
  let sc: NatsSuperclusterHandle;
  let ncA: NatsConnection;
  let ncB: NatsConnection;
  before(async () => {
    sc = await startNatsSupercluster({ regions: ['a', 'b'], size: 1 });
    ncA = await connect({ servers: sc.clusters.a.urls });
    ncB = await connect({ servers: sc.clusters.b.urls });
  });
  after(async () => {
    await ncA?.close();
    await ncB?.close();
    await sc?.stop();
  });

  test('D2: a beat published in region a should be seen by a view connected in region b', async () => {
    const view = await RegionHealthView.start(ncB);
    const proxy = new HeartbeatPublisher(ncA, {
      region: 'a',
      kind: 'grpc-proxy',
      instanceId: 'pa',
      intervalMs: INTERVAL_MS,
      collect: () => ({ addresses: { grpc: ['198.51.100.7'] } }),
    });
    proxy.start();
    try {
      await waitFor(() => view.healthyRegions().includes('a'), { timeoutMs: 10_000 });
      assert.deepEqual(view.addresses('a', 'grpc'), ['198.51.100.7']);
      await proxy.stop();
      await waitFor(() => view.healthyRegions().length === 0);
    } finally {
      await proxy.stop();
      view.stop();
    }
  });
});
