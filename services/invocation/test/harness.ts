// Test harness: one real region in-process (nats-server, redis-server, control store, invocation
// service replicas, workers with an HTTP upstream, and a small node:http container). Every part is
// the real one; nothing is mocked.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { InvocationConfigSchema, InvocationService } from '@switchyard/invocation';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger, FrontEndMetrics, startTelemetry, type Telemetry } from '@switchyard/telemetry';
import { type NatsServerHandle, type RedisHandle, startNats, startRedis } from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker, WorkerConfigSchema } from '@switchyard/worker';
import { Redis } from 'ioredis';

export interface HarnessInvocation {
  service: InvocationService;
  port: number;
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** `http://127.0.0.1:<port>/metrics` of its telemetry, when started with `{ metrics: true }`. */
  metricsUrl?: string;
  /** The replica's own control store (its copy of functions, versions and API keys). */
  control: ControlStore;
  stop(): Promise<void>;
}

export interface HarnessWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/** What the test container saw: requests by path, and requests whose client went away. */
export interface ContainerLog {
  seen: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  aborted: string[];
}

/** A small HTTP function container with endpoints for every contract line. */
export interface TestContainer {
  port: number;
  url: string;
  log: ContainerLog;
  close(): Promise<void>;
}

/** Deterministic bytes for downloads (pattern repeats every 251 bytes). */
export function patternBuffer(size: number, offset = 0): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (offset + i) % 251;
  return b;
}

/**
 * Starts the test container on a free port. Endpoints:
 * `/echo` JSON {method, path, query, headers, body}; `/upload` {sha256, bytes} of the body (streamed);
 * `/download?bytes=N[&delayMs=M]` N pattern bytes (with backpressure), after M ms; `/sse?n=N&intervalMs=M` N events, one every M ms,
 * each `data: {"i":k,"t":<epoch ms>}`; `/slow?ms=N` answers after N ms; `/hang` never answers (records
 * the abort); `/status?code=N` answers N with a JSON body; anything else echoes like `/echo`.
 */
export async function startTestContainer(): Promise<TestContainer> {
  const log: ContainerLog = { seen: [], aborted: [] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://container');
    log.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.on('close', () => {
      if (!res.writableFinished) log.aborted.push(url.pathname);
    });
    switch (url.pathname) {
      case '/upload': {
        const hash = createHash('sha256');
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ sha256: hash.digest('hex'), bytes }));
        });
        return;
      }
      case '/download': {
        const total = Number(url.searchParams.get('bytes') ?? '0');
        const delayMs = Number(url.searchParams.get('delayMs') ?? '0');
        if (delayMs > 0 && !url.searchParams.has('delayed')) {
          req.resume();
          const timer = setTimeout(() => {
            url.searchParams.set('delayed', '1');
            req.url = `${url.pathname}?${url.searchParams}`;
            server.emit('request', req, res);
          }, delayMs);
          res.on('close', () => clearTimeout(timer));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(total) });
        const chunk = 64 * 1024;
        let sent = 0;
        const pump = () => {
          while (sent < total) {
            const n = Math.min(chunk, total - sent);
            const ok = res.write(patternBuffer(n, sent));
            sent += n;
            if (!ok) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
        return;
      }
      case '/sse': {
        const n = Number(url.searchParams.get('n') ?? '5');
        const every = Number(url.searchParams.get('intervalMs') ?? '50');
        req.resume();
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let i = 0;
        const timer = setInterval(() => {
          res.write(`data: ${JSON.stringify({ i, t: Date.now() })}\n\n`);
          if (++i >= n) {
            clearInterval(timer);
            res.end('data: [DONE]\n\n');
          }
        }, every);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/slow': {
        req.resume();
        const ms = Number(url.searchParams.get('ms') ?? '1000');
        const timer = setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ slept: ms }));
        }, ms);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      case '/hang':
        req.resume();
        return;
      case '/status': {
        req.resume();
        const code = Number(url.searchParams.get('code') ?? '200');
        res.writeHead(code, { 'content-type': 'application/json', 'x-container': 'yes' });
        res.end(JSON.stringify({ error: 'invalid datatype for input message', code }));
        return;
      }
      default: {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
          res.end(
            JSON.stringify({
              method: req.method,
              path: url.pathname,
              query: Object.fromEntries(url.searchParams),
              headers: req.headers,
              body,
            }),
          );
        });
      }
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    log,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** One region: NATS, Redis, control data with an HTTP function, API key; services added on demand. */
export class InvocationHarness {
  readonly region = 'test';
  readonly accountId = 'acct-http';
  nats!: NatsServerHandle;
  redis!: RedisHandle;
  nc!: NatsConnection;
  control!: ControlStore;
  functionId = '';
  versionId = '';
  apiKey = '';
  apiKeyId = '';
  container!: TestContainer;
  readonly invocations: HarnessInvocation[] = [];
  readonly workers: HarnessWorker[] = [];
  readonly #logger = createLogger({ service: 'test', level: process.env.SWITCHYARD_LOG_LEVEL ?? 'silent' });

