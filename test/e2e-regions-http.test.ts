// H9 [ours] across two regions on loopback: status polls work from any region. A 2-region nats-server
// supercluster (gateways), a Redis, an invocation service and (in us-east) a worker per region, and a
// small HTTP container. A request through us-east's invocation service turns into a 202; its status is
// polled through eu-west's, which finds it in us-east over core NATS and returns it once, then 404. A
// body larger than the NATS max payload crosses in slices. A region that does not answer makes a miss
// 503, never 404. Nothing is mocked.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { InvocationConfigSchema, InvocationService } from '@switchyard/invocation';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger } from '@switchyard/telemetry';
import {
  type NatsSuperclusterHandle,
  type RedisHandle,
  startNatsSupercluster,
  startRedis,
  waitFor,
} from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker, WorkerConfigSchema } from '@switchyard/worker';
import { Redis } from 'ioredis';
import { request } from 'undici';

const EAST = 'us-east';
const WEST = 'eu-west';
const REMOTE_TIMEOUT_MS = 800;
/** Larger than the 1 MiB NATS max payload, so the body crosses the gateway in several slices. */
const BIG_BYTES = 2_500_000;

/** Silent: set a level here to debug. */
const logger = createLogger({ service: 'test', level: 'silent' });

/** Deterministic bytes (pattern repeats every 251 bytes). */
function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = i % 251;
  return b;
}

