// Several real regions in one process for the cross-region suites and `npm run bench -- regions`: a
// nats-server supercluster (one cluster per region, gateways, optionally through delaying relays),
// and per region gRPC proxies (remote session lookup, region health, spill-over) and workers with
// echo containers, each beating its heartbeat like main.ts does. Nothing is mocked.

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '@switchyard/config';
import { ControlStore, controlFreshnessOptions } from '@switchyard/control-store';
import { GrpcProxy, openRemoteDirectories, ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { HeartbeatPublisher, RegionHealthView } from '@switchyard/region-health';
import { type SampleServerHandle, startEchoServer } from '@switchyard/sample-functions';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger, FrontEndMetrics, startTelemetry, type Telemetry } from '@switchyard/telemetry';
import {
  type NatsSuperclusterHandle,
  type StartNatsSuperclusterOptions,
  startNatsSupercluster,
} from '@switchyard/testkit';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker, WorkerConfigSchema } from '@switchyard/worker';

/** Heartbeat interval of every instance of the stack, ms (short, so spill-over sees capacity quickly). */
export const STACK_HEARTBEAT_MS = 300;

const logger = createLogger({ service: 'test', level: process.env.SWITCHYARD_LOG_LEVEL ?? 'silent' });

/** A function created in the stack's control data. */
export interface StackFunction {
  functionId: string;
  versionId: string;
}

/** One proxy of a region. */
export interface StackProxy {
  region: string;
  proxy: GrpcProxy;
  nc: NatsConnection;
  address: string;
  /** `http://127.0.0.1:<port>/metrics` of its telemetry, when started with `{ metrics: true }`. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

/** One worker (with its echo container) of a region. */
export interface StackWorker {
  region: string;
  worker: Worker;
  container: SampleServerHandle;
  stop(): Promise<void>;
}

/** Options of {@link RegionsStack.start}. */
export interface RegionsStackOptions {
  regions: string[];
  /** Servers per region. @default 1 */
  size?: number;
  /** See StartNatsSuperclusterOptions.gatewayAddresses (relays on the gateway links). */
  gatewayAddresses?: StartNatsSuperclusterOptions['gatewayAddresses'];
}

/** A supercluster with the control data (one API key, an echo function) written in the first region. */
export class RegionsStack {
  readonly regions: string[];
  readonly accountId = 'acct-regions';
  nats!: NatsSuperclusterHandle;
  admin!: { nc: NatsConnection; control: ControlStore };
  apiKey = '';
  readonly proxies: StackProxy[] = [];
  readonly workers: StackWorker[] = [];

  private constructor(regions: string[]) {
    this.regions = regions;
  }

  /** Starts the supercluster and opens the control store in the first (home) region. */
  static async start(options: RegionsStackOptions): Promise<RegionsStack> {
    const stack = new RegionsStack(options.regions);
    stack.nats = await startNatsSupercluster({
      regions: options.regions,
      size: options.size ?? 1,
      gatewayAddresses: options.gatewayAddresses,
    });
    const nc = await connect({ servers: stack.urls(options.regions[0]) });
    const control = await ControlStore.open(nc);
    stack.admin = { nc, control };
    stack.apiKey = (await control.createApiKey({ accountId: stack.accountId })).key;
    return stack;
  }

  /** Client URLs of a region's cluster. */
  urls(region: string): string[] {
    return this.nats.clusters[region].urls;
  }

  /** Creates a gRPC function with one deployed version. */
  async addFunction(
    options: { spillPolicy?: 'local-only' | 'spill-over'; name?: string } = {},
  ): Promise<StackFunction> {
    const { fn, version } = await this.admin.control.createFunction({
      accountId: this.accountId,
      name: options.name ?? 'echo',
      kind: 'grpc',
      ...(options.spillPolicy ? { spillPolicy: options.spillPolicy } : {}),
    });
    return { functionId: fn.functionId, versionId: version.versionId };
  }

