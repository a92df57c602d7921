// One way to start local regions: nats-server (standalone, or a supercluster of several regions),
// redis-server per region, then per region the front ends (api, grpc-proxy, invocation) and sample
// containers as child processes of `node services/<svc>/src/main.ts`; workers and geodns are added
// once the caller has created functions. `switchyard dev` (one or several regions) and the benches
// start regions through here.

import { join } from 'node:path';
import { ChildGroup, StopTier } from './child-group.ts';
import { type Entrypoints, infraBinaries, node24Binary, requireEntrypoint } from './entrypoints.ts';
import type { LaunchedChild } from './launched-child.ts';
import {
  type NatsServers,
  type StartNatsServersOptions,
  startNatsServers,
  waitNatsFormed,
  waitNatsReady,
} from './nats-launch.ts';
import { freePorts } from './port-requests.ts';
import { startRedisServer } from './redis-launch.ts';
import {
  commonEnv,
  frontEndEnv,
  inheritedEnv,
  nodeCommand,
  type ServiceKind,
  serviceNodeOptions,
  type WorkerEnvInput,
  workerEnv,
} from './service-env.ts';

/** Default time each child gets to become ready, ms. */
export const DEFAULT_LAUNCH_READY_TIMEOUT_MS = 60_000;

/** Listener ports of one region's front ends; 0 or absent = any free port. */
export interface RegionPorts {
  grpc: number;
  callback: number;
  api: number;
  http: number;
  httpCallback: number;
}

/** A region to launch. */
export interface RegionSpec {
  /** Region name (a NATS token, unique). */
  name: string;
  /** Listener ports (already checked free by the caller, or 0 / absent for any free port). */
  ports?: Partial<RegionPorts>;
}

/** A sample function container (`packages/sample-functions/src/main.ts <sample>`) of a region. */
export interface SampleSpec {
  /** Child name in a one-region launch (`<name>-<region>` with several). */
  name: string;
  /** Sample kind argument, e.g. `echo`, `inference`, `http`. */
  sample: string;
  /** `--instance-id`. */
  instanceId: string;
  /** Extra node flags (e.g. `--import` of a preload). */
  nodeFlags?: string[];
}

/** Options of {@link launchRegions}. */
export interface LaunchRegionsOptions {
  /** One or more regions; the first is home (its API starts alone: the control buckets live there). */
  regions: readonly RegionSpec[];
  /** State directory (absolute): NATS configs and stores, Redis dirs. */
  stateDir: string;
  /** Directory of the children's log files; @default none (tails only). */
  logDir?: string;
  /** Working directory of the children; @default this process's */
  cwd?: string;
  /** NATS servers per region (one region with one server runs standalone). @default 1 */
  natsServersPerRegion?: number;
  /** See {@link StartNatsServersOptions.gatewayAddresses} (relays on the gateway links). */
  gatewayAddresses?: StartNatsServersOptions['gatewayAddresses'];
  /**
   * Runs once NATS (and Redis) are ready, before any service starts, e.g. to write control data in
   * the home region so that no service creates the buckets elsewhere first. Its rejection stops the launch.
   */
  prepare?: (nats: NatsServers) => Promise<void>;
  /** Start a redis-server per region (front ends get `SWITCHYARD_REDIS_URL`). */
  redis: boolean;
  /** Front ends every region runs. */
  services: readonly ('api' | 'grpc-proxy' | 'invocation')[];
  /** Admin token of the API (required when `services` has `api`). */
  adminToken?: string;
  /** Give region i the address 127.0.0.<i+1> (geodns answers with it; its gRPC proxy advertises it). @default false */
  dnsAddresses?: boolean;
  /** Sample containers of a region; @default none */
  samples?: (region: string) => readonly SampleSpec[];
  /** Time each child (and the NATS meta leader) gets, ms. @default 60_000 */
  readyTimeoutMs?: number;
  /** Aborts start-up (the launch stops what started and throws LAUNCHER_INTERRUPTED). */
  signal?: AbortSignal;
  /** Base environment of every child. @default {@link inheritedEnv}() */
  env?: Record<string, string | undefined>;
  /** `SWITCHYARD_LOG_LEVEL` of the services; @default unset */
  logLevel?: string;
  /** Extra environment per service kind (over what the launcher sets). */
  serviceEnv?: Partial<Record<ServiceKind, Record<string, string>>>;
  /** Extra node flags per service kind (before the entry file). */
  nodeFlags?: Partial<Record<ServiceKind, string[]>>;
  /** Open-files limit of the services (`ulimit -n`); @default unchanged */
  noFileLimit?: number;
}

