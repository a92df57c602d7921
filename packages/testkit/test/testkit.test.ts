// Integration tests of the test kit against real nats-server and redis-server processes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { after, describe, test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import {
  freePort,
  liveChildCount,
  startNats,
  startNatsCluster,
  startNatsSupercluster,
  startRedis,
  stopAll,
  waitFor,
} from '../src/index.ts';

after(() => stopAll());

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    socket.once('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk.toString('utf8').trim());
    });
    socket.once('error', reject);
  });
}

describe('freePort and waitFor', () => {
  test('should return a bindable port', async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
  });

  test('should reject with the description and last error when the condition never holds', async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('still booting');
        },
        { timeoutMs: 100, intervalMs: 10, what: 'the moon' },
      ),
      (err: Error & { code?: string }) =>
        err.code === 'TESTKIT_TIMEOUT' && /the moon/.test(err.message) && /still booting/.test(err.message),
    );
  });
});

describe('single nats-server', () => {
  test('should run JetStream so a KV bucket can be created, written and read', async () => {
    const server = await startNats();
    assert.equal(server.url, `nats://127.0.0.1:${server.port}`);
    const nc = await connect({ servers: server.url });
    try {
      const kv = await new Kvm(nc).create('x');
      await kv.put('k', 'v1');
      assert.equal((await kv.get('k'))?.string(), 'v1');
    } finally {
      await nc.close();
      await server.stop();
    }
    assert.equal(server.pid, undefined);
  });

  test('should keep JetStream data across restart() with the same port', async () => {
    const server = await startNats({ serverName: 'restartable', tags: ['region:t'] });
    const firstPid = server.pid;
    let nc = await connect({ servers: server.url });
    await (await new Kvm(nc).create('durable')).put('k', 'kept');
    await nc.close();

    await server.restart();
    assert.notEqual(server.pid, firstPid);
    nc = await connect({ servers: server.url });
    assert.equal((await (await new Kvm(nc).open('durable')).get('k'))?.string(), 'kept');
    await nc.close();

    await server.kill();
    assert.equal(server.pid, undefined);
    await server.restart();
    nc = await connect({ servers: server.url });
    assert.equal((await (await new Kvm(nc).open('durable')).get('k'))?.string(), 'kept');
    await nc.close();
    await server.stop();
  });
});

describe('nats cluster', () => {
  test('should keep an R3 KV bucket readable after one of three nodes is killed', async () => {
    const cluster = await startNatsCluster({ name: 'east' });
    assert.equal(cluster.servers.length, 3);
    assert.deepEqual(
      cluster.urls,
      cluster.servers.map((s) => s.url),
    );
    const nc = await connect({ servers: cluster.urls });
    try {
      const kv = await new Kvm(nc).create('r3', { replicas: 3 });
      await kv.put('k', 'before');
      const victim =
        cluster.servers.find((s) => s.port === Number(nc.getServer().split(':').pop())) ?? cluster.servers[0];
      await victim.kill();
      let value: string | undefined;
      await waitFor(
        async () => {
          value = (await kv.get('k'))?.string();
          return value !== undefined;
        },
        { timeoutMs: 20_000, intervalMs: 250, what: 'R3 read after a node was killed' },
      );
      assert.equal(value, 'before');
      // Writes need a stream leader; if the killed node led, the survivors elect one first.
      await waitFor(
        async () => {
          await kv.put('k', 'after');
          return true;
        },
        { timeoutMs: 20_000, intervalMs: 250, what: 'R3 write after a node was killed' },
      );
      assert.equal((await kv.get('k'))?.string(), 'after');
    } finally {
      await nc.close();
      await cluster.stop();
    }
  });
});

describe('nats supercluster', () => {
  test('should route messages across gateways and place a bucket by region tag', async () => {
    const sc = await startNatsSupercluster({ regions: ['a', 'b'] });
    assert.deepEqual(Object.keys(sc.clusters).sort(), ['a', 'b']);
    assert.equal(sc.clusters.a.name, 'a');
    const ncA = await connect({ servers: sc.clusters.a.urls });
    const ncB = await connect({ servers: sc.clusters.b.urls });
    try {
      const received: string[] = [];
      const sub = ncA.subscribe('hello.gateway', {
        callback: (_err, msg) => {
          received.push(msg.string());
        },
      });
      await ncA.flush();
      await waitFor(
        async () => {
          ncB.publish('hello.gateway', 'from b');
          await ncB.flush();
          return received.length > 0;
        },
        { timeoutMs: 10_000, intervalMs: 200, what: 'a message from region b in region a' },
      );
      assert.equal(received[0], 'from b');
      sub.unsubscribe();

      const kv = await new Kvm(ncA).create('placed', {
        // cluster '' is left out of the request, so only the tag decides
        placement: { cluster: '', tags: ['region:b'] },
      });
      const status = await kv.status();
      assert.equal(status.streamInfo.cluster?.name, 'b');
      await kv.put('k', 'v');
      assert.equal((await kv.get('k'))?.string(), 'v');
    } finally {
      await ncA.close();
      await ncB.close();
      await sc.stop();
    }
  });
});

describe('redis-server', () => {
  test('should answer PING and stop', async () => {
    const redis = await startRedis();
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await redisCommand(redis.port, 'PING'), '+PONG');
    assert.equal(await redisCommand(redis.port, 'CONFIG GET save').then((r) => r.includes('save')), true);
    await redis.stop();
    await assert.rejects(redisCommand(redis.port, 'PING'));
  });
});

describe('cleanup', () => {
  test('should leave no child running after stopAll', async () => {
    const nats = await startNats();
    const redis = await startRedis();
    const pids = [nats.pid, (await startNatsCluster({ size: 2 })).servers.map((s) => s.pid)].flat();
    assert.ok(liveChildCount() >= 4);
    await stopAll();
    assert.equal(liveChildCount(), 0);
    for (const pid of pids) assert.equal(isAlive(pid!), false, `pid ${pid} still alive`);
    await assert.rejects(redisCommand(redis.port, 'PING'));
  });

  test('should kill servers of a process that exits without stopping them', async () => {
    const script = [
      `import { startNats, startRedis } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};`,
      'const n = await startNats();',
      'const r = await startRedis();',
      'console.log(JSON.stringify({ nats: n.pid, redisPort: r.port }));',
      "throw new Error('test failed without cleanup');",
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.notEqual(code, 0);
    const info = JSON.parse(out.trim()) as { nats: number; redisPort: number };
    await waitFor(() => !isAlive(info.nats), { timeoutMs: 3000, what: 'orphan nats-server to die' });
    await assert.rejects(redisCommand(info.redisPort, 'PING'));
  });

  test('should kill servers of a process ended by SIGTERM', async () => {
    const script = [
      `import { startNats } from ${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)};`,
      'const n = await startNats();',
      'console.log(JSON.stringify({ nats: n.pid }));',
      'setInterval(() => {}, 1000);',
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    await waitFor(() => out.includes('\n'), { timeoutMs: 20_000, what: 'child to start nats' });
    const info = JSON.parse(out.trim()) as { nats: number };
    child.kill('SIGTERM');
    const signal = await new Promise<string | null>((resolve) => child.once('exit', (_c, s) => resolve(s)));
    assert.equal(signal, 'SIGTERM');
    await waitFor(() => !isAlive(info.nats), { timeoutMs: 3000, what: 'orphan nats-server to die' });
  });
});
