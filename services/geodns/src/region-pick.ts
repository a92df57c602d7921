// Chooses the region a client is sent to: the nearest healthy one by great-circle distance from the
// client's geoip location; a client of unknown location is placed at the default region.
import { isIP } from 'node:net';
import type { AddressService, RegionStatus } from '@switchyard/region-health';
import type { GeoDnsConfig } from './config.ts';
import { distanceKm, type GeoPoint, locate } from './geo-locate.ts';

/** What the picker needs from a region health view (a `RegionHealthView` fits). */
export interface HealthSource {
  /** Regions with live instances. */
  regions(): RegionStatus[];
  /** Addresses live instances of a region advertise for a service ([] when none). */
  addresses(region: string, service: AddressService): string[];
}

/** The outcome of {@link RegionPicker.pick}. */
export interface RegionPick {
  /** Chosen region. */
  region: string;
  /** IP addresses to answer with (heartbeat addresses when any are live, else the static ones). */
  addresses: string[];
  /** True when more than one region could have been chosen, so the answer depends on the client's subnet. */
  byLocation: boolean;
  /** True when no region was healthy and the default region was answered anyway. */
  fallback: boolean;
}

/**
 * Region choice for one query. Candidates are the configured regions with a live instance of the
 * service's kind (grpc-proxy for `grpc`, invocation for `http`, either for `api`); when there is none,
 * any healthy configured region; when no region is healthy, the default region (so DNS still answers
 * while the health feed itself is down).
 */
export class RegionPicker {
  readonly #regions: GeoDnsConfig['geoRegions'];
  readonly #order: string[];
  readonly #defaultRegion: string;
  readonly #health: HealthSource;

  /**
   * @param config regions and default region (validated: the default is a configured region).
   * @param health live view of region health.
   */
  constructor(config: Pick<GeoDnsConfig, 'geoRegions' | 'defaultRegion'>, health: HealthSource) {
    this.#regions = config.geoRegions;
    this.#order = Object.keys(config.geoRegions);
    this.#defaultRegion = config.defaultRegion ?? this.#order[0];
    this.#health = health;
  }

  /** The region used for unknown locations and when nothing is healthy. */
  get defaultRegion(): string {
    return this.#defaultRegion;
  }

  /**
   * Picks the region for a client address (undefined or unknown location: the default region's spot).
   * @param service which front the name stands for.
   * @param clientIp ECS address or resolver address.
   */
  pick(service: AddressService, clientIp: string | undefined): RegionPick {
    const candidates = this.#candidates(service);
    const fallback = candidates.length === 0;
    if (fallback) candidates.push(this.#defaultRegion);
    const here: GeoPoint =
      (clientIp !== undefined ? locate(clientIp) : undefined) ?? this.#regions[this.#defaultRegion];
    let best = candidates[0];
    let bestKm = Number.POSITIVE_INFINITY;
    for (const name of candidates) {
      const km = distanceKm(here, this.#regions[name]);
      if (km < bestKm) {
        best = name;
        bestKm = km;
      }
    }
    const live = fallback ? [] : this.#health.addresses(best, service).filter((a) => isIP(a) !== 0);
    const addresses = live.length > 0 ? live : [...this.#regions[best].addresses[service]];
    return { region: best, addresses, byLocation: candidates.length > 1, fallback };
  }

  #candidates(service: AddressService): string[] {
    const statuses = new Map(this.#health.regions().map((r) => [r.region, r]));
    const configured = this.#order.filter((name) => statuses.get(name)?.healthy);
    const kind = service === 'grpc' ? 'grpc-proxy' : service === 'http' ? 'invocation' : undefined;
    if (kind === undefined) return configured;
    const serving = configured.filter((name) => (statuses.get(name)?.instances[kind] ?? 0) > 0);
    return serving.length > 0 ? serving : configured;
  }
}