/** Endpoints of one launched region. */
export interface RegionEndpoints {
  /** `127.0.0.1:<port>` of the gRPC proxy client listener. */
  grpc: string;
  /** Callback URI workers dial for gRPC sessions (W1). */
  callback: string;
  /** Base URL of the operator API. */
  api: string;
  /** Base URL of the HTTP invocation service (H1). */
  http: string;
  /** Callback URI workers dial for HTTP requests (W1). */
  httpCallback: string;
  /** NATS client URLs of the region. */
  nats: string[];
  /** `redis://127.0.0.1:<port>`, when Redis runs. */
  redis?: string;
  /** Address geodns answers for this region (127.0.0.<i+1>), with `dnsAddresses`. */
  dnsAddress?: string;
}

/** One launched region. */
export interface LaunchedRegion {
  name: string;
  ports: RegionPorts;
  endpoints: RegionEndpoints;
  /** Front-end children by kind (those in `services`). */
  services: Partial<Record<'api' | 'grpc-proxy' | 'invocation', LaunchedChild>>;
  /** Redis child, when Redis runs. */
  redis?: LaunchedChild;
  /** Sample containers by spec name, with the port each printed in its ready line. */
  samples: Record<string, { child: LaunchedChild; port: number }>;
}

/** A worker to add to a launched region. */
export interface WorkerSpec extends WorkerEnvInput {
  region: string;
  /** Child name in a one-region launch (`<name>-<region>` with several). */
  name: string;
  /** Extra environment (over the launcher's). */
  env?: Record<string, string>;
  /** Extra node flags. */
  nodeFlags?: string[];
}

/** The running regions. */
export interface RegionsLaunch {
  /** Every child, with stop tiers. */
  group: ChildGroup;
  /** The NATS servers. */
  nats: NatsServers;
  /** Regions by name, in launch order. */
  regions: Record<string, LaunchedRegion>;
  /** Starts a worker (tier workers); wait for it with {@link RegionsLaunch.waitReady}. */
  startWorker(spec: WorkerSpec): LaunchedChild;
  /**
   * Starts geodns over every region (D1), answering 127.0.0.<i+1> for region i.
   * @param options DNS port, zone, and locations (degrees) by region; others sit at 0,0.
   */
  startGeodns(options: {
    port: number;
    domain: string;
    locations: Record<string, { lat: number; lon: number }>;
  }): LaunchedChild;
  /**
   * Waits for `children` to be ready.
   * @throws LauncherError `LAUNCHER_NOT_READY` / `LAUNCHER_INTERRUPTED` (see ChildGroup.waitReady).
   */
  waitReady(children: readonly LaunchedChild[]): Promise<void>;
  /** Stops everything, workers first, NATS and Redis last. Idempotent. */
  stop(): Promise<void>;
  /**
   * Starts one more gRPC proxy or invocation instance (a replica) in a launched region, on free
   * client and callback ports, with the environment the first one got; wait for it with
   * {@link RegionsLaunch.waitReady}. Restart replicas with `group.restart(child)`.
   * @returns the child, its client endpoint (`127.0.0.1:<port>` for gRPC, `http://127.0.0.1:<port>`
   *   for HTTP) and its callback URI.
   * @throws TypeError for a region that was not launched.
   */
  startFrontEnd(
    kind: 'grpc-proxy' | 'invocation',
    region: string,
    name: string,
  ): Promise<{ child: LaunchedChild; client: string; callback: string }>;
}

/**
 * Launches the regions and resolves once NATS, Redis, the front ends and the sample containers are
 * ready; on any failure stops what had started first.
 * @throws LauncherError `LAUNCHER_MISSING` (Node 24, binaries, entry files), `LAUNCHER_NOT_READY`
 *   (a child did not start: the message names it with its last lines), `LAUNCHER_INTERRUPTED`.
 */
