// nats-server for one or several regions, as children of a launch. One region with one server: a
// standalone JetStream server. Otherwise the dev flavour of infra/nats/production: per region a
// cluster (routes), every region joined by gateways into one supercluster, servers tagged
// region:<r>, JetStream everywhere; no TLS, no accounts: loopback only (infra/nats/README.md).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ChildGroup, StopTier } from './child-group.ts';
import type { LaunchedChild } from './launched-child.ts';
import { LauncherError, LauncherErrorCode } from './launcher-error.ts';
import { freePorts } from './port-requests.ts';

/** One server of one region's cluster (or the standalone server). */
export interface NatsServerPlan {
  region: string;
  /** 1-based index in its cluster; server name `<region>-<index>` (standalone: `switchyard-dev-<region>`). */
  index: number;
  clientPort: number;
  monitorPort: number;
  /** Cluster route port; undefined for a standalone server. */
  routePort?: number;
  /** Gateway port; undefined for a standalone server. */
  gatewayPort?: number;
  /** `host:port` other regions dial for this server's gateway (e.g. a delaying relay); @default its own gateway port */
  gatewayAddress?: string;
  /** JetStream store directory (absolute). */
  storeDir: string;
  /** Config file (absolute). */
  configFile: string;
  /** Child name: `nats` (standalone) or `nats-<region>-<index>`. */
  childName: string;
}

/** Options of {@link startNatsServers}. */
export interface StartNatsServersOptions {
  /** Region names (NATS tokens, unique). */
  regions: readonly string[];
  /** Servers per region; one region with one server runs standalone. @default 1 */
  serversPerRegion?: number;
  /** State directory (absolute): standalone `nats.conf` and `nats/`; else `nats-regions/<r>-<i>{.conf,/}`. */
  stateDir: string;
  /**
   * Reroutes the gateway links into `region`: called once per region with its servers' gateway ports,
   * returns the `host:port` each is reached at instead (a relay); servers advertise those addresses.
   */
  gatewayAddresses?: (region: string, gatewayPorts: number[]) => Promise<string[]> | string[];
  /** nats-server binary. */
  binary: string;
  /** Environment of the servers. */
  env: Record<string, string | undefined>;
}

/** The nats-server children of a launch. */
export interface NatsServers {
  /** Every server, regions in order. */
  plans: NatsServerPlan[];
  /** Their children, in the same order (not yet ready: wait with the group, then {@link waitNatsFormed}). */
  children: LaunchedChild[];
  /** True when the servers form a supercluster (several regions or servers). */
  clustered: boolean;
  /** Client URLs (`nats://127.0.0.1:<port>`) of a region's servers. */
  urls(region: string): string[];
}

/**
 * Renders the config of `server`. Standalone: client, monitoring, JetStream. Clustered: also cluster
 * (routes to its region's other servers), gateway (to every region, its own included, as nats-server
 * expects), `server_tags: region:<r>`.
 * @param server the server to render.
 * @param all every server of every region (routes and gateway URLs are taken from it).
 */
export function renderNatsConfig(server: NatsServerPlan, all: readonly NatsServerPlan[]): string {
  const q = (s: string) => JSON.stringify(s);
  if (server.routePort === undefined || server.gatewayPort === undefined)
    return [
      `server_name: ${q(`switchyard-dev-${server.region}`)}`,
      `listen: "127.0.0.1:${server.clientPort}"`,
      `http: "127.0.0.1:${server.monitorPort}"`,
      'logtime: true',
      `jetstream { store_dir: ${q(server.storeDir)} }`,
      '',
    ].join('\n');
  const peers = all.filter((s) => s.region === server.region && s.index !== server.index);
  // A one-server cluster routes to itself: clustered JetStream (needed across gateways) wants a route.
  const routes = (peers.length > 0 ? peers : [server]).map((s) => q(`nats-route://127.0.0.1:${s.routePort}`));
  const gatewayAddress = (s: NatsServerPlan) => s.gatewayAddress ?? `127.0.0.1:${s.gatewayPort}`;
  const regions = [...new Set(all.map((s) => s.region))];
  const gateways = regions.map((region) => {
    const urls = all.filter((s) => s.region === region).map((s) => q(`nats://${gatewayAddress(s)}`));
    return `    { name: ${q(region)}, urls: [${urls.join(', ')}] }`;
  });
  return [
    `server_name: ${q(`${server.region}-${server.index}`)}`,
    `listen: ${q(`127.0.0.1:${server.clientPort}`)}`,
    `http: ${q(`127.0.0.1:${server.monitorPort}`)}`,
    'logtime: true',
    `server_tags: [${q(`region:${server.region}`)}]`,
    `jetstream { store_dir: ${q(server.storeDir)} }`,
    'cluster {',
    `  name: ${q(server.region)}`,
    `  listen: ${q(`127.0.0.1:${server.routePort}`)}`,
    `  routes: [${routes.join(', ')}]`,
    '}',
    'gateway {',
    `  name: ${q(server.region)}`,
    `  listen: ${q(`127.0.0.1:${server.gatewayPort}`)}`,
    ...(server.gatewayAddress !== undefined ? [`  advertise: ${q(server.gatewayAddress)}`] : []),
    '  gateways: [',
    ...gateways,
    '  ]',
    '}',
    '',
  ].join('\n');
}

