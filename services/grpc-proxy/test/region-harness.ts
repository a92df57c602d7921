// Test harness: one real region in-process (nats-server, control store, gRPC proxies, workers,
// echo containers) on free loopback ports. Every part is the real one; nothing is mocked.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { GrpcProxy, type GrpcProxyDeps, ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { loadEchoClient, type SampleServerHandle, startEchoServer } from '@switchyard/sample-functions';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger, FrontEndMetrics, startTelemetry, type Telemetry } from '@switchyard/telemetry';
import { type NatsServerHandle, startNats } from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker, WorkerConfigSchema } from '@switchyard/worker';

export interface HarnessProxy {
  proxy: GrpcProxy;
  nc: NatsConnection;
  port: number;
  address: string;
  callbackPort: number;
  /** `http://127.0.0.1:<port>/metrics` of its telemetry, when started with `{ metrics: true }`. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

/** A function of the harness's control store with one deployed version. */
export interface HarnessFunction {
  functionId: string;
  versionId: string;
  accountId: string;
}

export interface HarnessWorker {
  worker: Worker;
  nc: NatsConnection;
  stop(): Promise<void>;
}

export class RegionHarness {
  readonly region: string;
  nats!: NatsServerHandle;
  nc!: NatsConnection;
  control!: ControlStore;
  functionId = '';
  versionId = '';
  apiKey = '';
  /** keyId of {@link RegionHarness.apiKey} (for revokeApiKey). */
  apiKeyId = '';
  readonly accountId = 'acct-test';
  readonly proxies: HarnessProxy[] = [];
  readonly workers: HarnessWorker[] = [];
  readonly containers: SampleServerHandle[] = [];
  readonly #logger = createLogger({ service: 'test', level: process.env.SWITCHYARD_LOG_LEVEL ?? 'silent' });

  constructor(region = 'test') {
    this.region = region;
  }

  /** Starts nats-server and creates an echo function with one deployed version and an API key. */
  async start(options: { nats?: NatsServerHandle; reconnectWindowMs?: number } = {}): Promise<this> {
    this.nats = options.nats ?? (await startNats());
    this.nc = await connect({ servers: this.nats.url });
    this.control = await ControlStore.open(this.nc);
    const { fn, version } = await this.control.createFunction({
      accountId: this.accountId,
      name: 'echo',
      kind: 'grpc',
      reconnectWindowMs: options.reconnectWindowMs,
    });
    this.functionId = fn.functionId;
    this.versionId = version.versionId;
    const key = await this.control.createApiKey({ accountId: this.accountId });
    this.apiKey = key.key;
    this.apiKeyId = key.record.keyId;
    return this;
  }

  /** Creates another gRPC function (default: same account) with one deployed version; no worker serves it. */
  async addFunction(
    options: { accountId?: string; reconnectWindowMs?: number; name?: string } = {},
  ): Promise<HarnessFunction> {
    const accountId = options.accountId ?? this.accountId;
    const { fn, version } = await this.control.createFunction({
      accountId,
      name: options.name ?? 'extra',
      kind: 'grpc',
      reconnectWindowMs: options.reconnectWindowMs,
    });
    return { functionId: fn.functionId, versionId: version.versionId, accountId };
  }

  /** Creates an API key (default: this account, every function); resolves with the key string and its id. */
  async addApiKey(
    options: { accountId?: string; functions?: string[] | '*' } = {},
  ): Promise<{ key: string; keyId: string }> {
    const { key, record } = await this.control.createApiKey({
      accountId: options.accountId ?? this.accountId,
      functions: options.functions,
    });
    return { key, keyId: record.keyId };
  }