/** `/slow?ms=N[&bytes=M]`: answers after N ms with JSON `{slept}` (or M pattern bytes). */
async function startSlowContainer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'http://container');
    const ms = Number(url.searchParams.get('ms') ?? '0');
    const bytes = url.searchParams.get('bytes');
    const timer = setTimeout(() => {
      if (bytes !== null) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
        res.end(pattern(Number(bytes)));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-container': 'slow' });
      res.end(JSON.stringify({ slept: ms }));
    }, ms);
    res.on('close', () => clearTimeout(timer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface RegionInvocation {
  service: InvocationService;
  url: string;
  port: number;
  stop(): Promise<void>;
}

describe('two regions: HTTP status polls from any region (H9)', () => {
  let nats: NatsSuperclusterHandle;
  const redis = new Map<string, RedisHandle>();
  let admin: { nc: NatsConnection; control: ControlStore };
  let container: Awaited<ReturnType<typeof startSlowContainer>>;
  let functionId = '';
  let apiKey = '';
  const invocations = new Map<string, RegionInvocation>();
  const stops: (() => Promise<void>)[] = [];

  async function addInvocation(region: string): Promise<RegionInvocation> {
    const servers = nats.clusters[region].urls;
    const config = loadConfig(InvocationConfigSchema, {
      service: 'invocation',
      env: {},
      overrides: {
        region,
        natsServers: servers,
        redisUrl: redis.get(region)?.url,
        host: '127.0.0.1',
        port: 0,
        callbackHost: '127.0.0.1',
        callbackPort: 0,
        drainTimeoutMs: 500,
        remoteRegions: [EAST, WEST].filter((r) => r !== region),
        remoteLookupTimeoutMs: REMOTE_TIMEOUT_MS,
        maxResultBytes: 4 * 1024 * 1024,
        // Chunks larger than the NATS max payload: the responder slices them.
        resultChunkBytes: 1536 * 1024,
      },
    });
    const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const control = await ControlStore.open(nc, { create: false });
    const queue = await TicketQueue.open(nc, { region });
    const client = new Redis(redis.get(region)?.url as string, { maxRetriesPerRequest: 1 });
    const service = new InvocationService(config, { nc, control, queue, redis: client, logger });
    const { port } = await service.listen();
    let stopped = false;
    const handle: RegionInvocation = {
      service,
      port,
      url: `http://127.0.0.1:${port}`,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await service.close().catch(() => undefined);
        await control.close().catch(() => undefined);
        await nc.close().catch(() => undefined);
        client.disconnect();
      },
    };
    stops.push(handle.stop);
    invocations.set(region, handle);
    return handle;
  }

  const host = (inv: RegionInvocation) => `${functionId}.invocation.127.0.0.1:${inv.port}`;
  const auth = () => ({ authorization: `Bearer ${apiKey}` });
  const statusUrl = (inv: RegionInvocation, reqId: string) => `${inv.url}/v2/nvcf/pexec/status/${reqId}`;

  before(async () => {
    nats = await startNatsSupercluster({ regions: [EAST, WEST], size: 1 });
    for (const region of [EAST, WEST]) redis.set(region, await startRedis());
    const nc = await connect({ servers: nats.clusters[EAST].urls });
    admin = { nc, control: await ControlStore.open(nc) };
    const { fn, version } = await admin.control.createFunction({
      accountId: 'acct-regions-http',
      name: 'slow',
      kind: 'http',
      inferenceUrl: '/slow',
    });
    functionId = fn.functionId;
    apiKey = (await admin.control.createApiKey({ accountId: 'acct-regions-http' })).key;
    container = await startSlowContainer();
    await addInvocation(EAST);
    await addInvocation(WEST);
    // The worker serves us-east only: every request through us-east is stored in us-east's Redis.
    const config = loadConfig(WorkerConfigSchema, {
      service: 'worker',
      env: {},
      overrides: {
        region: EAST,
        natsServers: nats.clusters[EAST].urls,
        functionId: fn.functionId,
        versionId: version.versionId,
        upstream: container.url,
        concurrency: 8,
        ticketPullExpiresMs: 1_000,
      },
    });
    const wnc = await connect({ servers: nats.clusters[EAST].urls });
    const directory = await SessionDirectory.open(wnc, { region: EAST, timeoutMs: 1_000 });
    const queue = await TicketQueue.open(wnc, { region: EAST });
    const worker = new Worker(config, { nc: wnc, directory, queue, logger });
    await worker.start();
    stops.push(async () => {
      await worker.stop().catch(() => undefined);
      await wnc.close().catch(() => undefined);
    });
  });

  after(async () => {
    for (const stop of stops.reverse()) await stop();
    await container?.close().catch(() => undefined);
    await admin?.control.close().catch(() => undefined);
    await admin?.nc.close().catch(() => undefined);
    for (const r of redis.values()) await r.stop().catch(() => undefined);
    await nats?.stop();
  });

  /** A request through `inv` that outlives its 1 s poll window: returns the 202's request ID. */
  async function start202(inv: RegionInvocation, path: string): Promise<string> {
    const res = await request(`${inv.url}${path}`, {
      method: 'POST',
      headers: { host: host(inv), ...auth(), 'nvcf-poll-seconds': '1' },
      body: 'work',
    });
    await res.body.dump();
    assert.equal(res.statusCode, 202);
    assert.equal(res.headers['nvcf-status'], 'in-progress');
    return String(res.headers['nvcf-reqid']);
  }

  test('H9: a 202 of us-east is polled through eu-west: 202 while running, then the result once, then 404', async () => {
    const east = invocations.get(EAST) as RegionInvocation;
    const west = invocations.get(WEST) as RegionInvocation;
    const reqId = await start202(east, '/slow?ms=2500');
    const pending = await request(statusUrl(west, reqId), { headers: auth() });
    await pending.body.dump();
    assert.equal(pending.statusCode, 202, 'pending in us-east, seen from eu-west');
    assert.equal(pending.headers['nvcf-status'], 'in-progress');
    assert.equal(pending.headers['nvcf-reqid'], reqId);
    // NVCF-POLL-SECONDS: the eu-west poll waits (asking us-east) until the result is ready.
    const ready = await request(statusUrl(west, reqId), { headers: { ...auth(), 'nvcf-poll-seconds': '10' } });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.headers['nvcf-status'], 'fulfilled');
    assert.equal(ready.headers['nvcf-reqid'], reqId);
    assert.equal(ready.headers['x-container'], 'slow');
    assert.deepEqual(await ready.body.json(), { slept: 2500 });
    // Handed out once, in every region. The polls wait: us-east deletes the result when eu-west pulls
    // its end, just after this client has the whole (content-length) body, and a poll before that
    // meets the claim and answers 202.
    for (const inv of [west, east]) {
      const again = await request(statusUrl(inv, reqId), { headers: { ...auth(), 'nvcf-poll-seconds': '10' } });
      const problem = (await again.body.json()) as { code: string };
      assert.equal(again.statusCode, 404);
      assert.equal(problem.code, 'SY_RESULT_NOT_FOUND');
    }
  });

  test('H9: a result larger than the NATS max payload crosses regions intact, in slices', async () => {
    const east = invocations.get(EAST) as RegionInvocation;
    const west = invocations.get(WEST) as RegionInvocation;
    const reqId = await start202(east, `/slow?ms=1300&bytes=${BIG_BYTES}`);
    const ready = await request(statusUrl(west, reqId), { headers: { ...auth(), 'nvcf-poll-seconds': '10' } });
    assert.equal(ready.statusCode, 200);
    const body = Buffer.from(await ready.body.arrayBuffer());
    assert.equal(body.length, BIG_BYTES);
    assert.ok(body.equals(pattern(BIG_BYTES)), 'the same bytes');
    // The claimed body is deleted in us-east once eu-west pulled its end: just after this client has
    // every byte (it knows the length), so the check waits for it (it was still there when checked at once).
    const probe = new Redis((redis.get(EAST) as RedisHandle).url);
    try {
      await waitFor(async () => (await probe.keys(`switchyard:result:{${reqId}}*`)).length === 0, {
        timeoutMs: 10_000,
        what: 'the delivered result deleted in us-east',
      });
    } finally {
      probe.disconnect();
    }
    const again = await request(statusUrl(west, reqId), { headers: auth() });
    await again.body.dump();
    assert.equal(again.statusCode, 404);
  });

  test('H9: another account cannot poll it from another region; an unknown request ID is 404', async () => {
    const west = invocations.get(WEST) as RegionInvocation;
    const unknown = await request(statusUrl(west, '3c9a7b1e-52d4-4f0a-8b6c-1d2e3f4a5b6c'), { headers: auth() });
    await unknown.body.dump();
    assert.equal(unknown.statusCode, 404, 'every region answered "unknown"');
    const east = invocations.get(EAST) as RegionInvocation;
    const reqId = await start202(east, '/slow?ms=1200');
    const other = (await admin.control.createApiKey({ accountId: 'acct-other' })).key;
    const foreign = await request(statusUrl(west, reqId), { headers: { authorization: `Bearer ${other}` } });
    await foreign.body.dump();
    assert.equal(foreign.statusCode, 404);
    const mine = await request(statusUrl(west, reqId), { headers: { ...auth(), 'nvcf-poll-seconds': '10' } });
    assert.equal(mine.statusCode, 200);
    await mine.body.dump();
  });

  test('H9: a region whose invocation service does not answer makes a miss 503, not 404', async () => {
    const west = invocations.get(WEST) as RegionInvocation;
    await invocations.get(EAST)?.stop();
    const started = Date.now();
    const res = await request(statusUrl(west, '3c9a7b1e-52d4-4f0a-8b6c-1d2e3f4a5b6c'), { headers: auth() });
    const problem = (await res.body.json()) as { code: string };
    assert.equal(res.statusCode, 503);
    assert.equal(problem.code, 'SY_RESULT_STORE_UNAVAILABLE');
    assert.ok(Date.now() - started < REMOTE_TIMEOUT_MS + 1_500, 'no hang');
  });
});
