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
  LauncherError,
  LauncherErrorCode,
  launchRegions,
  type NatsServerPlan,
  renderNatsConfig,
  resolvePorts,
  StopTier,
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
    routePort: 3,
    gatewayPort: 4,
    gatewayAddress: '127.0.0.1:9',
    childName: 'nats-a-1',
  };
  const b: NatsServerPlan = {
    ...standalone,
    region: 'b',
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