  /**
   * Starts one gRPC proxy replica with its own NATS connection; with `options.metrics`, also its
   * telemetry (a real Prometheus endpoint on an ephemeral loopback port) and front-end metrics, as main.ts wires them.
   */
  async addProxy(
    overrides: Record<string, unknown> = {},
    deps: Partial<Pick<GrpcProxyDeps, 'rateLimiter'>> = {},
    options: { metrics?: boolean } = {},
  ): Promise<HarnessProxy> {
    const config = loadConfig(ProxyConfigSchema, {
      service: 'grpc-proxy',
      env: {},
      overrides: {
        region: this.region,
        natsServers: [this.nats.url],
        host: '127.0.0.1',
        port: 0,
        callbackHost: '127.0.0.1',
        callbackPort: 0,
        ...overrides,
      },
    });
    const nc = await connect({ servers: this.nats.url });
    const control = await ControlStore.open(nc);
    const directory = await SessionDirectory.open(nc, { region: this.region, timeoutMs: 1_000 });
    const queue = await TicketQueue.open(nc, { region: this.region });
    let telemetry: Telemetry | undefined;
    let metrics: FrontEndMetrics | undefined;
    if (options.metrics) {
      telemetry = await startTelemetry({
        service: 'grpc-proxy',
        region: this.region,
        instanceId: config.proxyId,
        metricsPort: 0,
      });
      metrics = new FrontEndMetrics(telemetry.meter, { service: 'grpc-proxy', catalogue: control });
    }
    const proxy = new GrpcProxy(config, { nc, control, directory, queue, logger: this.#logger, metrics, ...deps });
    const { port, callbackPort } = await proxy.listen();
    const handle: HarnessProxy = {
      proxy,
      nc,
      port,
      callbackPort,
      address: `127.0.0.1:${port}`,
      metricsUrl: telemetry?.metricsUrl,
      stop: async () => {
        await proxy.close().catch(() => undefined);
        metrics?.close();
        await telemetry?.shutdown().catch(() => undefined);
        await control.close().catch(() => undefined);
        await nc.close().catch(() => undefined);
      },
    };
    this.proxies.push(handle);
    return handle;
  }

  /** Starts an echo container and a worker in front of it. */
  async addWorker(
    overrides: Record<string, unknown> = {},
    container?: SampleServerHandle,
  ): Promise<HarnessWorker & { container: SampleServerHandle }> {
    const echo = container ?? (await startEchoServer({ port: 0 }));
    if (!container) this.containers.push(echo);
    const config = loadConfig(WorkerConfigSchema, {
      service: 'worker',
      env: {},
      overrides: {
        region: this.region,
        natsServers: [this.nats.url],
        functionId: this.functionId,
        versionId: this.versionId,
        upstream: `grpc://127.0.0.1:${echo.port}`,
        ticketPullExpiresMs: 1_000,
        ...overrides,
      },
    });
    const nc = await connect({ servers: config.natsServers });
    const control = await ControlStore.open(nc);
    const directory = await SessionDirectory.open(nc, {
      region: this.region,
      ttlMs: config.sessionTtlMs,
      timeoutMs: 1_000,
    });
    const queue = await TicketQueue.open(nc, { region: this.region });
    const worker = new Worker(config, {
      nc,
      directory,
      queue,
      logger: this.#logger,
      functionReconnectWindowMs: () => control.getFunction(config.functionId)?.reconnectWindowMs,
    });
    await worker.start();
    const handle = {
      worker,
      nc,
      container: echo,
      stop: async () => {
        await worker.stop().catch(() => undefined);
        await control.close().catch(() => undefined);
        await nc.close().catch(() => undefined);
      },
    };
    this.workers.push(handle);
    return handle;
  }

  /** gRPC metadata of the contract (G1) for this harness's function (or `fn`) and key. */
  metadata(extra: Record<string, string> = {}, fn?: Pick<HarnessFunction, 'functionId'>): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, 'function-id': fn?.functionId ?? this.functionId, ...extra };
  }

  /** An echo client to `proxy` (default: the first). */
  client(proxy: HarnessProxy = this.proxies[0]) {
    return loadEchoClient(proxy.address);
  }

  async stop(): Promise<void> {
    for (const p of this.proxies) await p.stop();
    for (const w of this.workers) await w.stop();
    for (const c of this.containers) await c.stop().catch(() => undefined);
    await this.control?.close().catch(() => undefined);
    await this.nc?.close().catch(() => undefined);
    await this.nats?.stop();
  }
}
