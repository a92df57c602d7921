// The stack of `npm run bench -- regions`: a NATS supercluster (testkit, in the bench process) whose
// gateway links run through delaying TCP relays, a gRPC proxy per region, one worker and one echo
// container in the first region. By default every service is its own OS process, started from its
// `main.ts` with SWITCHYARD_* environment as `switchyard dev --regions` does, so the tails measured
// are Switchyard's and not those of one shared event loop; `inProcess` runs them in the bench's own
// process (test/regions-stack.ts), the way the bench did first, for comparison.

import { mkdirSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import {
  freePort,
  type NatsSuperclusterHandle,
  type StartNatsSuperclusterOptions,
  startNatsSupercluster,
  startTcpRelay,
  type TcpRelayHandle,
} from '@switchyard/testkit';
import { RegionsStack, STACK_HEARTBEAT_MS } from '../../test/regions-stack.ts';
import { type BenchChild, nodeBinary, spawnChild } from './child.ts';

/** Entry points the multi-process stack runs (relative to the repository root). */
export const REGIONS_ENTRIES = {
  proxy: 'services/grpc-proxy/src/main.ts',
  worker: 'services/worker/src/main.ts',
  samples: 'packages/sample-functions/src/main.ts',
} as const;

/** Account owning the bench's function and API key. */
export const REGIONS_ACCOUNT = 'acct-regions';

/**
 * How long a session the worker holds outlives its last client connection, ms. Longer than the
 * default 30 s so that sessions created before the measurement are still there at its end with many
 * samples (the value changes nothing on the resume path).
 */
export const REGIONS_RECONNECT_WINDOW_MS = 600_000;

/** Options of {@link startRegionsBenchStack}. */
export interface RegionsBenchStackOptions {
  /** Region names; the worker and container live in the first. */
  regions: [string, string, ...string[]];
  /** One-way delay of every gateway link, each direction, ms. */
  delayMs: number;
  /** Worker max concurrency (sessions it holds at once). */
  concurrency: number;
  /** Budget of a proxy's lookup in the other regions' buckets (G15), ms. */
  remoteLookupTimeoutMs: number;
  /** Run proxies, worker and container in this process (the old mode). @default false */
  inProcess?: boolean;
  /** Extra node flags of the proxy children (e.g. `--cpu-prof`, `--import <preload>`). */
  proxyNodeFlags?: string[];
  /** Extra node flags of the worker child. */
  workerNodeFlags?: string[];
  /** Log level of the children. @default 'warn' */
  logLevel?: string;
}

/** The running stack, whichever mode. */
export interface RegionsBenchStack {
  mode: 'processes' | 'in-process';
  nats: NatsSuperclusterHandle;
  /** Client URLs of a region's NATS cluster. */
  urls(region: string): string[];
  /** `127.0.0.1:<port>` of a region's proxy client listener. */
  proxyAddress(region: string): string;
  /** `127.0.0.1:<port>` of the echo container (for a direct call, no Switchyard on the path). */
  containerAddress: string;
  /** gRPC metadata of every call (`authorization`, `function-id`). */
  metadata: Record<string, string>;
  /** Child processes by name (empty in process). */
  children: BenchChild[];
  /** Stops everything started, children first, then relays and the supercluster. Idempotent. */
  stop(): Promise<void>;
}

/** A `gatewayAddresses` hook that puts a delaying relay in front of every gateway port. */
function relayedGateways(
  relays: TcpRelayHandle[],
  delayMs: number,
): NonNullable<StartNatsSuperclusterOptions['gatewayAddresses']> {
  return async (_region, ports) => {
    const out: string[] = [];
    for (const port of ports) {
      const relay = await startTcpRelay({ targetPort: port, delayMs });
      relays.push(relay);
      out.push(`127.0.0.1:${relay.port}`);
    }
    return out;
  };
}

/** Starts the stack; on failure stops whatever had started before throwing. */
export async function startRegionsBenchStack(options: RegionsBenchStackOptions): Promise<RegionsBenchStack> {
  return options.inProcess ? startInProcess(options) : startProcesses(options);
}

async function startInProcess(options: RegionsBenchStackOptions): Promise<RegionsBenchStack> {
  const relays: TcpRelayHandle[] = [];
  const [home, ...others] = options.regions;
  let stack: RegionsStack | undefined;
  const stop = async () => {
    await stack?.stop().catch(() => undefined);
    for (const relay of relays.splice(0)) await relay.stop();
  };
  try {
    stack = await RegionsStack.start({
      regions: options.regions,
      gatewayAddresses: relayedGateways(relays, options.delayMs),
    });
    const fn = await stack.addFunction({ name: 'echo' });
    const worker = await stack.addWorker(home, fn, {
      concurrency: options.concurrency,
      reconnectWindowMs: REGIONS_RECONNECT_WINDOW_MS,
    });
    const addresses = new Map<string, string>();
    for (const region of [home, ...others]) {
      const proxy = await stack.addProxy(region, { remoteLookupTimeoutMs: options.remoteLookupTimeoutMs });
      addresses.set(region, proxy.address);
    }
    const started = stack;
    return {
      mode: 'in-process',
      nats: started.nats,
      urls: (region) => started.urls(region),
      proxyAddress: (region) => addresses.get(region) as string,
      containerAddress: `127.0.0.1:${worker.container.port}`,
      metadata: started.metadata(fn),
      children: [],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts `start()` for each item at once; if any fails, stops those that started and rethrows. */
async function spawnAll(starts: (() => Promise<BenchChild>)[], into: BenchChild[]): Promise<BenchChild[]> {
  const results = await Promise.allSettled(starts.map((s) => s()));
  const ok = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  into.push(...ok);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return ok;
}

async function startProcesses(options: RegionsBenchStackOptions): Promise<RegionsBenchStack> {
  const relays: TcpRelayHandle[] = [];
  const children: BenchChild[] = [];
  const [home] = options.regions;
  let nats: NatsSuperclusterHandle | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Worker first (it deletes its sessions and closes its tunnels), then proxies and container.
    const order = [...children].sort(
      (a, b) => Number(b.name.startsWith('worker')) - Number(a.name.startsWith('worker')),
    );
    for (const child of order) await child.stop().catch(() => undefined);
    await nats?.stop().catch(() => undefined);
    for (const relay of relays.splice(0)) await relay.stop();
  };
  try {
    nats = await startNatsSupercluster({
      regions: options.regions,
      size: 1,
      gatewayAddresses: relayedGateways(relays, options.delayMs),
    });
    const cluster = nats;
    const urls = (region: string) => cluster.clusters[region].urls;

    // Control data from here, in the home region (its buckets are created there, as the first
    // region's API does in the dev stack); every proxy reads it through its own region.
    const nc = await connect({ servers: urls(home) });
    let functionId: string;
    let versionId: string;
    let apiKey: string;
    try {
      const control = await ControlStore.open(nc);
      const { fn, version } = await control.createFunction({ accountId: REGIONS_ACCOUNT, name: 'echo', kind: 'grpc' });
      ({ key: apiKey } = await control.createApiKey({ accountId: REGIONS_ACCOUNT }));
      await control.close();
      functionId = fn.functionId;
      versionId = version.versionId;
    } finally {
      await nc.close();
    }

    const node = nodeBinary();
    const logLevel = options.logLevel ?? 'warn';
    const heartbeat = String(STACK_HEARTBEAT_MS);
    const proxyPorts = new Map<string, { port: number; callbackPort: number }>();
    for (const region of options.regions)
      proxyPorts.set(region, { port: await freePort(), callbackPort: await freePort() });
    for (const flag of [...(options.proxyNodeFlags ?? []), ...(options.workerNodeFlags ?? [])]) {
      const dir = /^--cpu-prof-dir=(.+)$/.exec(flag)?.[1];
      if (dir) mkdirSync(dir, { recursive: true });
    }
    const [container] = await spawnAll(
      [
        () =>
          spawnChild('echo-container', node, [
            REGIONS_ENTRIES.samples,
            'echo',
            '--port',
            '0',
            '--host',
            '127.0.0.1',
            '--instance-id',
            'bench-regions-echo',
          ]),
        ...options.regions.map((region) => () => {
          const { port, callbackPort } = proxyPorts.get(region) as { port: number; callbackPort: number };
          return spawnChild(`grpc-proxy-${region}`, node, [...(options.proxyNodeFlags ?? []), REGIONS_ENTRIES.proxy], {
            env: {
              SWITCHYARD_REGION: region,
              SWITCHYARD_NATS_SERVERS: urls(region).join(','),
              SWITCHYARD_LOG_LEVEL: logLevel,
              SWITCHYARD_METRICS_PORT: '0',
              SWITCHYARD_HOST: '127.0.0.1',
              SWITCHYARD_PORT: String(port),
              SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
              SWITCHYARD_CALLBACK_PORT: String(callbackPort),
              SWITCHYARD_CALLBACK_URI: `http://127.0.0.1:${callbackPort}`,
              SWITCHYARD_REMOTE_REGIONS: options.regions.filter((r) => r !== region).join(','),
              SWITCHYARD_REMOTE_LOOKUP_TIMEOUT_MS: String(options.remoteLookupTimeoutMs),
              SWITCHYARD_HEARTBEAT_INTERVAL_MS: heartbeat,
            },
          });
        }),
      ],
      children,
    );
    await spawnAll(
      [
        () =>
          spawnChild(
            `worker-${home}`,
            node,
            [...SERVICE_NODE_OPTIONS.worker, ...(options.workerNodeFlags ?? []), REGIONS_ENTRIES.worker],
            {
              env: {
                SWITCHYARD_REGION: home,
                SWITCHYARD_NATS_SERVERS: urls(home).join(','),
                SWITCHYARD_LOG_LEVEL: logLevel,
                SWITCHYARD_METRICS_PORT: '0',
                SWITCHYARD_FUNCTION_ID: functionId,
                SWITCHYARD_VERSION_ID: versionId,
                SWITCHYARD_UPSTREAM: `grpc://127.0.0.1:${container.ready.port}`,
                SWITCHYARD_CONCURRENCY: String(options.concurrency),
                // Every region's proxies are on loopback: a resume through another region is dialled back (G15).
                SWITCHYARD_CALLBACK_ALLOW_LIST: 'http://127.0.0.1:',
                SWITCHYARD_RECONNECT_WINDOW_MS: String(REGIONS_RECONNECT_WINDOW_MS),
                SWITCHYARD_TICKET_PULL_EXPIRES_MS: '1000',
                SWITCHYARD_HEARTBEAT_INTERVAL_MS: heartbeat,
              },
            },
          ),
      ],
      children,
    );
    return {
      mode: 'processes',
      nats: cluster,
      urls,
      proxyAddress: (region) => `127.0.0.1:${proxyPorts.get(region)?.port}`,
      containerAddress: `127.0.0.1:${container.ready.port}`,
      metadata: { authorization: `Bearer ${apiKey}`, 'function-id': functionId },
      children,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
