// Subscribes to every heartbeat of every region (core NATS, `health.>`) and keeps the live instances in
// memory: which regions are healthy (D2), their advertised addresses and their workers' free capacity.
// Beats are aged by this process's clock when they arrive, so clock skew between regions does not matter.

import { EventEmitter } from 'node:events';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { decodeMessage, type Heartbeat, HeartbeatSchema, type InstanceKind, NatsNames } from '@switchyard/protocol';

/** Default number of missed intervals after which an instance is stale (D2: "within 2 intervals"). */
export const DEFAULT_STALE_AFTER_INTERVALS = 2;

/** Client-facing services whose addresses instances advertise. */
export type AddressService = 'grpc' | 'http' | 'api';

/** Options for {@link RegionHealthView.start}. */
export interface RegionHealthViewOptions {
  /**
   * An instance is dropped when no beat arrived for `staleAfterIntervals * intervalMs` (its own interval).
   * @default 2
   */
  staleAfterIntervals?: number;
}

/** What a view knows of one region. */
export interface RegionStatus {
  /** Region name. */
  region: string;
  /** True while at least one grpc-proxy or invocation instance of the region is live. */
  healthy: boolean;
  /** Live instances per kind. */
  instances: Record<InstanceKind, number>;
  /** When the region's latest beat arrived, epoch ms by this process's clock. */
  lastBeatAtMs: number;
}

/** One live instance as {@link RegionHealthView.instances} lists it. */
export interface LiveInstanceStatus {
  /** Its latest beat. */
  beat: Heartbeat;
  /** Time since that beat arrived, ms (by this process's clock). */
  ageMs: number;
}

interface LiveInstance {
  beat: Heartbeat;
  receivedAtMs: number;
  expiresAtMs: number;
}

const SERVING_KINDS: ReadonlySet<InstanceKind> = new Set(['grpc-proxy', 'invocation']);

/**
 * The live instances of every region, as their heartbeats tell. Emits `change` whenever an instance
 * appears, leaves (`intervalMs: 0`), goes stale, or changes its addresses, version or capacity.
 * Contract (D2): a region stops being healthy at most `staleAfterIntervals * intervalMs` after its last
 * serving instance's last beat, and is healthy again as soon as one beat of such an instance arrives.
 */
export class RegionHealthView extends EventEmitter<{ change: [] }> {
  readonly #staleAfterIntervals: number;
  readonly #instances = new Map<string, LiveInstance>();
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #invalidBeats = 0;

  private constructor(staleAfterIntervals: number) {
    super();
    this.#staleAfterIntervals = staleAfterIntervals;
  }

