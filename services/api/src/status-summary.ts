// The live status of every region (GET /v1/status, the /ui page, `switchyard status`), built from the
// heartbeats this API's RegionHealthView holds: no KV read, no NATS round trip per request. Session
// counts are what workers and proxies report in their beats; call summaries are each front end's
// last minute (@switchyard/region-health CallWindow).

import type { CallSummary, Heartbeat } from '@switchyard/protocol';
import type { LiveInstanceStatus, RegionHealthView } from '@switchyard/region-health';

/** A gRPC proxy or invocation instance. */
export interface FrontEndStatus {
  instanceId: string;
  /** Time since its last beat arrived, ms. */
  ageMs: number;
  /** Proxy: sessions with client connections there; invocation: requests in flight. */
  sessions: number;
  /** Its last minute of calls (absent when its beat carries none, e.g. an older version). */
  calls?: CallSummary;
}

/** One worker. */
export interface WorkerStatus {
  instanceId: string;
  ageMs: number;
  /** Function version it serves. */
  versionId: string;
  /** Capacity units in all (absent from older beats). */
  capacity?: number;
  /** Capacity units free now. */
  freeCapacity: number;
  /** Sessions it holds. */
  sessions: number;
}

/** Capacity of one function version in a region, summed over its live workers. */
export interface VersionCapacity {
  versionId: string;
  workers: number;
  capacity: number;
  freeCapacity: number;
  sessions: number;
}

/** One region. */
export interface RegionLiveStatus {
  region: string;
  /** True while some gRPC proxy or invocation instance of the region beats (D2). */
  healthy: boolean;
  /** Time since the region's latest beat, ms. */
  lastBeatAgeMs: number;
  /** Sessions held by the region's workers. */
  sessions: number;
  /** Calls of the region's front ends over the last minute: sums, and the worst instance's percentiles. */
  calls: { count: number; errors: number; worstP50Ms?: number; worstP95Ms?: number };
  proxies: FrontEndStatus[];
  invocations: FrontEndStatus[];
  workers: WorkerStatus[];
  versions: VersionCapacity[];
}

/** Body of GET /v1/status. */
export interface StatusDocument {
  /** Region of the API that answered. */
  servedBy: string;
  /** Epoch ms of this document, by the API's clock. */
  generatedAtMs: number;
  /** Every region with a live instance, sorted by name. */
  regions: RegionLiveStatus[];
}

function frontEnd(live: LiveInstanceStatus): FrontEndStatus {
  const { beat } = live;
  return {
    instanceId: beat.instanceId,
    ageMs: live.ageMs,
    sessions: beat.sessions ?? 0,
    ...(beat.calls !== undefined ? { calls: beat.calls } : {}),
  };
}

function worker(live: LiveInstanceStatus): WorkerStatus {
  const beat: Heartbeat = live.beat;
  return {
    instanceId: beat.instanceId,
    ageMs: live.ageMs,
    versionId: beat.versionId ?? 'unknown',
    ...(beat.capacity !== undefined ? { capacity: beat.capacity } : {}),
    freeCapacity: beat.freeCapacity ?? 0,
    sessions: beat.sessions ?? 0,
  };
}

const maxOf = (a: number | undefined, b: number | undefined) =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);

/**
 * The status of every region `view` knows of.
 * @param servedBy region of this API.
 */
export function buildStatus(view: RegionHealthView | undefined, servedBy: string): StatusDocument {
  const doc: StatusDocument = { servedBy, generatedAtMs: Date.now(), regions: [] };
  if (view === undefined) return doc;
  const byRegion = new Map<string, RegionLiveStatus>();
  for (const r of view.regions()) {
    byRegion.set(r.region, {
      region: r.region,
      healthy: r.healthy,
      lastBeatAgeMs: Math.max(0, doc.generatedAtMs - r.lastBeatAtMs),
      sessions: 0,
      calls: { count: 0, errors: 0 },
      proxies: [],
      invocations: [],
      workers: [],
      versions: [],
    });
  }
  for (const live of view.instances()) {
    const region = byRegion.get(live.beat.region);
    if (region === undefined) continue; // expired between the two reads
    if (live.beat.kind === 'worker') {
      const w = worker(live);
      region.workers.push(w);
      region.sessions += w.sessions;
      let version = region.versions.find((v) => v.versionId === w.versionId);
      if (version === undefined) {
        version = { versionId: w.versionId, workers: 0, capacity: 0, freeCapacity: 0, sessions: 0 };
        region.versions.push(version);
      }
      version.workers++;
      version.capacity += w.capacity ?? w.freeCapacity;
      version.freeCapacity += w.freeCapacity;
      version.sessions += w.sessions;
      continue;
    }
    const f = frontEnd(live);
    (live.beat.kind === 'grpc-proxy' ? region.proxies : region.invocations).push(f);
    if (f.calls !== undefined) {
      region.calls.count += f.calls.count;
      region.calls.errors += f.calls.errors;
      const p50 = maxOf(region.calls.worstP50Ms, f.calls.p50Ms);
      const p95 = maxOf(region.calls.worstP95Ms, f.calls.p95Ms);
      if (p50 !== undefined) region.calls.worstP50Ms = p50;
      if (p95 !== undefined) region.calls.worstP95Ms = p95;
    }
  }
  for (const region of byRegion.values()) region.versions.sort((a, b) => a.versionId.localeCompare(b.versionId));
  doc.regions = [...byRegion.values()];
  return doc;
}