async function monitor<T>(port: number, path: string): Promise<{ status: number; body: T | undefined }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(1_000) });
  const body = path === '/healthz' ? undefined : ((await res.json()) as T);
  if (body === undefined) await res.body?.cancel();
  return { status: res.status, body };
}

/** True when the server's `/healthz` answers 200 (rejects when it cannot be reached). */
export async function natsHealthy(monitorPort: number): Promise<boolean> {
  return (await monitor(monitorPort, '/healthz')).status === 200;
}

async function natsGatewaysUp(monitorPort: number, otherRegions: readonly string[]): Promise<boolean> {
  if (!(await natsHealthy(monitorPort))) return false;
  const { body } = await monitor<{ outbound_gateways?: Record<string, unknown> }>(monitorPort, '/gatewayz');
  const outbound = Object.keys(body?.outbound_gateways ?? {});
  return otherRegions.every((r) => outbound.includes(r));
}

/**
 * Plans, writes the configs of, and starts the nats-server children (tier infra). Each is ready on
 * `/healthz` (clustered: also once its gateways reach every other region).
 * @throws LauncherError `LAUNCHER_PORT_IN_USE` only in the unlikely case that no free port is found.
 */
export async function startNatsServers(group: ChildGroup, options: StartNatsServersOptions): Promise<NatsServers> {
  const { regions, stateDir } = options;
  const size = options.serversPerRegion ?? 1;
  const clustered = regions.length > 1 || size > 1;
  const perServer = clustered ? 4 : 2;
  const ports = await freePorts(regions.length * size * perServer, 'NATS');
  const root = clustered ? join(stateDir, 'nats-regions') : stateDir;
  const plans: NatsServerPlan[] = regions.flatMap((region, r) =>
    Array.from({ length: size }, (_, s): NatsServerPlan => {
      const base = (r * size + s) * perServer;
      if (!clustered)
        return {
          region,
          index: 1,
          clientPort: ports[base],
          monitorPort: ports[base + 1],
          storeDir: join(stateDir, 'nats'),
          configFile: join(stateDir, 'nats.conf'),
          childName: 'nats',
        };
      return {
        region,
        index: s + 1,
        clientPort: ports[base],
        monitorPort: ports[base + 1],
        routePort: ports[base + 2],
        gatewayPort: ports[base + 3],
        storeDir: join(root, `${region}-${s + 1}`),
        configFile: join(root, `${region}-${s + 1}.conf`),
        childName: `nats-${region}-${s + 1}`,
      };
    }),
  );
  if (clustered && options.gatewayAddresses !== undefined)
    for (const region of regions) {
      const own = plans.filter((p) => p.region === region);
      const addresses = await options.gatewayAddresses(
        region,
        own.map((p) => p.gatewayPort as number),
      );
      own.forEach((p, i) => {
        p.gatewayAddress = addresses[i];
      });
    }
  mkdirSync(root, { recursive: true });
  const children = plans.map((plan) => {
    mkdirSync(plan.storeDir, { recursive: true });
    writeFileSync(plan.configFile, renderNatsConfig(plan, plans));
    const others = regions.filter((r) => r !== plan.region);
    return group.start(StopTier.infra, {
      name: plan.childName,
      command: options.binary,
      args: ['-c', plan.configFile],
      env: options.env,
      ready: clustered ? () => natsGatewaysUp(plan.monitorPort, others) : () => natsHealthy(plan.monitorPort),
    });
  });
  return {
    plans,
    children,
    clustered,
    urls: (region) => plans.filter((p) => p.region === region).map((p) => `nats://127.0.0.1:${p.clientPort}`),
  };
}

/**
 * Resolves once every server names the same JetStream meta leader, twice in a row (at once for a
 * standalone server). Each region elects its own leader before the gateways join; the groups then
 * merge, and the leader changes a few times: a bucket created meanwhile fails, so services wait.
 * @throws LauncherError `LAUNCHER_NOT_READY` after `timeoutMs`; `LAUNCHER_INTERRUPTED` when `signal` aborts.
 */
export async function waitNatsFormed(servers: NatsServers, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  if (!servers.clustered) return;
  const deadline = Date.now() + timeoutMs;
  let agreed = 0;
  let last = '';
  while (Date.now() < deadline && !signal?.aborted) {
    const views = await Promise.all(
      servers.plans.map(async ({ monitorPort }) => {
        try {
          const { body } = await monitor<{ meta_cluster?: { leader?: string; cluster_size?: number } }>(
            monitorPort,
            '/jsz',
          );
          return `${body?.meta_cluster?.leader ?? ''}/${body?.meta_cluster?.cluster_size ?? 0}`;
        } catch {
          return '';
        }
      }),
    );
    last = views.join(', ');
    // Same leader everywhere. cluster_size is not required to equal the server count: followers, and
    // after a restart with an old store even the leader, may report a stale size for a long time.
    const leaders = views.map((v) => v.split('/')[0]);
    const same = leaders[0] !== '' && leaders.every((l) => l === leaders[0]);
    agreed = same ? agreed + 1 : 0;
    if (agreed >= 2) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (signal?.aborted) throw new LauncherError(LauncherErrorCode.interrupted, 'start-up interrupted');
  throw new LauncherError(
    LauncherErrorCode.notReady,
    `the NATS supercluster did not agree on a JetStream meta leader: ${last}`,
  );
}
