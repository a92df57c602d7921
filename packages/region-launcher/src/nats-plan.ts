// The one plan and the one config renderer of local nats-server: a standalone server, one cluster
// (routes), or the dev flavour of infra/nats/production (per region a cluster, every region joined
// by gateways into one supercluster, servers tagged region:<r>, JetStream everywhere); no TLS, no
// accounts: loopback only (infra/nats/README.md). The launcher (`switchyard dev`, the benches) and
// the test kit start servers from these plans; each runs the processes its own way.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePorts } from './port-requests.ts';

/**
 * How the servers of a plan are joined: `standalone` one server of one region (no cluster, no
 * gateway); `cluster` the servers of one region with full-mesh routes, no gateway; `supercluster` one
 * cluster per region joined by gateways (a single server then routes to itself).
 */
export type NatsTopology = 'standalone' | 'cluster' | 'supercluster';

/**
 * One server of one region's cluster (or the standalone server). Plain data: a caller may change
 * `serverName`, `tags` or `gatewayAddress` before {@link writeNatsConfigs}.
 */
export interface NatsServerPlan {
  /** Region (= cluster and gateway name). */
  region: string;
  /** 1-based index in its cluster. */
  index: number;
  /** `server_name`: `<region>-<index>`, standalone `switchyard-dev-<region>`. */
  serverName: string;
  clientPort: number;
  monitorPort: number;
  /** Cluster route port; undefined for a standalone server. */
  routePort?: number;
  /** Gateway port; undefined unless the plan is a supercluster. */
  gatewayPort?: number;
  /** `host:port` other regions dial for this server's gateway (e.g. a delaying relay); @default its own gateway port */
  gatewayAddress?: string;
  /** JetStream on (store in `storeDir`). */
  jetstream: boolean;
  /** `server_tags`: `region:<region>` when clustered, none standalone. */
  tags: string[];
  /** JetStream store directory (absolute). */
  storeDir: string;
  /** Config file (absolute). */
  configFile: string;
  /** Child name: `nats` (standalone) or `nats-<region>-<index>`. */
  childName: string;
}

/** Options of {@link planNatsServers}. */
export interface PlanNatsServersOptions {
  /** Region names (NATS tokens, unique, at least one). */
  regions: readonly string[];
  /** Servers per region. @default 1 */
  serversPerRegion?: number;
  /** @default standalone for one region with one server, else supercluster */
  topology?: NatsTopology;
  /** JetStream on every server. @default true */
  jetstream?: boolean;
  /** State directory (absolute): standalone `nats.conf` and `nats/`; else `nats-regions/<r>-<i>{.conf,/}`. */
  stateDir: string;
  /** Ports the servers must not get (already handed out elsewhere in the same launch). */
  takenPorts?: readonly number[];
  /**
   * Reroutes the gateway links into `region`: called once per region with its servers' gateway ports,
   * returns the `host:port` each is reached at instead (a relay); servers advertise those addresses.
   */
  gatewayAddresses?: (region: string, gatewayPorts: number[]) => Promise<string[]> | string[];
}

/**
 * Plans the servers: free loopback ports (client and monitoring; route and gateway as the topology
 * needs), names, tags, directories. Writes nothing.
 * @returns every server, regions in order.
 * @throws RangeError (a caller's mistake: the CLI checks its flags first) for no or duplicate regions,
 *   a server count that is not a positive integer, or a topology that cannot hold them (standalone: one
 *   server; cluster: one region).
 */
