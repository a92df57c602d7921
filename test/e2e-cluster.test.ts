// S2, G8, G15 on a 3-node NATS cluster with R3 buckets and ticket stream: one node is killed and
// sessions held by the worker stay resumable through a proxy on the surviving nodes, new sessions
// still allocate, and no resume is ever wrongly answered NOT_FOUND while JetStream fails over.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { GrpcProxy, ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { type SampleServerHandle, startEchoServer } from '@switchyard/sample-functions';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger } from '@switchyard/telemetry';
import { type NatsClusterHandle, startNatsCluster } from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker, WorkerConfigSchema } from '@switchyard/worker';
import { echoClient, sleep, type UnaryResult, unary } from '../services/worker/test/helpers.ts';

const REGION = 'cl';
// Debug lines are kept in memory and shown when a resume gets NOT_FOUND (the proxy logs the reason).
const logLines: string[] = [];
const logger = createLogger({
  service: 'test',
  level: process.env.SWITCHYARD_LOG_LEVEL ?? 'debug',
  destination: {
    write: (line: string) => {
      logLines.push(line);
      if (logLines.length > 200) logLines.shift();
    },
  },
});

interface Parts {
  nc: NatsConnection;
  control: ControlStore;
  directory: SessionDirectory;
  queue: TicketQueue;
}

async function openParts(servers: string[]): Promise<Parts> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  try {
    const control = await ControlStore.open(nc, { replicas: 3 });
    const directory = await SessionDirectory.open(nc, { region: REGION, replicas: 3, ttlMs: 20_000, timeoutMs: 1_500 });
    const queue = await TicketQueue.open(nc, { region: REGION, replicas: 3 });
    return { nc, control, directory, queue };
  } catch (err) {
    await nc.close(); // an open connection would keep the test process alive
    throw err;
  }
}

async function startProxy(servers: string[]): Promise<{ proxy: GrpcProxy; parts: Parts; address: string }> {
  const parts = await openParts(servers);
  const config = loadConfig(ProxyConfigSchema, {
    service: 'grpc-proxy',
    env: {},
    overrides: {
      region: REGION,
      natsServers: servers,
      host: '127.0.0.1',
      port: 0,
      callbackHost: '127.0.0.1',
      callbackPort: 0,
      attachTimeoutMs: 5_000,
      natsReplicas: 3,
      // The worker may have been on the killed node: on a loaded machine its reconnect to another
      // node (and so its subscriptions) can take seconds.
      noRespondersGraceMs: 10_000,
    },
  });
  const proxy = new GrpcProxy(config, { ...parts, logger });
  const { port } = await proxy.listen();
  return { proxy, parts, address: `127.0.0.1:${port}` };
}

/** Retries `call` while the cluster fails over (UNAVAILABLE / DEADLINE_EXCEEDED); NOT_FOUND fails at once. */
async function eventually(call: () => Promise<UnaryResult>, what: string, budgetMs = 20_000): Promise<UnaryResult> {
  const deadline = Date.now() + budgetMs;
  let last: grpc.ServiceError | undefined;
  while (Date.now() < deadline) {
    try {
      return await call();
    } catch (err) {
      last = err as grpc.ServiceError;
      assert.notEqual(
        last.code,
        grpc.status.NOT_FOUND,
        `${what}: NOT_FOUND during failover (${last.details}); last log lines:\n${logLines.slice(-20).join('')}`,
      );
      await sleep(250);
    }
  }
  throw new Error(`${what}: still failing after ${budgetMs} ms: ${last?.code} ${last?.details}`);
}

describe('a killed NATS node in a 3-node cluster with R3 buckets', () => {
  let cluster: NatsClusterHandle;
  let admin: Parts;
  let container: SampleServerHandle;
  let worker: Worker;
  let workerParts: Parts;
  const proxies: { proxy: GrpcProxy; parts: Parts; address: string }[] = [];
  let md: Record<string, string>;

  before(async () => {
    cluster = await startNatsCluster({ size: 3 });
    admin = await openParts(cluster.urls);
    const { fn, version } = await admin.control.createFunction({ accountId: 'acct-cl', name: 'echo', kind: 'grpc' });
    const { key } = await admin.control.createApiKey({ accountId: 'acct-cl' });
    md = { authorization: `Bearer ${key}`, 'function-id': fn.functionId };
    container = await startEchoServer({ port: 0 });
    workerParts = await openParts(cluster.urls);
    const config = loadConfig(WorkerConfigSchema, {
      service: 'worker',
      env: {},
      overrides: {
        region: REGION,
        natsServers: cluster.urls,
        functionId: fn.functionId,
        versionId: version.versionId,
        upstream: `grpc://127.0.0.1:${container.port}`,
        ticketPullExpiresMs: 1_000,
        sessionTtlMs: 20_000,
        natsReplicas: 3,
        concurrency: 16,
      },
    });
    worker = new Worker(config, { ...workerParts, logger });
    await worker.start();
    proxies.push(await startProxy(cluster.urls));
  });

  after(async () => {
    await worker?.stop().catch(() => undefined);
    for (const p of proxies) {
      await p.proxy.close().catch(() => undefined);
      await p.parts.control.close().catch(() => undefined);
      await p.parts.nc.close().catch(() => undefined);
    }
    for (const p of [workerParts, admin]) {
      await p?.control.close().catch(() => undefined);
      await p?.nc.close().catch(() => undefined);
    }
    await container?.stop().catch(() => undefined);
    await cluster?.stop();
  });

  test('G15: should keep sessions resumable and allocate new ones after one of three nodes is killed', async () => {
    const clients = [0, 1, 2].map(() => echoClient(proxies[0].address));
    const sessions = await Promise.all(clients.map((c) => unary(c, {}, md)));
    for (const c of clients) c.close(); // held by the reconnect window (30 s) from here on
    await sleep(300);
    // A second proxy replica on the nodes that will survive; then the first node dies.
    const survivor = await startProxy(cluster.urls.slice(1));
    proxies.push(survivor);
    await cluster.servers[0].kill();
    for (const s of sessions) {
      const client = echoClient(survivor.address);
      const resumed = await eventually(() => unary(client, {}, { ...md, 'nvcf-reqid': s.reqId }), `resume ${s.reqId}`);
      assert.equal(resumed.res.request_id, s.reqId);
      assert.equal(resumed.res.instance_id, s.res.instance_id);
      assert.equal(Number(resumed.res.session_calls), 2, 'the same session continues');
      client.close();
    }

    const fresh = echoClient(survivor.address);
    const created = await eventually(() => unary(fresh, {}, md), 'new session');
    assert.ok(!sessions.some((s) => s.reqId === created.reqId));
    assert.ok(await survivor.parts.directory.get(created.reqId), 'record written on the surviving nodes');
    fresh.close();
  });
});
