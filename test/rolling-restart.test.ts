// A rolling restart keeps sessions (docs/deploy.md, "Upgrading"): one region as real processes, two
// gRPC proxy replicas and two invocation instances, two workers per function. Under gRPC session load
// and HTTP load every front-end replica is restarted in turn with SIGTERM, the way a Deployment rolls.
// Every gRPC client that loses its replica resumes with its nvcf-reqid on the other one (S3, G8) and
// reaches its own session on its own container; every HTTP request is answered 200 with its own body,
// or 503 SY_SHUTTING_DOWN by a stopping instance; a request a stopping instance never took (connection
// refused, or reset before any response) is sent to the other instance, as a load balancer would.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import type { EchoClient } from '@switchyard/sample-functions';
import { echoClient, sleep, unary } from '../services/worker/test/helpers.ts';
import { adminApi } from './admin-api.ts';

const REGION = 'roll';
const ADMIN_TOKEN = `roll_${randomBytes(12).toString('hex')}`;
const GRPC_CLIENTS = 8;
const HTTP_CLIENTS = 4;

let launch: RegionsLaunch;
let stateDir: string;
const proxies: { name: string; child: LaunchedChild; address: string }[] = [];
const invocations: { name: string; child: LaunchedChild; url: string }[] = [];
let apiKey = '';
let echoFn = { functionId: '', versionId: '' };
let httpFn = { functionId: '', versionId: '' };

const api = adminApi(() => launch.regions[REGION].endpoints.api, ADMIN_TOKEN);

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'switchyard-roll-'));
  launch = await launchRegions({
    regions: [{ name: REGION }],
    stateDir,
    logDir: join(stateDir, 'logs'),
    redis: true,
    services: ['api', 'grpc-proxy', 'invocation'],
    adminToken: ADMIN_TOKEN,
    samples: () => [
      { name: 'echo-a', sample: 'echo', instanceId: 'echo-a' },
      { name: 'echo-b', sample: 'echo', instanceId: 'echo-b' },
      { name: 'http-a', sample: 'http', instanceId: 'http-a' },
      { name: 'http-b', sample: 'http', instanceId: 'http-b' },
    ],
  });
  const region = launch.regions[REGION];
  proxies.push({
    name: 'grpc-proxy',
    child: region.services['grpc-proxy'] as LaunchedChild,
    address: region.endpoints.grpc,
  });
  invocations.push({
    name: 'invocation',
    child: region.services.invocation as LaunchedChild,
    url: region.endpoints.http,
  });
  const proxy2 = await launch.startFrontEnd('grpc-proxy', REGION, 'grpc-proxy-2');
  const invocation2 = await launch.startFrontEnd('invocation', REGION, 'invocation-2');
  await launch.waitReady([proxy2.child, invocation2.child]);
  proxies.push({ name: 'grpc-proxy-2', child: proxy2.child, address: proxy2.client });
  invocations.push({ name: 'invocation-2', child: invocation2.child, url: invocation2.client });

  echoFn = await api('POST', '/v1/functions', { name: 'echo', kind: 'grpc' });
  httpFn = await api('POST', '/v1/functions', { name: 'http-echo', kind: 'http', inferenceUrl: '/echo' });
  apiKey = (await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'rolling restart' })).key;
  const workers = [
    ['worker-echo-a', echoFn, 'grpc', 'echo-a'],
    ['worker-echo-b', echoFn, 'grpc', 'echo-b'],
    ['worker-http-a', httpFn, 'http', 'http-a'],
    ['worker-http-b', httpFn, 'http', 'http-b'],
  ] as const;
  await launch.waitReady(
    workers.map(([name, fn, scheme, sample]) =>
      launch.startWorker({
        region: REGION,
        name,
        functionId: fn.functionId,
        versionId: fn.versionId,
        upstream: `${scheme}://127.0.0.1:${region.samples[sample].port}`,
        concurrency: 16,
        callbackAllowList: ['http://127.0.0.1:'],
      }),
    ),
  );
});

after(async () => {
  await launch?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
});

/** What the gRPC session clients saw. */
const grpcCounts = { calls: 0, resumes: 0, notFound: 0, wrongSession: 0, retried: 0, other: [] as string[] };
/** What the HTTP clients saw. */
const httpCounts = {
  ok: 0,
  shuttingDown: 0,
  /** Connection refused: the instance was down; the request went to the other one. */
  refused: 0,
  /**
   * Reset before any response on a kept-alive connection the instance had just closed as idle (the
   * keep-alive race every HTTP/1.1 client retries, Node's `req.reusedSocket`).
   */
  idleReset: 0,
  wrongBody: 0,
  other: [] as string[],
};

/**
 * One gRPC session client: opens a session on replica `start`, then calls in a loop with its
 * nvcf-reqid. When its replica goes away (UNAVAILABLE) it moves to the other replica and resumes.
 */
