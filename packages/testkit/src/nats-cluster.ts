// Clusters (full-mesh routes, JetStream on every node) and superclusters (one cluster per region,
// joined by gateways) of nats-server on loopback, planned by @switchyard/region-launcher (the plan and
// configs `switchyard dev` and the benches run) in one temp dir; they resolve only once JetStream has
// a meta leader.

import { type NatsServerPlan, planNatsServers, writeNatsConfigs } from '@switchyard/region-launcher';
import { getMonitor } from './monitor.ts';
import { createNatsServer, type NatsServerHandle, type NatsServerInternal, toPublic } from './nats-server.ts';
import { freePort } from './ports.ts';
import { makeTempDir, registerResource, removeTempDir } from './process-registry.ts';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** Default time a cluster or supercluster gets to become ready, in milliseconds. */
export const DEFAULT_CLUSTER_READY_TIMEOUT_MS = 60_000;
/** Time one attempt at starting a cluster gets before it is torn down and started again, in milliseconds. */
export const CLUSTER_ATTEMPT_TIMEOUT_MS = 20_000;
/** Attempts at starting a cluster or supercluster, each on fresh ports (see `readyTimeoutMs`). */
export const CLUSTER_START_ATTEMPTS = 3;

/** A running cluster started by {@link startNatsCluster}. */
export interface NatsClusterHandle {
  /** Cluster name (also its gateway name in a supercluster). */
  name: string;
  /** Its servers, in start order. */
  servers: NatsServerHandle[];
  /** Client URLs of every server (`nats://127.0.0.1:<port>`), for `connect({ servers: urls })`. */
  urls: string[];
  /** Stops every server and removes their temp dirs. */
  stop(): Promise<void>;
}

/** A running supercluster started by {@link startNatsSupercluster}. */
export interface NatsSuperclusterHandle {
  /** One cluster per region, keyed by region name. */
  clusters: Record<string, NatsClusterHandle>;
  /** Stops every server of every cluster and removes their temp dirs. */
  stop(): Promise<void>;
}

/** Options for {@link startNatsCluster}. */
export interface StartNatsClusterOptions {
  /**
   * Number of servers.
   * @default 3
   */
  size?: number;
  /**
   * Cluster name; server names are `<name>-1`, `<name>-2`, ...
   * @default 'c<client port of the first server>'
   */
  name?: string;
  /**
   * `server_tags` of every server.
   * @default ['region:<name>']
   */
  tags?: string[];
  /**
   * Time allowed for every node to be ready and a JetStream meta leader to be elected, in milliseconds.
   * @default 60000 (in attempts of at most 20 s each, on fresh ports)
   */
  readyTimeoutMs?: number;
}

/** Options for {@link startNatsSupercluster}. */
export interface StartNatsSuperclusterOptions {
  /** Region names; each becomes a cluster named after it whose servers are tagged `region:<region>`. */
  regions: string[];
  /**
   * Servers per region.
   * @default 1
   */
  size?: number;
  /**
   * Time allowed for gateways to connect and JetStream to be ready, in milliseconds.
   * @default 60000 (in attempts of at most 20 s each, on fresh ports)
   */
  readyTimeoutMs?: number;
  /**
   * Reroutes the gateway links into `region`: called once per region with its servers' real gateway
   * ports (in server order), returns the `host:port` each server is reached at instead (e.g. a
   * {@link startTcpRelay} in front of it). Other regions dial those addresses and the servers advertise
   * them, so gateway discovery never bypasses them. Used to inject latency or cut a gateway link.
   * @default undefined (direct links)
   */
  gatewayAddresses?: (region: string, gatewayPorts: number[]) => Promise<string[]> | string[];
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) {
    throw new TestkitError(TestkitErrorCode.invalidState, `cluster size must be a positive integer, got ${size}`);
  }
}

/** Servers of `plans` (configs written), grouped by region in plan order. */
function createServers(plans: NatsServerPlan[]): Map<string, NatsServerInternal[]> {
  writeNatsConfigs(plans);
  const byRegion = new Map<string, NatsServerInternal[]>();
  for (const plan of plans) {
    const servers = byRegion.get(plan.region) ?? [];
    servers.push(createNatsServer(plan));
    byRegion.set(plan.region, servers);
  }
  return byRegion;
}

