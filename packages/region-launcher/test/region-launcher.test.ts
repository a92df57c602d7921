// The launcher's pieces without the services: nats configs (standalone and supercluster with a
// relayed gateway), port requests, and a launch of NATS + Redis alone (one region, then two) whose
// children all go away on stop. `switchyard dev` (services/cli/test/dev.test.ts) covers a full region.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  ChildGroup,
  infraBinaries,
  LauncherError,
  LauncherErrorCode,
  launchRegions,
  type NatsServerPlan,
  planNatsServers,
  renderNatsConfig,
  resolvePorts,
  StopTier,
  startNatsServers,
  waitNatsReady,
} from '../src/index.ts';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-launcher-test-'));
  dirs.push(dir);
  return dir;
}

test('should render a standalone server without cluster or gateway, and a supercluster server advertising its relay', () => {
  const standalone: NatsServerPlan = {
    region: 'local',
    index: 1,
    serverName: 'switchyard-dev-local',
    jetstream: true,
    tags: [],
    clientPort: 1,
    monitorPort: 2,
    storeDir: '/s',
    configFile: '/s.conf',
    childName: 'nats',
  };
  const text = renderNatsConfig(standalone, [standalone]);
  assert.match(text, /server_name: "switchyard-dev-local"/);
  assert.doesNotMatch(text, /cluster|gateway/);
  const a: NatsServerPlan = {
    ...standalone,
    region: 'a',
    serverName: 'a-1',
    tags: ['region:a'],
    routePort: 3,
    gatewayPort: 4,
    gatewayAddress: '127.0.0.1:9',
    childName: 'nats-a-1',
  };
  const b: NatsServerPlan = {
    ...standalone,
    region: 'b',
    serverName: 'b-1',
    tags: ['region:b'],
    clientPort: 5,
    routePort: 7,
    gatewayPort: 8,
    childName: 'nats-b-1',
  };
  const conf = renderNatsConfig(a, [a, b]);
  assert.match(conf, /server_tags: \["region:a"\]/);
  assert.match(conf, /routes: \["nats-route:\/\/127\.0\.0\.1:3"\]/);
  assert.match(conf, /advertise: "127\.0\.0\.1:9"/);
  assert.match(conf, /\{ name: "a", urls: \["nats:\/\/127\.0\.0\.1:9"\] \}/);
  assert.match(conf, /\{ name: "b", urls: \["nats:\/\/127\.0\.0\.1:8"\] \}/);
});

test('should plan a standalone server, a cluster without gateways and a supercluster with a relayed gateway', async () => {
  const stateDir = '/state';
  const [alone] = await planNatsServers({ regions: ['t'], stateDir, jetstream: false });
  assert.equal(alone.routePort, undefined);
  assert.equal(alone.gatewayPort, undefined);
  assert.equal(alone.configFile, '/state/nats.conf');
  const aloneText = renderNatsConfig(alone, [alone]);
  assert.doesNotMatch(aloneText, /jetstream|server_tags|cluster|gateway/);

  const cluster = await planNatsServers({ regions: ['east'], serversPerRegion: 3, stateDir, topology: 'cluster' });
  assert.deepEqual(
    cluster.map((p) => [p.serverName, p.gatewayPort, p.tags]),
    [1, 2, 3].map((i) => [`east-${i}`, undefined, ['region:east']]),
  );
  const first = renderNatsConfig(cluster[0], cluster);
  assert.doesNotMatch(first, /gateway/);
  const routes = [cluster[1], cluster[2]].map((p) => `"nats-route://127.0.0.1:${p.routePort}"`).join(', ');
  assert.ok(first.includes(`routes: [${routes}]`), first);
  assert.equal(new Set(cluster.flatMap((p) => [p.clientPort, p.monitorPort, p.routePort])).size, 9);

  const seen: [string, number[]][] = [];
  const sc = await planNatsServers({
    regions: ['a'],
    stateDir,
    topology: 'supercluster',
    gatewayAddresses: (region, ports) => {
      seen.push([region, ports]);
      return ports.map((p) => `127.0.0.1:${p + 1}`);
    },
  });
  assert.deepEqual(seen, [['a', [sc[0].gatewayPort]]]);
  const scText = renderNatsConfig(sc[0], sc);
  assert.ok(
    scText.includes(`routes: ["nats-route://127.0.0.1:${sc[0].routePort}"]`),
    'a one-server cluster routes to itself',
  );
  assert.ok(scText.includes(`advertise: "127.0.0.1:${(sc[0].gatewayPort as number) + 1}"`), scText);

  await assert.rejects(planNatsServers({ regions: ['a', 'a'], stateDir }), RangeError);
  await assert.rejects(planNatsServers({ regions: ['a', 'b'], stateDir, topology: 'cluster' }), RangeError);
  await assert.rejects(planNatsServers({ regions: ['a'], serversPerRegion: 0, stateDir }), RangeError);
});

