// Client location from geoip-lite (its bundled GeoLite data, ~110 MB in memory, loaded once), and the
// great-circle distance that ranks regions.
import { createRequire } from 'node:module';

/** A point on Earth, degrees. */
export interface GeoPoint {
  lat: number;
  lon: number;
}

interface GeoipLite {
  lookup(ip: string): { ll?: [number, number] } | null;
}

let geoip: GeoipLite | undefined;

/**
 * Loads geoip-lite's data now (about 70 ms), so the first query does not pay for it. Idempotent.
 * @throws Error from geoip-lite when its data files are missing.
 */
export function loadGeoData(): void {
  geoip ??= createRequire(import.meta.url)('geoip-lite') as GeoipLite;
}

/**
 * Location of an IPv4 or IPv6 address (IPv4-mapped IPv6 too), or undefined when geoip-lite does not
 * know it (private, loopback, reserved or unlisted ranges).
 */
export function locate(ip: string): GeoPoint | undefined {
  loadGeoData();
  const ll = geoip?.lookup(ip)?.ll;
  if (ll === undefined || !Number.isFinite(ll[0]) || !Number.isFinite(ll[1])) return undefined;
  return { lat: ll[0], lon: ll[1] };
}

const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle (haversine) distance between two points, in kilometres. */
export function distanceKm(a: GeoPoint, b: GeoPoint): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(h)));
}
