// The stack of `npm run bench -- regions`: a NATS supercluster (testkit, in the bench process) whose
// gateway links run through delaying TCP relays, a gRPC proxy per region, one worker and one echo
// container in the first region. By default every service is its own OS process, started by
// @switchyard/region-launcher as `switchyard dev --regions` is, so the tails measured
// are Switchyard's and not those of one shared event loop; `inProcess` runs them in the bench's own
// process (test/regions-stack.ts), the way the bench did first, for comparison.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { type StartNatsSuperclusterOptions, startTcpRelay, type TcpRelayHandle } from '@switchyard/testkit';
import { RegionsStack, STACK_HEARTBEAT_MS } from '../../test/regions-stack.ts';
import { REPO_ROOT } from './child.ts';

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
  /** Pids of every nats-server. */
  natsPids(): number[];
  /** Client URLs of a region's NATS cluster. */
  urls(region: string): string[];
  /** `127.0.0.1:<port>` of a region's proxy client listener. */
  proxyAddress(region: string): string;
  /** `127.0.0.1:<port>` of the echo container (for a direct call, no Switchyard on the path). */
  containerAddress: string;
  /** gRPC metadata of every call (`authorization`, `function-id`). */
  metadata: Record<string, string>;
  /** Child processes by name (empty in process). */
  children: LaunchedChild[];
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
      natsPids: () =>
        Object.values(started.nats.clusters).flatMap((c) => c.servers.flatMap((s) => (s.pid ? [s.pid] : []))),
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

async function startProcesses(options: RegionsBenchStackOptions): Promise<RegionsBenchStack> {
  const relays: TcpRelayHandle[] = [];
  const [home] = options.regions;
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-regions-'));
  let launch: RegionsLaunch | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Worker first (it deletes its sessions and closes its tunnels), then proxies and container, NATS last.
    await launch?.stop().catch(() => undefined);
    for (const relay of relays.splice(0)) await relay.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    for (const flag of [...(options.proxyNodeFlags ?? []), ...(options.workerNodeFlags ?? [])]) {
      const dir = /^--cpu-prof-dir=(.+)$/.exec(flag)?.[1];
      if (dir) mkdirSync(dir, { recursive: true });
    }
    const heartbeat = String(STACK_HEARTBEAT_MS);
    let created: { functionId: string; versionId: string; apiKey: string } | undefined;
    launch = await launchRegions({
      regions: options.regions.map((name) => ({ name })),
      stateDir,
      cwd: REPO_ROOT,
      env: { ...process.env },
      natsServersPerRegion: 1,
      gatewayAddresses: relayedGateways(relays, options.delayMs),
      // Control data from here, in the home region, before any proxy starts (its buckets are created
      // there, as the first region's API does in the dev stack); every proxy reads it through its own region.
      prepare: async (nats) => {
        const nc = await connect({ servers: nats.urls(home) });
        try {
          const control = await ControlStore.open(nc);
          const { fn, version } = await control.createFunction({
            accountId: REGIONS_ACCOUNT,
            name: 'echo',
            kind: 'grpc',
          });
          const { key } = await control.createApiKey({ accountId: REGIONS_ACCOUNT });
          await control.close();
          created = { functionId: fn.functionId, versionId: version.versionId, apiKey: key };
        } finally {
          await nc.close();
        }
      },
      redis: false,
      services: ['grpc-proxy'],
      samples: (region) =>
        region === home ? [{ name: 'echo-container', sample: 'echo', instanceId: 'bench-regions-echo' }] : [],
      logLevel: options.logLevel ?? 'warn',
      nodeFlags: { 'grpc-proxy': options.proxyNodeFlags ?? [], worker: options.workerNodeFlags ?? [] },
      serviceEnv: {
        'grpc-proxy': {
          SWITCHYARD_REMOTE_LOOKUP_TIMEOUT_MS: String(options.remoteLookupTimeoutMs),
          SWITCHYARD_HEARTBEAT_INTERVAL_MS: heartbeat,
        },
        worker: {
          SWITCHYARD_RECONNECT_WINDOW_MS: String(REGIONS_RECONNECT_WINDOW_MS),
          SWITCHYARD_TICKET_PULL_EXPIRES_MS: '1000',
          SWITCHYARD_HEARTBEAT_INTERVAL_MS: heartbeat,
        },
      },
    });
    const started = launch;
    const { functionId, versionId, apiKey } = created as NonNullable<typeof created>;
    const container = started.regions[home].samples['echo-container'];
    const worker = started.startWorker({
      region: home,
      name: 'worker',
      functionId,
      versionId,
      upstream: `grpc://127.0.0.1:${container.port}`,
      concurrency: options.concurrency,
      // Every region's proxies are on loopback: a resume through another region is dialled back (G15).
      callbackAllowList: ['http://127.0.0.1:'],
    });
    await started.waitReady([worker]);
    return {
      mode: 'processes',
      natsPids: () => started.nats.children.map((c) => c.pid),
      urls: (region) => started.nats.urls(region),
      proxyAddress: (region) => started.regions[region].endpoints.grpc,
      containerAddress: `127.0.0.1:${container.port}`,
      metadata: { authorization: `Bearer ${apiKey}`, 'function-id': functionId },
      children: started.group.children.filter((c) => !started.nats.children.includes(c)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
