// Which region's ticket stream a new session's ticket goes to (issue 4, item 3). A function whose
// policy is `spill-over` is served by another healthy region when this region has no free capacity
// for the version; `local-only` (the default) never leaves the region. The ticket still names this
// proxy's callback URI, so the remote worker dials back across regions and the client stays here.

import type { NatsConnection } from '@nats-io/nats-core';
import type { FunctionRecord } from '@switchyard/control-store';
import type { RegionHealthView } from '@switchyard/region-health';
import { TicketQueue } from '@switchyard/ticket-queue';
import type { Logger } from 'pino';

/** Per-function placement policy of new sessions; absent means `local-only`. */
export const SpillPolicy = { localOnly: 'local-only', spillOver: 'spill-over' } as const;
export type SpillPolicy = (typeof SpillPolicy)[keyof typeof SpillPolicy];

/** What {@link SpillRouter} needs. */
export interface SpillRouterDeps {
  nc: NatsConnection;
  /** This proxy's region. */
  region: string;
  /** This region's ticket stream. */
  local: TicketQueue;
  /** Heartbeats of every region (free capacity per version); without it nothing spills. */
  health?: RegionHealthView;
  logger: Logger;
}

/**
 * Picks the ticket stream of a new session. Costs nothing on the local path (an in-memory read of
 * the health view); the first spill to a region opens its stream once (one JetStream API round trip
 * across the gateway) and keeps it.
 */
export class SpillRouter {
  readonly #deps: SpillRouterDeps;
  readonly #queues = new Map<string, Promise<TicketQueue>>();

  constructor(deps: SpillRouterDeps) {
    this.#deps = deps;
  }

  /**
   * The region a new session of `fn`/`versionId` should be queued in: this one, unless `fn` has
   * `spillPolicy: 'spill-over'`, this region's workers report no free capacity for the version, and
   * live workers of another region report some (the region with the most free capacity wins; ties
   * by name). Heartbeats are the liveness test: a beat is at most 2 intervals old.
   */
  pickRegion(fn: Pick<FunctionRecord, 'spillPolicy'>, versionId: string): string {
    const { health, region } = this.#deps;
    if (health === undefined || fn.spillPolicy !== SpillPolicy.spillOver) return region;
    if (health.freeCapacity(region, versionId) > 0) return region;
    let best: { region: string; free: number } | undefined;
    // Any region whose live workers report free capacity: the ticket only needs a worker there (it
    // dials back to this proxy), not a proxy or invocation replica, which is what `healthy` means.
    for (const { region: other } of health.regions()) {
      if (other === region) continue;
      const free = health.freeCapacity(other, versionId);
      if (free > 0 && (best === undefined || free > best.free)) best = { region: other, free };
    }
    return best?.region ?? region;
  }

  /**
   * The ticket stream to publish a new session of `fn`/`versionId` to (see {@link pickRegion}). A
   * remote stream that cannot be opened falls back to the local one (the session then waits here,
   * G10), never fails the call.
   */
  async queueFor(fn: Pick<FunctionRecord, 'spillPolicy'>, versionId: string): Promise<TicketQueue> {
    const target = this.pickRegion(fn, versionId);
    if (target === this.#deps.region) return this.#deps.local;
    this.#deps.logger.debug({ region: target, versionId }, 'spill-over: new session queued in another region');
    let queue = this.#queues.get(target);
    if (queue === undefined) {
      // Placed in the target region should this call be the one that creates the stream.
      queue = TicketQueue.open(this.#deps.nc, { region: target, placementTags: [`region:${target}`] });
      this.#queues.set(target, queue);
      queue.catch(() => this.#queues.delete(target));
    }
    try {
      return await queue;
    } catch (err) {
      this.#deps.logger.warn({ err, region: target }, 'spill-over: remote ticket stream unavailable; queued locally');
      return this.#deps.local;
    }
  }
}
