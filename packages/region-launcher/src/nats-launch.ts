// nats-server for one or several regions, as children of a launch: the servers of a plan
// (nats-plan.ts: standalone for one region with one server, else a supercluster), each ready on
// /healthz and, clustered, once its gateways reach every other region.

import { type ChildGroup, StopTier } from './child-group.ts';
import type { LaunchedChild } from './launched-child.ts';
import { LauncherError, LauncherErrorCode } from './launcher-error.ts';
import {
  type NatsServerPlan,
  natsUrls,
  type PlanNatsServersOptions,
  planNatsServers,
  writeNatsConfigs,
} from './nats-plan.ts';

/** Options of {@link startNatsServers}: the plan's (one region with one server runs standalone). */
export interface StartNatsServersOptions extends Omit<PlanNatsServersOptions, 'topology' | 'jetstream'> {
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
 * Plans ({@link planNatsServers}), writes the configs of, and starts the nats-server children (tier
 * infra). Each is ready on `/healthz` (clustered: also once its gateways reach every other region).
 * @throws RangeError for a bad region list or server count (see the plan); LauncherError
 *   `LAUNCHER_PORT_IN_USE` only in the unlikely case that no free port is found.
 */
export async function startNatsServers(group: ChildGroup, options: StartNatsServersOptions): Promise<NatsServers> {
  const { binary, env, ...planOptions } = options;
  const plans = await planNatsServers(planOptions);
  const clustered = plans[0].routePort !== undefined;
  writeNatsConfigs(plans);
  const children = plans.map((plan) => {
    const others = options.regions.filter((r) => r !== plan.region);
    return group.start(StopTier.infra, {
      name: plan.childName,
      command: binary,
      args: ['-c', plan.configFile],
      env,
      ready: clustered ? () => natsGatewaysUp(plan.monitorPort, others) : () => natsHealthy(plan.monitorPort),
    });
  });
  return { plans, children, clustered, urls: (region) => natsUrls(plans, region) };
}

/** How long a nats-server may stay not ready before the launcher looks at why, ms. */
export const NATS_STALL_MS = 20_000;
/** Restarts a nats-server whose JetStream stays behind the meta leader gets before the launch fails. */
export const NATS_STALL_RESTARTS = 2;

/** `/healthz` of a server: its status and, when not ok, the error it names (undefined when unreachable). */
async function natsHealthDetail(monitorPort: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json().catch(() => ({}))) as { status?: string; error?: string };
    return res.status === 200 ? 'ok' : (body.error ?? body.status ?? `HTTP ${res.status}`);
  } catch {
    return undefined;
  }
}

/**
 * Waits for the nats-server children to be ready. A server still not ready after `stallMs`
 * ({@link NATS_STALL_MS}) whose `/healthz` says its JetStream is not current with the meta leader, or
 * has no contact with one, (seen on this 2-core machine
 * in about 1 start of 4 of a 3-region supercluster: the member never catches up by itself) is
 * restarted, up to {@link NATS_STALL_RESTARTS} times; `servers.children` is updated in place.
 * @throws LauncherError `LAUNCHER_NOT_READY` naming the server, what its /healthz says, its last lines
 *   and what to do, once `timeoutMs` passes or the restarts are used up; `LAUNCHER_INTERRUPTED`.
 */
export async function waitNatsReady(
  group: ChildGroup,
  servers: NatsServers,
  timeoutMs: number,
  signal?: AbortSignal,
  stallMs = NATS_STALL_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const restarts = new Map<string, number>();
  for (;;) {
    const left = deadline - Date.now();
    try {
      await group.waitReady(servers.children, Math.max(1, Math.min(left, stallMs)), signal);
      return;
    } catch (err) {
      if (signal?.aborted || !(err instanceof LauncherError)) throw err;
      const stalled: number[] = [];
      const details: string[] = [];
      for (const [i, child] of servers.children.entries()) {
        if (!child.running) throw err; // it exited: the error names it with its last lines
        const detail = await natsHealthDetail(servers.plans[i].monitorPort);
        if (detail === 'ok') continue;
        details.push(`${child.name}: ${detail ?? 'monitor port not answering'}`);
        if (detail !== undefined && /not current|meta leader/i.test(detail)) stalled.push(i);
      }
      const report = (hint: string | undefined) =>
        new LauncherError(LauncherErrorCode.notReady, `nats-server did not become ready: ${details.join('; ')}`, {
          hint,
        });
      if (Date.now() >= deadline) throw report(err.hint);
      if (stalled.length === 0) continue; // still starting (no member behind its leader): keep waiting
      const restartable = stalled.filter((i) => mayRestart(servers, i, restarts));
      if (restartable.length === 0)
        throw report(
          `a JetStream member stayed behind (or without) its meta leader after ${NATS_STALL_RESTARTS} restarts; stop, remove the NATS store under the state directory (it holds only dev data) and start again`,
        );
      for (const i of restartable) await restartServer(group, servers, i, restarts);
    }
  }
}