  /** Starts NATS, Redis and the container; creates an HTTP function (inference URL `/echo`) and a key. */
  async start(): Promise<this> {
    [this.nats, this.redis] = await Promise.all([startNats(), startRedis()]);
    this.nc = await connect({ servers: this.nats.url });
    this.control = await ControlStore.open(this.nc);
    const { fn, version } = await this.control.createFunction({
      accountId: this.accountId,
      name: 'http-echo',
      kind: 'http',
      inferenceUrl: '/echo',
    });
    this.functionId = fn.functionId;
    this.versionId = version.versionId;
    const key = await this.control.createApiKey({ accountId: this.accountId });
    this.apiKey = key.key;
    this.apiKeyId = key.record.keyId;
    this.container = await startTestContainer();
    return this;
  }

  /** Creates another HTTP function (default: this account) with one deployed version. */
  async addFunction(options: { accountId?: string; inferenceUrl?: string } = {}) {
    const { fn, version } = await this.control.createFunction({
      accountId: options.accountId ?? this.accountId,
      name: 'extra',
      kind: 'http',
      inferenceUrl: options.inferenceUrl ?? '/echo',
    });
    return { functionId: fn.functionId, versionId: version.versionId };
  }

  /**
   * Starts an invocation service replica with its own NATS and Redis connections; with
   * `options.metrics`, also its telemetry (a real Prometheus endpoint on an ephemeral loopback port) and
   * front-end metrics, as main.ts wires them. `options.natsUrl`: the server its NATS connection dials
   * (default the harness server), e.g. a delaying relay in front of it, to slow its control store's
   * catch-ups.
   */
  async addInvocation(
    overrides: Record<string, unknown> = {},
    options: { metrics?: boolean; natsUrl?: string } = {},
  ): Promise<HarnessInvocation> {
    const config = loadConfig(InvocationConfigSchema, {
      service: 'invocation',
      env: {},
      overrides: {
        region: this.region,
        natsServers: [this.nats.url],
        redisUrl: this.redis.url,
        host: '127.0.0.1',
        port: 0,
        callbackHost: '127.0.0.1',
        callbackPort: 0,
        drainTimeoutMs: 500,
        ...overrides,
      },
    });
    const nc = await connect({ servers: options.natsUrl ?? this.nats.url });
    const control = await ControlStore.open(nc);
    const queue = await TicketQueue.open(nc, { region: this.region });
    const redis = new Redis(this.redis.url, { maxRetriesPerRequest: 1 });
    let telemetry: Telemetry | undefined;
    let metrics: FrontEndMetrics | undefined;
    if (options.metrics) {
      telemetry = await startTelemetry({
        service: 'invocation',
        region: this.region,
        instanceId: config.instanceId,
        metricsPort: 0,
      });
      metrics = new FrontEndMetrics(telemetry.meter, { service: 'invocation', catalogue: control });
    }
    const service = new InvocationService(config, { nc, control, queue, redis, logger: this.#logger, metrics });
    const { port } = await service.listen();
    const handle: HarnessInvocation = {
      service,
      port,
      url: `http://127.0.0.1:${port}`,
      metricsUrl: telemetry?.metricsUrl,
      control,
      stop: async () => {
        await service.close().catch(() => undefined);
        metrics?.close();
        await telemetry?.shutdown().catch(() => undefined);
        await control.close().catch(() => undefined);
        await nc.close().catch(() => undefined);
        redis.disconnect();
      },
    };
    this.invocations.push(handle);
    return handle;
  }

  /**
   * Starts a worker for `versionId` (default: the harness function) in front of `upstream`, connected
   * to NATS at `natsUrl` (default: the harness server).
   */
  async addWorker(
    overrides: Record<string, unknown> = {},
    target: { functionId?: string; versionId?: string; upstream?: string; natsUrl?: string } = {},
  ): Promise<HarnessWorker> {
    const config = loadConfig(WorkerConfigSchema, {
      service: 'worker',
      env: {},
      overrides: {
        region: this.region,
        natsServers: [this.nats.url],
        functionId: target.functionId ?? this.functionId,
        versionId: target.versionId ?? this.versionId,
        upstream: target.upstream ?? this.container.url,
        concurrency: 8,
        ticketPullExpiresMs: 1_000,
        ...overrides,
      },
    });
    // natsUrl: e.g. a delaying relay in front of the server, to slow this worker's pulls.
    const nc = await connect({ servers: target.natsUrl ?? this.nats.url });
    const directory = await SessionDirectory.open(nc, { region: this.region, timeoutMs: 1_000 });
    const queue = await TicketQueue.open(nc, { region: this.region });
    const worker = new Worker(config, { nc, directory, queue, logger: this.#logger });
    await worker.start();
    const handle: HarnessWorker = {
      worker,
      stop: async () => {
        await worker.stop().catch(() => undefined);
        await nc.close().catch(() => undefined);
      },
    };
    this.workers.push(handle);
    return handle;
  }

  /** `<function-id>.invocation.<address>` Host of the product page for `inv`. */
  host(inv: HarnessInvocation, functionId = this.functionId): string {
    return `${functionId}.invocation.127.0.0.1:${inv.port}`;
  }

  async stop(): Promise<void> {
    for (const w of this.workers.splice(0)) await w.stop();
    for (const i of this.invocations.splice(0)) await i.stop();
    await this.container?.close().catch(() => undefined);
    await this.control?.close().catch(() => undefined);
    await this.nc?.close().catch(() => undefined);
    await this.redis?.stop().catch(() => undefined);
    await this.nats?.stop().catch(() => undefined);
  }
}

/** RSS in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}