  /**
   * Subscribes to `health.>`, resolves once the server has the subscription, then asks every front end
   * to beat now (`health-beat-request`): serving instances are known within a round trip of the start,
   * workers (and front ends of earlier releases) within one interval. Beats published before the
   * subscription are not seen.
   *
   * @param nc a connected NATS connection (not closed by the view).
   * @param options staleness.
   * @throws TypeError when staleAfterIntervals is not a number > 0; NATS errors from the flush.
   */
  static async start(nc: NatsConnection, options: RegionHealthViewOptions = {}): Promise<RegionHealthView> {
    const stale = options.staleAfterIntervals ?? DEFAULT_STALE_AFTER_INTERVALS;
    if (!(stale > 0)) throw new TypeError(`staleAfterIntervals must be > 0, got ${stale}`);
    const view = new RegionHealthView(stale);
    view.#sub = nc.subscribe(NatsNames.healthWildcard, {
      callback: (err, msg) => {
        if (err === null) view.#onMessage(msg);
      },
    });
    await nc.flush();
    try {
      nc.publish(NatsNames.healthBeatRequest);
    } catch {
      // Closed or draining: the interval beats will tell.
    }
    return view;
  }

  /** Beats dropped because they did not parse or did not match their subject. */
  get invalidBeats(): number {
    return this.#invalidBeats;
  }

  /** Every region with at least one live instance, sorted by name. */
  regions(): RegionStatus[] {
    const now = Date.now();
    const byRegion = new Map<string, RegionStatus>();
    for (const live of this.#instances.values()) {
      if (live.expiresAtMs <= now) continue;
      const name = live.beat.region;
      let status = byRegion.get(name);
      if (status === undefined) {
        status = {
          region: name,
          healthy: false,
          instances: { 'grpc-proxy': 0, invocation: 0, worker: 0 },
          lastBeatAtMs: 0,
        };
        byRegion.set(name, status);
      }
      status.instances[live.beat.kind]++;
      if (SERVING_KINDS.has(live.beat.kind)) status.healthy = true;
      status.lastBeatAtMs = Math.max(status.lastBeatAtMs, live.receivedAtMs);
    }
    return [...byRegion.values()].sort((a, b) => a.region.localeCompare(b.region));
  }

  /**
   * Every live instance's latest beat with its age, sorted by region, kind and instance ID (the live
   * status page reads this).
   */
  instances(): LiveInstanceStatus[] {
    const now = Date.now();
    const out: LiveInstanceStatus[] = [];
    for (const live of this.#instances.values()) {
      if (live.expiresAtMs > now) out.push({ beat: live.beat, ageMs: now - live.receivedAtMs });
    }
    const key = (i: LiveInstanceStatus) => `${i.beat.region}\u0000${i.beat.kind}\u0000${i.beat.instanceId}`;
    return out.sort((a, b) => key(a).localeCompare(key(b)));
  }

  /** Names of the regions with at least one live grpc-proxy or invocation instance, sorted. */
  healthyRegions(): string[] {
    return this.regions()
      .filter((r) => r.healthy)
      .map((r) => r.region);
  }

  /**
   * Free capacity of a function version in a region: the sum of `freeCapacity` over its live workers
   * serving `versionId` (0 when none).
   */
  freeCapacity(region: string, versionId: string): number {
    let sum = 0;
    for (const beat of this.#live()) {
      if (beat.region === region && beat.kind === 'worker' && beat.versionId === versionId)
        sum += beat.freeCapacity ?? 0;
    }
    return sum;
  }

  /**
   * Addresses that live instances of a region advertise for a service, deduplicated, in the order
   * first seen; [] when none do (callers then fall back to static configuration).
   */
  addresses(region: string, service: AddressService): string[] {
    const out = new Set<string>();
    for (const beat of this.#live()) {
      if (beat.region !== region) continue;
      for (const address of beat.addresses?.[service] ?? []) out.add(address);
    }
    return [...out];
  }

  /** Unsubscribes and forgets every instance. Idempotent. */
  stop(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#instances.clear();
  }

  *#live(): Iterable<Heartbeat> {
    const now = Date.now();
    for (const live of this.#instances.values()) if (live.expiresAtMs > now) yield live.beat;
  }

  #onMessage(msg: Msg): void {
    const beat = parseBeat(msg);
    if (beat === undefined) {
      this.#invalidBeats++;
      return;
    }
    const key = msg.subject;
    const before = this.#instances.get(key);
    if (beat.intervalMs === 0) {
      if (this.#instances.delete(key)) this.emit('change');
      return;
    }
    const now = Date.now();
    const expiresAtMs = now + this.#staleAfterIntervals * beat.intervalMs;
    this.#instances.set(key, { beat, receivedAtMs: now, expiresAtMs });
    this.#schedule(expiresAtMs);
    if (before === undefined || before.expiresAtMs <= now || !sameView(before.beat, beat)) this.emit('change');
  }

  /** Keeps one timer, at the earliest expiry, so a stale instance is noticed (and `change` emitted) on time. */
  #schedule(atMs: number): void {
    if (this.#sub === undefined || atMs >= this.#timerAtMs) return;
    clearTimeout(this.#timer);
    this.#timerAtMs = atMs;
    this.#timer = setTimeout(() => this.#sweep(), Math.max(0, atMs - Date.now()) + 1);
    this.#timer.unref();
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let changed = false;
    let next = Number.POSITIVE_INFINITY;
    for (const [key, live] of this.#instances) {
      if (live.expiresAtMs <= now) {
        this.#instances.delete(key);
        changed = true;
      } else next = Math.min(next, live.expiresAtMs);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#schedule(next);
    if (changed) this.emit('change');
  }
}

/** The beat of a message, or undefined when it does not parse or does not match its subject. */
function parseBeat(msg: Msg): Heartbeat | undefined {
  try {
    const beat = decodeMessage(HeartbeatSchema, msg.data);
    return msg.subject === NatsNames.healthSubject(beat.region, beat.kind, beat.instanceId) ? beat : undefined;
  } catch {
    return undefined; // bad JSON, wrong shape, or names that are not subject tokens
  }
}

/** True when two beats of one instance say the same to a reader (ignores atMs). */
function sameView(a: Heartbeat, b: Heartbeat): boolean {
  return (
    a.intervalMs === b.intervalMs &&
    a.versionId === b.versionId &&
    a.freeCapacity === b.freeCapacity &&
    JSON.stringify(a.addresses ?? null) === JSON.stringify(b.addresses ?? null)
  );
}