/** A cluster's handle; `stop()` also removes `dir` when the cluster owns it (not in a supercluster). */
function clusterHandle(name: string, servers: NatsServerInternal[], dir: string | undefined): NatsClusterHandle {
  return {
    name,
    servers: servers.map(toPublic),
    urls: servers.map((s) => s.url),
    stop: async () => {
      const results = await Promise.allSettled(servers.map((s) => s.dispose()));
      if (dir !== undefined) removeTempDir(dir);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
}

async function launchAndWait(servers: NatsServerInternal[], timeoutMs: number): Promise<void> {
  for (const s of servers) s.launch();
  await Promise.all(servers.map((s) => s.waitReady({ timeoutMs, metaLeader: true })));
  if (servers.length > 1) await waitForMetaPeers(servers, timeoutMs);
}

/**
 * Waits until the meta leader knows every other server of the cluster, so that an R3 stream created
 * right away finds its peers (else: "no suitable peers for placement"). It prefers every peer reported
 * `current`, but that flag can stay stale for a long time, so after 5 s known peers are enough.
 */
async function waitForMetaPeers(servers: NatsServerInternal[], timeoutMs: number): Promise<void> {
  interface Meta {
    leader?: string;
    replicas?: { name: string; current?: boolean }[];
  }
  const peersSeen = (requireCurrent: boolean) => async () => {
    for (const s of servers) {
      const res = await getMonitor(toPublic(s).monitorPort, '/jsz').catch(() => undefined);
      const peers = (res?.body as { meta_cluster?: Meta } | undefined)?.meta_cluster?.replicas ?? [];
      if (peers.length >= servers.length - 1 && (!requireCurrent || peers.every((p) => p.current === true)))
        return true;
    }
    return false;
  };
  const started = Date.now();
  try {
    await waitFor(peersSeen(true), {
      timeoutMs: Math.min(5_000, timeoutMs),
      intervalMs: 100,
      what: 'current meta peers',
    });
  } catch {
    try {
      await waitFor(peersSeen(false), {
        timeoutMs: Math.max(1, timeoutMs - (Date.now() - started)),
        intervalMs: 100,
        what: 'every JetStream meta peer to be known to the leader (/jsz)',
      });
    } catch (err) {
      throw new TestkitError(
        TestkitErrorCode.notReady,
        `JetStream meta group of ${servers.length} servers did not form: ${await clusterDiagnostics(servers)}`,
        { cause: err },
      );
    }
  }
}

/** One line per server: its meta group view (/jsz) and route count (/routez), then its last log lines. */
async function clusterDiagnostics(servers: NatsServerInternal[]): Promise<string> {
  const lines = await Promise.all(
    servers.map(async (s) => {
      const jsz = await getMonitor(s.monitorPort, '/jsz').catch((e: Error) => ({ body: e.message }));
      const routez = await getMonitor(s.monitorPort, '/routez').catch((e: Error) => ({ body: e.message }));
      const meta = (jsz.body as { meta_cluster?: unknown } | undefined)?.meta_cluster;
      const routes = (routez.body as { num_routes?: number } | undefined)?.num_routes;
      return `\n${s.name}: meta ${JSON.stringify(meta)} routes ${routes}\n--- last log lines ---\n${s.logTail()}`;
    }),
  );
  return lines.join('');
}

/**
 * Runs `attempt` with the remaining budget, again on fresh ports and directories when it fails, up to
 * {@link CLUSTER_START_ATTEMPTS} times: a cluster that does not form in {@link CLUSTER_ATTEMPT_TIMEOUT_MS}
 * (a port taken between planning and binding, a stuck meta election on a loaded machine) rarely fails
 * twice. The last error is thrown.
 */
async function withFreshAttempts<T>(totalMs: number, attempt: (timeoutMs: number) => Promise<T>): Promise<T> {
  const deadline = Date.now() + totalMs;
  let last: unknown;
  for (let i = 0; i < CLUSTER_START_ATTEMPTS; i++) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const isLast = i === CLUSTER_START_ATTEMPTS - 1;
    try {
      return await attempt(isLast ? left : Math.min(left, CLUSTER_ATTEMPT_TIMEOUT_MS));
    } catch (err) {
      last = err;
      if (err instanceof TestkitError && err.code === TestkitErrorCode.invalidState) throw err;
      process.emitWarning(`testkit: a NATS cluster did not start (attempt ${i + 1}), retrying on fresh ports: ${err}`);
    }
  }
  throw last;
}

/**
 * Starts a cluster of nats-server on loopback: full-mesh routes, JetStream on every node, `server_tags`
 * (default `region:<name>`), no gateway. Resolves when every node accepts clients, /healthz is
 * ok and a JetStream meta leader is elected.
 *
 * @param options size, name, tags, readiness timeout.
 * @returns the running cluster; `stopAll()` also stops it.
 * @throws {TestkitError} `TESTKIT_NOT_READY` / `TESTKIT_PROCESS_EXITED` naming the server and its last log
 *   lines; `TESTKIT_INVALID_STATE` for a bad size. Servers already started are stopped before the throw.
 */
export async function startNatsCluster(options: StartNatsClusterOptions = {}): Promise<NatsClusterHandle> {
  checkSize(options.size ?? 3);
  return withFreshAttempts(options.readyTimeoutMs ?? DEFAULT_CLUSTER_READY_TIMEOUT_MS, (timeoutMs) =>
    startClusterOnce(options, timeoutMs),
  );
}

async function startClusterOnce(options: StartNatsClusterOptions, timeoutMs: number): Promise<NatsClusterHandle> {
  const name = options.name ?? `c${await freePort()}`;
  const dir = makeTempDir(`nats-${name}`);
  let handle = clusterHandle(name, [], dir);
  const unregister = registerResource({ stop: () => handle.stop() });
  try {
    const plans = await planNatsServers({
      regions: [name],
      serversPerRegion: options.size ?? 3,
      topology: 'cluster',
      stateDir: dir,
    });
    for (const plan of plans) plan.tags = options.tags ?? plan.tags;
    const servers = createServers(plans).get(name) ?? [];
    handle = clusterHandle(name, servers, dir);
    await launchAndWait(servers, timeoutMs);
  } catch (err) {
    unregister();
    await handle.stop().catch(() => {});
    throw err;
  }
  return handle;
}

/**
 * Starts one cluster per region (named after the region, servers tagged `region:<region>`), joined by
 * gateways into a supercluster with one JetStream meta group. Resolves when every server has an outbound
 * gateway to every other region (/gatewayz), /healthz is ok and a meta leader is elected.
 *
 * @param options regions (at least one, unique), servers per region, readiness timeout.
 * @returns the running supercluster; `stopAll()` also stops it.
 * @throws {TestkitError} `TESTKIT_NOT_READY` / `TESTKIT_PROCESS_EXITED` naming the server and its last log
 *   lines; `TESTKIT_INVALID_STATE` for no or duplicate regions. Started servers are stopped before the throw.
 */
export async function startNatsSupercluster(options: StartNatsSuperclusterOptions): Promise<NatsSuperclusterHandle> {
  const regions = options.regions;
  if (regions.length === 0 || new Set(regions).size !== regions.length) {
    throw new TestkitError(
      TestkitErrorCode.invalidState,
      `regions must be a non-empty list of unique names, got ${JSON.stringify(regions)}`,
    );
  }
  checkSize(options.size ?? 1);
  return withFreshAttempts(options.readyTimeoutMs ?? DEFAULT_CLUSTER_READY_TIMEOUT_MS, (timeoutMs) =>
    startSuperclusterOnce(options, timeoutMs),
  );
}

async function startSuperclusterOnce(
  options: StartNatsSuperclusterOptions,
  timeoutMs: number,
): Promise<NatsSuperclusterHandle> {
  const regions = options.regions;
  const dir = makeTempDir('nats-supercluster');
  const clusters: Record<string, NatsClusterHandle> = {};
  const handle: NatsSuperclusterHandle = {
    clusters,
    stop: async () => {
      const results = await Promise.allSettled(Object.values(clusters).map((c) => c.stop()));
      removeTempDir(dir);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
    },
  };
  const unregister = registerResource(handle);
  try {
    const deadline = Date.now() + timeoutMs;
    const plans = await planNatsServers({
      regions,
      serversPerRegion: options.size ?? 1,
      topology: 'supercluster',
      stateDir: dir,
      gatewayAddresses: options.gatewayAddresses,
    });
    const byRegion = createServers(plans);
    for (const [region, servers] of byRegion) clusters[region] = clusterHandle(region, servers, undefined);
    await launchAndWait([...byRegion.values()].flat(), timeoutMs);
    await Promise.all(
      [...byRegion].flatMap(([region, servers]) =>
        servers.map((s) =>
          waitGateways(
            s,
            regions.filter((r) => r !== region),
            Math.max(1, deadline - Date.now()),
          ),
        ),
      ),
    );
  } catch (err) {
    unregister();
    await handle.stop().catch(() => {});
    throw err;
  }
  return handle;
}

async function waitGateways(server: NatsServerInternal, others: string[], timeoutMs: number): Promise<void> {
  let seen: string[] = [];
  try {
    await waitFor(
      async () => {
        const res = await getMonitor(server.monitorPort, '/gatewayz');
        const outbound = (res.body as { outbound_gateways?: Record<string, unknown> } | undefined)?.outbound_gateways;
        seen = Object.keys(outbound ?? {});
        return others.every((r) => seen.includes(r));
      },
      { timeoutMs, intervalMs: 100, what: `gateways of ${server.name}` },
    );
  } catch (err) {
    throw new TestkitError(
      TestkitErrorCode.notReady,
      `nats-server ${server.name} (127.0.0.1:${server.port}) has outbound gateways to [${seen.join(', ')}], ` +
        `expected [${others.join(', ')}] after ${timeoutMs} ms\n--- last log lines ---\n${server.logTail()}`,
      { cause: err },
    );
  }
}