  /** gRPC metadata (G1) for `fn`. */
  metadata(fn: StackFunction, extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.apiKey}`, 'function-id': fn.functionId, ...extra };
  }

  /**
   * Starts a gRPC proxy in `region` that looks sessions up in every other region of the stack (G15)
   * and sees every region's heartbeats (spill-over); with `options.metrics`, also its telemetry (a real
   * Prometheus endpoint on an ephemeral loopback port) and front-end metrics, as main.ts wires them.
   */
  async addProxy(
    region: string,
    overrides: Record<string, unknown> = {},
    options: { metrics?: boolean } = {},
  ): Promise<StackProxy> {
    const remoteRegions = this.regions.filter((r) => r !== region);
    const config = loadConfig(ProxyConfigSchema, {
      service: 'grpc-proxy',
      env: {},
      overrides: {
        region,
        natsServers: this.urls(region),
        host: '127.0.0.1',
        port: 0,
        callbackHost: '127.0.0.1',
        callbackPort: 0,
        remoteRegions,
        heartbeatIntervalMs: STACK_HEARTBEAT_MS,
        ...overrides,
      },
    });
    const nc = await connect({ servers: this.urls(region), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const control = await ControlStore.open(nc, { create: false, ...controlFreshnessOptions(config) });
    const directory = await SessionDirectory.open(nc, { region, timeoutMs: 1_000 });
    const queue = await TicketQueue.open(nc, { region });
    const remoteDirectories = await openRemoteDirectories(nc, remoteRegions, region, config.remoteLookupTimeoutMs);
    const health = await RegionHealthView.start(nc);
    let telemetry: Telemetry | undefined;
    let metrics: FrontEndMetrics | undefined;
    if (options.metrics) {
      telemetry = await startTelemetry({ service: 'grpc-proxy', region, instanceId: config.proxyId, metricsPort: 0 });
      metrics = new FrontEndMetrics(telemetry.meter, { service: 'grpc-proxy', catalogue: control });
    }
    const proxy = new GrpcProxy(config, {
      nc,
      control,
      directory,
      queue,
      logger,
      remoteDirectories,
      health,
      metrics,
    });
    const { port } = await proxy.listen();
    const heartbeat = new HeartbeatPublisher(nc, {
      region,
      kind: 'grpc-proxy',
      instanceId: config.proxyId,
      intervalMs: STACK_HEARTBEAT_MS,
    });
    heartbeat.start();
    const handle: StackProxy = {
      region,
      proxy,
      nc,
      address: `127.0.0.1:${port}`,
      metricsUrl: telemetry?.metricsUrl,
      stop: async () => {
        await heartbeat.stop();
        await proxy.close().catch(() => undefined);
        metrics?.close();
        await telemetry?.shutdown().catch(() => undefined);
        health.stop();
        await control.close().catch(() => undefined);
        await nc.close().catch(() => undefined);
      },
    };
    this.proxies.push(handle);
    return handle;
  }

  /** Starts an echo container and a worker for `fn` in `region`, beating its free capacity. */
  async addWorker(region: string, fn: StackFunction, overrides: Record<string, unknown> = {}): Promise<StackWorker> {
    const container = await startEchoServer({ port: 0 });
    const config = loadConfig(WorkerConfigSchema, {
      service: 'worker',
      env: {},
      overrides: {
        region,
        natsServers: this.urls(region),
        functionId: fn.functionId,
        versionId: fn.versionId,
        upstream: `grpc://127.0.0.1:${container.port}`,
        ticketPullExpiresMs: 1_000,
        concurrency: 64,
        ...overrides,
      },
    });
    const nc = await connect({ servers: this.urls(region), maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    const directory = await SessionDirectory.open(nc, { region, ttlMs: config.sessionTtlMs, timeoutMs: 1_000 });
    const queue = await TicketQueue.open(nc, { region });
    const worker = new Worker(config, { nc, directory, queue, logger });
    await worker.start();
    const heartbeat = new HeartbeatPublisher(nc, {
      region,
      kind: 'worker',
      instanceId: config.workerId,
      intervalMs: STACK_HEARTBEAT_MS,
      collect: () => ({ versionId: config.versionId, freeCapacity: worker.freeCapacity }),
    });
    heartbeat.start();
    const handle: StackWorker = {
      region,
      worker,
      container,
      stop: async () => {
        await heartbeat.stop();
        await worker.stop().catch(() => undefined);
        await nc.close().catch(() => undefined);
        await container.stop().catch(() => undefined);
      },
    };
    this.workers.push(handle);
    return handle;
  }

  /** Stops everything (proxies, workers, control store, supercluster). */
  async stop(): Promise<void> {
    for (const p of this.proxies) await p.stop();
    for (const w of this.workers) await w.stop();
    await this.admin?.control.close().catch(() => undefined);
    await this.admin?.nc.close().catch(() => undefined);
    await this.nats?.stop();
  }
}