/** Whether server `i` has had fewer than {@link NATS_STALL_RESTARTS} restarts (`restarts`, by child name). */
function mayRestart(servers: NatsServers, i: number, restarts: ReadonlyMap<string, number>): boolean {
  return (restarts.get(servers.children[i].name) ?? 0) < NATS_STALL_RESTARTS;
}

/** Restarts server `i` and counts it in `restarts`; `servers.children` is updated in place. */
async function restartServer(
  group: ChildGroup,
  servers: NatsServers,
  i: number,
  restarts: Map<string, number>,
): Promise<void> {
  const old = servers.children[i];
  restarts.set(old.name, (restarts.get(old.name) ?? 0) + 1);
  const { child } = await group.restart(old);
  servers.children[i] = child;
}

/**
 * Resolves once every server names the same JetStream meta leader and the leader lists every other
 * server as a meta peer, twice in a row (at once for a standalone server). Each region elects its own
 * leader before the gateways join; the groups then merge, and the leader changes a few times: a bucket
 * created meanwhile fails, so services wait. With `group`, a server the leader still does not list as a
 * peer after `stallMs` ({@link NATS_STALL_MS}; seen on this 2-core machine: a fresh 3-server cluster
 * whose meta group stayed at size 2 for a minute) is restarted, up to {@link NATS_STALL_RESTARTS}
 * times; `servers.children` is updated in place.
 * @throws LauncherError `LAUNCHER_NOT_READY` after `timeoutMs`; `LAUNCHER_INTERRUPTED` when `signal` aborts.
 */
export async function waitNatsFormed(
  servers: NatsServers,
  timeoutMs: number,
  signal?: AbortSignal,
  group?: ChildGroup,
  stallMs = NATS_STALL_MS,
): Promise<void> {
  if (!servers.clustered) return;
  const deadline = Date.now() + timeoutMs;
  const restarts = new Map<string, number>();
  let agreed = 0;
  let last = '';
  let stalledSince: number | undefined;
  while (Date.now() < deadline && !signal?.aborted) {
    const metas = await Promise.all(
      servers.plans.map(async ({ monitorPort }) => {
        try {
          const { body } = await monitor<{
            meta_cluster?: { leader?: string; cluster_size?: number; replicas?: { name?: string }[] };
          }>(monitorPort, '/jsz');
          return body?.meta_cluster ?? {};
        } catch {
          return undefined;
        }
      }),
    );
    const views = metas.map((m) =>
      m === undefined ? '' : `${m.leader ?? ''}/${m.cluster_size ?? 0}/${m.replicas?.length ?? 0}`,
    );
    last = views.join(', ');
    // Same leader everywhere. cluster_size is not required to equal the server count: followers, and
    // after a restart with an old store even the leader, may report a stale size for a long time.
    const leader = metas[0]?.leader ?? '';
    const same = leader !== '' && metas.every((m) => m?.leader === leader);
    // And the leader knows every other server as a peer (its /jsz lists them): until then a bucket with
    // replicas > 1 may be refused with "no suitable peers for placement".
    const peersKnown = metas.some((m) => (m?.replicas?.length ?? 0) >= servers.plans.length - 1);
    agreed = same && peersKnown ? agreed + 1 : 0;
    if (agreed >= 2) return;
    stalledSince = same && !peersKnown ? (stalledSince ?? Date.now()) : undefined;
    if (group !== undefined && stalledSince !== undefined && Date.now() - stalledSince >= stallMs) {
      await restartUnlisted(group, servers, metas, leader, restarts);
      stalledSince = undefined;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (signal?.aborted) throw new LauncherError(LauncherErrorCode.interrupted, 'start-up interrupted');
  throw new LauncherError(
    LauncherErrorCode.notReady,
    `the NATS supercluster did not agree on a JetStream meta leader: ${last}`,
  );
}

/**
 * Restarts the servers that meta leader `leader` does not list as peers (by `server_name`), each at
 * most {@link NATS_STALL_RESTARTS} times (`restarts` counts them by child name).
 */
async function restartUnlisted(
  group: ChildGroup,
  servers: NatsServers,
  metas: ({ leader?: string; replicas?: { name?: string }[] } | undefined)[],
  leader: string,
  restarts: Map<string, number>,
): Promise<void> {
  const leaderIndex = servers.plans.findIndex((p) => p.serverName === leader);
  if (leaderIndex < 0) return;
  const listed = new Set((metas[leaderIndex]?.replicas ?? []).map((r) => r.name));
  for (const [i, plan] of servers.plans.entries()) {
    if (i === leaderIndex || listed.has(plan.serverName) || !mayRestart(servers, i, restarts)) continue;
    await restartServer(group, servers, i, restarts);
  }
}
