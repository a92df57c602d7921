// Replication settings (issue 11, item 6): SWITCHYARD_NATS_REPLICAS sets the replicas of every bucket
// and stream a service creates, checked on a real 3-server cluster; asking for more than the cluster
// has stops the service at start with SY_NATS_REPLICAS_EXCEED_CLUSTER instead of a hang or a retry loop.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { NatsNames } from '@switchyard/protocol';
import { type NatsClusterHandle, startNats, startNatsCluster, stopAll } from '@switchyard/testkit';

const REGION = 'local';
const main = (service: string) => fileURLToPath(new URL(`../services/${service}/src/main.ts`, import.meta.url));

/** Runs a service's main.ts until its ready line (resolves) or its exit (resolves with the code). */
async function runService(
  service: 'api' | 'grpc-proxy',
  env: Record<string, string>,
): Promise<{ ready: boolean; code: number | null; stderr: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [main(service)], {
    env: {
      PATH: process.env.PATH ?? '',
      SWITCHYARD_LOG_LEVEL: 'warn',
      SWITCHYARD_REGION: REGION,
      SWITCHYARD_PORT: '0',
      ...(service === 'api'
        ? { SWITCHYARD_ADMIN_TOKEN: 'replicas-test-admin-token-0123' }
        : { SWITCHYARD_CALLBACK_PORT: '0', SWITCHYARD_HOST: '127.0.0.1', SWITCHYARD_CALLBACK_HOST: '127.0.0.1' }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const ready = await Promise.race([
    (async () => {
      while (!stdout.includes('"ready":true') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      return child.exitCode === null;
    })(),
    exited.then(() => false),
    new Promise<boolean>((_, reject) =>
      setTimeout(() => reject(new Error(`${service} neither ready nor exited in 60 s\n${stderr}`)), 60_000).unref(),
    ),
  ]);
  return {
    ready,
    code: ready ? null : await exited,
    stderr,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

const replicasOf = async (nc: NatsConnection, stream: string) =>
  (await (await jetstreamManager(nc)).streams.info(stream)).config.num_replicas;

describe('SWITCHYARD_NATS_REPLICAS on a 3-server cluster', () => {
  let cluster: NatsClusterHandle;
  let nc: NatsConnection;

  before(async () => {
    cluster = await startNatsCluster({ size: 3, name: REGION });
    nc = await connect({ servers: cluster.urls });
  });
  after(async () => {
    await nc?.close();
    await cluster?.stop();
    await stopAll();
  });

  test('the api creates the control buckets and its session bucket with 3 replicas', async () => {
    const api = await runService('api', {
      SWITCHYARD_NATS_SERVERS: cluster.urls.join(','),
      SWITCHYARD_NATS_REPLICAS: '3',
    });
    try {
      assert.equal(api.ready, true, api.stderr);
      for (const bucket of [
        NatsNames.functionsBucket,
        NatsNames.versionsBucket,
        NatsNames.apiKeysBucket,
        NatsNames.sessionBucket(REGION),
      ])
        assert.equal(await replicasOf(nc, `KV_${bucket}`), 3, bucket);
    } finally {
      await api.stop();
    }
  });

  test('5 replicas on 3 servers stops the proxy at start with SY_NATS_REPLICAS_EXCEED_CLUSTER; 3 creates its ticket stream', async () => {
    const five = await runService('grpc-proxy', {
      SWITCHYARD_NATS_SERVERS: cluster.urls.join(','),
      SWITCHYARD_NATS_REPLICAS: '5',
    });
    assert.equal(five.ready, false);
    assert.equal(five.code, 1);
    assert.match(five.stderr, /SY_NATS_REPLICAS_EXCEED_CLUSTER|more replicas than the NATS cluster/);
    assert.match(five.stderr, /SWITCHYARD_NATS_REPLICAS/);
    const three = await runService('grpc-proxy', {
      SWITCHYARD_NATS_SERVERS: cluster.urls.join(','),
      SWITCHYARD_NATS_REPLICAS: '3',
    });
    try {
      assert.equal(three.ready, true, three.stderr);
      assert.equal(await replicasOf(nc, NatsNames.ticketStream(REGION)), 3);
    } finally {
      await three.stop();
    }
  });

  test('a value other than 1, 3 or 5 is a config error listed at start', async () => {
    const two = await runService('api', {
      SWITCHYARD_NATS_SERVERS: cluster.urls.join(','),
      SWITCHYARD_NATS_REPLICAS: '2',
    });
    assert.equal(two.code, 1);
    assert.match(two.stderr, /SWITCHYARD_NATS_REPLICAS.*must be 1, 3 or 5/s);
  });
});

test('3 replicas on a single server stops the api at start with SY_NATS_REPLICAS_EXCEED_CLUSTER', async () => {
  const single = await startNats({});
  try {
    const api = await runService('api', { SWITCHYARD_NATS_SERVERS: single.url, SWITCHYARD_NATS_REPLICAS: '3' });
    assert.equal(api.code, 1);
    assert.match(api.stderr, /SY_NATS_REPLICAS_EXCEED_CLUSTER|more replicas than the NATS cluster/);
  } finally {
    await single.stop();
  }
});
