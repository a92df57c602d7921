// The local tools against the real machine: free ports bind, a taken port is seen as taken, the
// binaries are found, and a missing redis-server is named with how to install it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import {
  canConnect,
  FREE_PORT_MIN,
  freePort,
  isPortFree,
  LocalToolsError,
  LocalToolsErrorCode,
  natsServerBinary,
  redisPing,
  redisServerBinary,
} from '../src/index.ts';

test('should hand out a free port that can be bound, and see it taken while something listens', async () => {
  const port = await freePort();
  assert.ok(port > 0);
  assert.equal(await isPortFree(port), true);
  assert.equal(await canConnect(port, 200), false);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port }, resolve));
  try {
    assert.equal(await isPortFree(port), false);
    assert.equal(await canConnect(port), true);
  } finally {
    server.close();
  }
});

test('should hand out ports below the kernel ephemeral range, so outgoing connections and listen(0) never take them', async () => {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
  for (const port of ports) assert.ok(port >= FREE_PORT_MIN && port < ephemeralLow, `port ${port}`);
  assert.ok(new Set(ports).size > 40, 'random, not one port over and over');
});

test('should find nats-server and redis-server, and PING a real redis-server', async () => {
  assert.match(natsServerBinary(), /nats-server/);
  const port = await freePort();
  const redis = spawn(redisServerBinary(), ['--port', String(port), '--bind', '127.0.0.1', '--save', ''], {
    stdio: 'ignore',
  });
  try {
    let pong = false;
    for (let i = 0; i < 100 && !pong; i++) {
      pong = await redisPing(port);
      if (!pong) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(pong, true);
  } finally {
    redis.kill('SIGKILL');
    await once(redis, 'exit');
  }
  assert.equal(await redisPing(port, 200), false);
});

test('should name SWITCHYARD_REDIS_SERVER when it is not executable', () => {
  const saved = process.env.SWITCHYARD_REDIS_SERVER;
  process.env.SWITCHYARD_REDIS_SERVER = '/nonexistent/redis-server';
  try {
    assert.throws(
      () => redisServerBinary(),
      (err) =>
        err instanceof LocalToolsError &&
        err.code === LocalToolsErrorCode.binaryMissing &&
        /SWITCHYARD_REDIS_SERVER=\/nonexistent\/redis-server/.test(err.message),
    );
  } finally {
    if (saved === undefined) delete process.env.SWITCHYARD_REDIS_SERVER;
    else process.env.SWITCHYARD_REDIS_SERVER = saved;
  }
});