export async function planNatsServers(options: PlanNatsServersOptions): Promise<NatsServerPlan[]> {
  const { regions, stateDir } = options;
  const size = options.serversPerRegion ?? 1;
  const topology = options.topology ?? (regions.length === 1 && size === 1 ? 'standalone' : 'supercluster');
  const problem =
    regions.length === 0 || new Set(regions).size !== regions.length
      ? `regions must be a non-empty list of unique names, got ${JSON.stringify(regions)}`
      : !Number.isInteger(size) || size < 1
        ? `servers per region must be a positive integer, got ${size}`
        : topology === 'standalone' && (regions.length > 1 || size > 1)
          ? 'a standalone server is one server of one region'
          : topology === 'cluster' && regions.length > 1
            ? 'a cluster is one region (several regions make a supercluster)'
            : undefined;
  if (problem !== undefined) throw new RangeError(`NATS plan: ${problem}`);
  const clustered = topology !== 'standalone';
  const gateways = topology === 'supercluster';
  const perServer = 2 + (clustered ? 1 : 0) + (gateways ? 1 : 0);
  const ports = await freePorts(regions.length * size * perServer, 'NATS', options.takenPorts);
  const root = clustered ? join(stateDir, 'nats-regions') : stateDir;
  const plans: NatsServerPlan[] = regions.flatMap((region, r) =>
    Array.from({ length: size }, (_, s): NatsServerPlan => {
      const at = (k: number) => ports[(r * size + s) * perServer + k];
      const base = {
        region,
        index: s + 1,
        clientPort: at(0),
        monitorPort: at(1),
        jetstream: options.jetstream ?? true,
      };
      if (!clustered)
        return {
          ...base,
          serverName: `switchyard-dev-${region}`,
          tags: [],
          storeDir: join(stateDir, 'nats'),
          configFile: join(stateDir, 'nats.conf'),
          childName: 'nats',
        };
      return {
        ...base,
        serverName: `${region}-${s + 1}`,
        routePort: at(2),
        ...(gateways ? { gatewayPort: at(3) } : {}),
        tags: [`region:${region}`],
        storeDir: join(root, `${region}-${s + 1}`),
        configFile: join(root, `${region}-${s + 1}.conf`),
        childName: `nats-${region}-${s + 1}`,
      };
    }),
  );
  if (gateways && options.gatewayAddresses !== undefined)
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
  return plans;
}

/**
 * Renders the config of `server`: client, monitoring, `server_tags`, JetStream; with a route port a
 * cluster (routes to its region's other servers in `all`; a one-server cluster routes to itself, as
 * clustered JetStream wants a route); with a gateway port a gateway to every region of `all` (its own
 * included, as nats-server expects), advertising `gatewayAddress` when set.
 * @param server the server to render.
 * @param all every server of every region (routes and gateway URLs are taken from it).
 */
export function renderNatsConfig(server: NatsServerPlan, all: readonly NatsServerPlan[]): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    `server_name: ${q(server.serverName)}`,
    `listen: ${q(`127.0.0.1:${server.clientPort}`)}`,
    `http: ${q(`127.0.0.1:${server.monitorPort}`)}`,
    'logtime: true',
  ];
  if (server.tags.length > 0) lines.push(`server_tags: [${server.tags.map(q).join(', ')}]`);
  if (server.jetstream) lines.push(`jetstream { store_dir: ${q(server.storeDir)} }`);
  if (server.routePort !== undefined) {
    const peers = all.filter((s) => s.region === server.region && s.index !== server.index);
    const routes = (peers.length > 0 ? peers : [server]).map((s) => q(`nats-route://127.0.0.1:${s.routePort}`));
    lines.push(
      'cluster {',
      `  name: ${q(server.region)}`,
      `  listen: ${q(`127.0.0.1:${server.routePort}`)}`,
      `  routes: [${routes.join(', ')}]`,
      '}',
    );
  }
  if (server.gatewayPort !== undefined) {
    const address = (s: NatsServerPlan) => s.gatewayAddress ?? `127.0.0.1:${s.gatewayPort}`;
    const withGateway = all.filter((s) => s.gatewayPort !== undefined);
    const regions = [...new Set(withGateway.map((s) => s.region))];
    lines.push('gateway {', `  name: ${q(server.region)}`, `  listen: ${q(`127.0.0.1:${server.gatewayPort}`)}`);
    if (server.gatewayAddress !== undefined) lines.push(`  advertise: ${q(server.gatewayAddress)}`);
    lines.push('  gateways: [');
    for (const region of regions) {
      const urls = withGateway.filter((s) => s.region === region).map((s) => q(`nats://${address(s)}`));
      lines.push(`    { name: ${q(region)}, urls: [${urls.join(', ')}] }`);
    }
    lines.push('  ]', '}');
  }
  return [...lines, ''].join('\n');
}

/** Creates each server's store directory and writes its config file ({@link renderNatsConfig}). */
export function writeNatsConfigs(plans: readonly NatsServerPlan[]): void {
  for (const plan of plans) {
    mkdirSync(plan.storeDir, { recursive: true });
    mkdirSync(dirname(plan.configFile), { recursive: true });
    writeFileSync(plan.configFile, renderNatsConfig(plan, plans));
  }
}

/** `nats://127.0.0.1:<port>` of every server of `region` in `plans`. */
export function natsUrls(plans: readonly NatsServerPlan[], region: string): string[] {
  return plans.filter((p) => p.region === region).map((p) => `nats://127.0.0.1:${p.clientPort}`);
}