export async function launchRegions(options: LaunchRegionsOptions): Promise<RegionsLaunch> {
  const names = options.regions.map((r) => r.name);
  const several = names.length > 1;
  const childName = (base: string, region: string) => (several ? `${base}-${region}` : base);
  const node = node24Binary();
  const entries: Partial<Record<keyof typeof Entrypoints, string>> = {};
  const entry = (which: keyof typeof Entrypoints) => {
    entries[which] ??= requireEntrypoint(which);
    return entries[which];
  };
  if (options.services.includes('api')) entry('api');
  if (options.services.includes('grpc-proxy')) entry('grpcProxy');
  if (options.services.includes('invocation')) entry('invocation');
  const binaries = infraBinaries();
  const timeoutMs = options.readyTimeoutMs ?? DEFAULT_LAUNCH_READY_TIMEOUT_MS;
  const env = options.env ?? inheritedEnv();
  const group = new ChildGroup({ logDir: options.logDir, cwd: options.cwd });
  const waitReady = (children: readonly LaunchedChild[]) => group.waitReady(children, timeoutMs, options.signal);
  const service = (
    kind: ServiceKind,
    name: string,
    region: string,
    extra: Record<string, string>,
    flags: string[] = [],
  ) =>
    group.start(kind === 'worker' ? StopTier.workers : StopTier.services, {
      name,
      ...commandOf(
        node,
        [...serviceNodeOptions(kind), ...(options.nodeFlags?.[kind] ?? []), ...flags, entryOf(kind)],
        options.noFileLimit,
      ),
      env: {
        ...env,
        ...commonEnv({ region, natsUrls: nats.urls(region), logLevel: options.logLevel }),
        ...extra,
        ...options.serviceEnv?.[kind],
      },
      ready: 'ready-line',
    });
  // A gRPC proxy or invocation instance of `region` on the given client and callback ports.
  const frontEnd = (
    kind: 'grpc-proxy' | 'invocation',
    name: string,
    region: LaunchedRegion,
    ports: { client: number; callback: number },
  ) =>
    service(kind, name, region.name, {
      ...frontEndEnv({
        port: ports.client,
        callbackPort: ports.callback,
        redisUrl: region.endpoints.redis,
        remoteRegions: names.filter((r) => r !== region.name),
        processes: Number(options.serviceEnv?.[kind]?.SWITCHYARD_PROCESSES ?? 1),
      }),
      ...(kind === 'grpc-proxy' && region.endpoints.dnsAddress !== undefined
        ? { SWITCHYARD_ADVERTISE_ADDRESSES: region.endpoints.dnsAddress }
        : {}),
    });
  const entryOf = (kind: ServiceKind) =>
    entry(
      (
        { api: 'api', 'grpc-proxy': 'grpcProxy', invocation: 'invocation', worker: 'worker', geodns: 'geodns' } as const
      )[kind],
    );

  let nats: NatsServers = undefined as unknown as NatsServers;
  const regions: Record<string, LaunchedRegion> = {};
  try {
    // 1. NATS and one Redis per region.
    nats = await startNatsServers(group, {
      regions: names,
      serversPerRegion: options.natsServersPerRegion,
      stateDir: options.stateDir,
      gatewayAddresses: options.gatewayAddresses,
      binary: binaries.nats,
      env,
    });
    const free = await freePorts(
      names.length * 6,
      'listener',
      nats.plans.flatMap((p) => [p.clientPort, p.monitorPort, p.routePort ?? 0, p.gatewayPort ?? 0]),
    );
    const infra = [...nats.children];
    for (const [i, spec] of options.regions.entries()) {
      const at = (key: keyof RegionPorts, k: number) => spec.ports?.[key] || free[i * 6 + k];
      const ports: RegionPorts = {
        grpc: at('grpc', 0),
        callback: at('callback', 1),
        api: at('api', 2),
        http: at('http', 3),
        httpCallback: at('httpCallback', 4),
      };
      const redisPort = free[i * 6 + 5];
      const redis = options.redis
        ? startRedisServer(group, {
            name: childName('redis', spec.name),
            binary: binaries.redis,
            port: redisPort,
            dir: several ? join(options.stateDir, 'redis', spec.name) : join(options.stateDir, 'redis'),
            env,
          })
        : undefined;
      if (redis !== undefined) infra.push(redis);
      regions[spec.name] = {
        name: spec.name,
        ports,
        endpoints: {
          grpc: `127.0.0.1:${ports.grpc}`,
          callback: `http://127.0.0.1:${ports.callback}`,
          api: `http://127.0.0.1:${ports.api}`,
          http: `http://127.0.0.1:${ports.http}`,
          httpCallback: `http://127.0.0.1:${ports.httpCallback}`,
          nats: nats.urls(spec.name),
          ...(redis !== undefined ? { redis: `redis://127.0.0.1:${redisPort}` } : {}),
          ...(options.dnsAddresses ? { dnsAddress: `127.0.0.${i + 1}` } : {}),
        },
        services: {},
        ...(redis !== undefined ? { redis } : {}),
        samples: {},
      };
    }
    await waitReady(infra.filter((c) => !nats.children.includes(c)));
    await waitNatsReady(group, nats, timeoutMs, options.signal);
    await waitNatsFormed(nats, timeoutMs, options.signal, group);
    await options.prepare?.(nats);

    // 2. Per region: api, grpc-proxy, invocation, sample containers. With several regions the first
    // region's API starts alone: it creates the control buckets, so they live in the first (home)
    // region and concurrent creations from every region cannot race (docs/architecture.md).
    const started: LaunchedChild[] = [];
    const samples: [LaunchedRegion, string, LaunchedChild][] = [];
    for (const [i, region] of Object.values(regions).entries()) {
      if (options.services.includes('api')) {
        const api = service('api', childName('api', region.name), region.name, {
          SWITCHYARD_HOST: '127.0.0.1',
          SWITCHYARD_PORT: String(region.ports.api),
          SWITCHYARD_ADMIN_TOKEN: options.adminToken ?? '',
        });
        region.services.api = api;
        if (several && i === 0) await waitReady([api]);
        else started.push(api);
      }
      if (options.services.includes('grpc-proxy')) {
        const proxy = frontEnd('grpc-proxy', childName('grpc-proxy', region.name), region, {
          client: region.ports.grpc,
          callback: region.ports.callback,
        });
        region.services['grpc-proxy'] = proxy;
        started.push(proxy);
      }
      if (options.services.includes('invocation')) {
        const invocation = frontEnd('invocation', childName('invocation', region.name), region, {
          client: region.ports.http,
          callback: region.ports.httpCallback,
        });
        region.services.invocation = invocation;
        started.push(invocation);
      }
      for (const sample of options.samples?.(region.name) ?? []) {
        const child = group.start(StopTier.services, {
          name: childName(sample.name, region.name),
          command: node,
          // biome-ignore format: flag/value pairs read better one pair per line
          args: [
            ...(sample.nodeFlags ?? []), entry('sampleFunctions'), sample.sample,
            '--port', '0',
            '--host', '127.0.0.1',
            '--instance-id', sample.instanceId,
          ],
          env,
          ready: 'ready-line',
        });
        samples.push([region, sample.name, child]);
        started.push(child);
      }
    }
    await waitReady(started);
    for (const [region, name, child] of samples) region.samples[name] = { child, port: Number(child.readyLine?.port) };
  } catch (err) {
    await group.stopAll();
    throw err;
  }

  return {
    group,
    nats,
    regions,
    waitReady,
    stop: () => group.stopAll(),
    startFrontEnd: async (kind, regionName, name) => {
      const region = regions[regionName];
      if (region === undefined) throw new TypeError(`no region ${regionName}`);
      const [client, callback] = await freePorts(2, 'listener');
      const child = frontEnd(kind, name, region, { client, callback });
      return {
        child,
        client: kind === 'grpc-proxy' ? `127.0.0.1:${client}` : `http://127.0.0.1:${client}`,
        callback: `http://127.0.0.1:${callback}`,
      };
    },
    startWorker: (spec) =>
      service(
        'worker',
        childName(spec.name, spec.region),
        spec.region,
        { ...workerEnv(spec), ...spec.env },
        spec.nodeFlags,
      ),
    startGeodns: ({ port, domain, locations }) => {
      const geoRegions = Object.fromEntries(
        names.map((name, i) => {
          const a = [regions[name].endpoints.dnsAddress ?? `127.0.0.${i + 1}`];
          return [name, { ...(locations[name] ?? { lat: 0, lon: 0 }), addresses: { grpc: a, http: a, api: a } }];
        }),
      );
      return group.start(StopTier.services, {
        name: 'geodns',
        command: node,
        args: [entry('geodns')],
        env: {
          ...env,
          SWITCHYARD_NATS_SERVERS: nats.urls(names[0]).join(','),
          SWITCHYARD_HOST: '127.0.0.1',
          SWITCHYARD_PORT: String(port),
          SWITCHYARD_DOMAIN: domain,
          SWITCHYARD_GEO_REGIONS: JSON.stringify(geoRegions),
          SWITCHYARD_DEFAULT_REGION: names[0],
          SWITCHYARD_METRICS_PORT: '0',
        },
        ready: 'ready-line',
      });
    },
  };
}

function commandOf(node: string, args: string[], noFileLimit: number | undefined): { command: string; args: string[] } {
  const [command, full] = nodeCommand(node, args, noFileLimit);
  return { command, args: full };
}