test('should give free ports for 0 and name a taken port with its hint', async () => {
  const [x, y] = await resolvePorts([
    { what: 'a', port: 0 },
    { what: 'b', port: 0 },
  ]);
  assert.notEqual(x, y);
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const port = (blocker.address() as { port: number }).port;
  try {
    await assert.rejects(
      resolvePorts([{ what: 'API', port, hint: 'pass --api-port N' }]),
      (err) =>
        err instanceof LauncherError &&
        err.code === LauncherErrorCode.portInUse &&
        err.message === `port ${port} (API) is already in use` &&
        err.hint === 'pass --api-port N',
    );
  } finally {
    blocker.close();
  }
});

test('should report a child that exits before it is ready with its last lines and log file', async () => {
  const logDir = tempDir();
  const group = new ChildGroup({ logDir });
  const child = group.start(StopTier.services, {
    name: 'broken',
    command: process.execPath,
    args: ['-e', 'console.error("boom"); process.exit(3)'],
    env: {},
    ready: 'ready-line',
  });
  await assert.rejects(
    group.waitReady([child], 10_000),
    (err) =>
      err instanceof LauncherError &&
      err.code === LauncherErrorCode.notReady &&
      /broken exited before it was ready \(exit code 3\)/.test(err.message) &&
      /boom/.test(err.message) &&
      /broken\.log/.test(err.hint ?? ''),
  );
  await group.stopAll();
});

for (const regions of [['local'], ['a', 'b']])
  test(`should launch NATS and Redis for ${regions.join(', ')}, and stop every child`, {
    timeout: 120_000,
  }, async () => {
    const launch = await launchRegions({
      regions: regions.map((name) => ({ name })),
      stateDir: tempDir(),
      redis: true,
      services: [],
    });
    try {
      const children = launch.group.children;
      assert.deepEqual(
        children.map((c) => c.name),
        regions.length === 1 ? ['nats', 'redis'] : ['nats-a-1', 'nats-b-1', 'redis-a', 'redis-b'],
      );
      for (const region of regions) {
        assert.match(launch.regions[region].endpoints.redis ?? '', /^redis:\/\/127\.0\.0\.1:\d+$/);
        assert.equal(launch.regions[region].endpoints.nats.length, 1);
      }
    } finally {
      await launch.stop();
    }
    for (const child of launch.group.children) assert.equal(child.running, false, `${child.name} still runs`);
  });

test('should restart a nats-server whose JetStream stays without its meta leader, then say what to do', {
  timeout: 120_000,
}, async () => {
  const group = new ChildGroup();
  try {
    const nats = await startNatsServers(group, {
      regions: ['stall'],
      serversPerRegion: 3,
      stateDir: tempDir(),
      binary: infraBinaries().nats,
      env: process.env,
    });
    // Two of three members frozen: the third never reaches a meta leader, as a member that never
    // catches up. It is restarted NATS_STALL_RESTARTS times, then the launch fails naming it.
    for (const child of nats.children.slice(1)) child.kill('SIGSTOP');
    const firstPid = nats.children[0].pid;
    const err = await waitNatsReady(group, nats, 60_000, undefined, 3_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof LauncherError && err.code === LauncherErrorCode.notReady, String(err));
    assert.match(err.message, /nats-stall-1: .*meta leader/);
    assert.match(err.hint ?? '', /after 2 restarts/);
    assert.notEqual(nats.children[0].pid, firstPid, 'the stalled member was restarted');
  } finally {
    for (const child of group.children) child.kill('SIGCONT');
    await group.stopAll();
  }
});