async function grpcClient(start: number, stop: AbortSignal): Promise<void> {
  let at = start;
  let client: EchoClient = echoClient(proxies[at].address);
  const metadata: Record<string, string> = { authorization: `Bearer ${apiKey}`, 'function-id': echoFn.functionId };
  let reqId = '';
  let instance = '';
  let lastCalls = 0;
  let moved = false;
  try {
    while (!stop.aborted) {
      try {
        const { res, reqId: got } = await unary(
          client,
          {},
          reqId === '' ? metadata : { ...metadata, 'nvcf-reqid': reqId },
          {
            deadlineMs: 10_000,
          },
        );
        grpcCounts.calls++;
        if (reqId === '') {
          reqId = got;
          instance = res.instance_id;
        } else if (res.request_id !== reqId || res.instance_id !== instance || res.session_calls <= lastCalls) {
          grpcCounts.wrongSession++;
        }
        lastCalls = res.session_calls;
        if (moved) grpcCounts.resumes++;
        moved = false;
      } catch (err) {
        const e = err as grpc.ServiceError;
        if (e.code === grpc.status.NOT_FOUND) {
          grpcCounts.notFound++;
          return;
        }
        if (e.code !== grpc.status.UNAVAILABLE && e.code !== grpc.status.DEADLINE_EXCEEDED) {
          grpcCounts.other.push(`${grpc.status[e.code]}: ${e.details}`);
          return;
        }
        // This replica is stopping or down: go to the other one, as DNS or a load balancer would.
        grpcCounts.retried++;
        client.close();
        at = (at + 1) % proxies.length;
        client = echoClient(proxies[at].address);
        moved = reqId !== '';
        await sleep(50);
      }
      await sleep(20);
    }
  } finally {
    client.close();
  }
}

/** One HTTP POST to an invocation instance; resolves with the status, body and nvcf headers. */
function post(
  url: string,
  agent: http.Agent,
  payload: string,
): Promise<{ status: number; body: string; code?: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        hostname,
        port,
        agent,
        method: 'POST',
        path: '/echo',
        headers: {
          host: `${httpFn.functionId}.invocation.${hostname}:${port}`,
          authorization: `Bearer ${apiKey}`,
          'content-type': 'application/json',
        },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          let code: string | undefined;
          if ((res.headers['content-type'] ?? '').includes('problem+json')) code = JSON.parse(body).code;
          resolve({ status: res.statusCode ?? 0, body, code });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
      err.reusedSocket = req.reusedSocket;
      reject(err);
    });
    req.end(payload);
  });
}

/** One HTTP client with keep-alive connections, alternating instances; retries what no instance took. */
async function httpClient(index: number, stop: AbortSignal): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let at = index % invocations.length;
  try {
    for (let n = 0; !stop.aborted; n++) {
      const payload = JSON.stringify({ message: `client ${index} request ${n}` });
      for (let attempt = 0; attempt < 10; attempt++) {
        try {
          const r = await post(invocations[at].url, agent, payload);
          if (r.status === 200) {
            if (!r.body.includes(`client ${index} request ${n}`)) httpCounts.wrongBody++;
            else httpCounts.ok++;
            break;
          }
          if (r.status === 503 && r.code === 'SY_SHUTTING_DOWN') {
            httpCounts.shuttingDown++;
          } else {
            httpCounts.other.push(`${r.status} ${r.body.slice(0, 200)}`);
            break;
          }
        } catch (err) {
          const e = err as NodeJS.ErrnoException & { reusedSocket?: boolean };
          if (e.code === 'ECONNREFUSED') httpCounts.refused++;
          else if ((e.code === 'ECONNRESET' || e.code === 'EPIPE') && e.reusedSocket) httpCounts.idleReset++;
          else {
            // A reset on a fresh connection would be a request the stopping instance dropped.
            httpCounts.other.push(`${e.code ?? ''} ${e.message}`);
            break;
          }
        }
        at = (at + 1) % invocations.length;
        await sleep(50);
      }
      at = (at + 1) % invocations.length;
      await sleep(20);
    }
  } finally {
    agent.destroy();
  }
}

test('a rolling restart of every proxy and invocation replica keeps every session and loses no request', {
  timeout: 240_000,
}, async () => {
  const stop = new AbortController();
  const clients = [
    ...Array.from({ length: GRPC_CLIENTS }, (_, i) => grpcClient(i % proxies.length, stop.signal)),
    ...Array.from({ length: HTTP_CLIENTS }, (_, i) => httpClient(i, stop.signal)),
  ];
  await sleep(2_000);
  const before = { grpc: grpcCounts.calls, http: httpCounts.ok };
  const restarted: string[] = [];
  for (const replica of [...proxies, ...invocations]) {
    const { exit, child } = await launch.group.restart(replica.child, 30_000);
    assert.equal(exit.code, 0, `${replica.name} drained and exited 0 (exit ${JSON.stringify(exit)})`);
    replica.child = child;
    await launch.waitReady([child]);
    restarted.push(replica.name);
    await sleep(2_000); // let clients come back before the next replica rolls
  }
  stop.abort();
  await Promise.all(clients);
  const report = JSON.stringify({ restarted, grpcCounts, httpCounts });
  console.log(`rolling restart: ${report}`);

  assert.deepEqual(restarted, ['grpc-proxy', 'grpc-proxy-2', 'invocation', 'invocation-2']);
  assert.equal(grpcCounts.notFound, 0, `a resume was answered NOT_FOUND: ${report}`);
  assert.equal(grpcCounts.wrongSession, 0, `a call reached another session or container: ${report}`);
  assert.deepEqual(grpcCounts.other, [], report);
  assert.ok(grpcCounts.resumes >= GRPC_CLIENTS, `every session client resumed at least once: ${report}`);
  assert.ok(grpcCounts.calls > before.grpc + GRPC_CLIENTS * 10, `gRPC calls kept flowing: ${report}`);
  assert.equal(httpCounts.wrongBody, 0, report);
  assert.deepEqual(httpCounts.other, [], report);
  assert.ok(httpCounts.ok > before.http + HTTP_CLIENTS * 10, `HTTP requests kept flowing: ${report}`);
});
