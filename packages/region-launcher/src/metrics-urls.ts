// The metrics endpoints of launched children, read from their ready lines (`"metrics": "http://..."`),
// for `.switchyard/dev.json` under `metrics`, one per process; and the same map as Prometheus
// file-based discovery target groups (infra/prometheus/scrape-config.example.yaml, job `switchyard-files`).

import type { LaunchedChild } from './launched-child.ts';

/**
 * `{ key: "http://127.0.0.1:PORT/metrics" }` for each child that printed a metrics URL in its ready
 * line; children without one (metrics off, not ready yet) are left out. A front end running N
 * processes (`SWITCHYARD_PROCESSES`, its ready line's `children`) has one entry per process: `key`
 * for process 0 (the instance's own URL) and `key/<index>` for process 1..N-1, each its own metrics port.
 * @param children children by the key they get in dev.json (`grpc-proxy`, `worker-echo`, ...).
 */
export function metricsUrls(children: Record<string, LaunchedChild | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, child] of Object.entries(children)) {
    const url = child?.readyLine?.metrics;
    if (typeof url === 'string') out[key] = url;
    const processes = child?.readyLine?.children;
    if (!Array.isArray(processes)) continue;
    for (const p of processes as { index?: unknown; metrics?: unknown }[])
      if (typeof p?.index === 'number' && p.index > 0 && typeof p.metrics === 'string')
        out[`${key}/${p.index}`] = p.metrics;
  }
  return out;
}

/** One file_sd target group: the processes of one service in one region. */
export interface ScrapeTargetGroup {
  /** `host:port` of each process's metrics endpoint (scraped at `/metrics`), sorted. */
  targets: string[];
  /** The target labels the alerts of infra/prometheus read `up` by. */
  labels: { switchyard_region: string; switchyard_service: string };
}

/**
 * The service a dev.json `metrics` key names: `worker-<function>` is `worker`, `<key>/<index>` (process
 * `index` of a front end) is the key's service; any other key is the service's own name.
 * @param key e.g. `grpc-proxy`, `grpc-proxy/1`, `worker-echo`, `geodns`.
 */
export function serviceOfMetricsKey(key: string): string {
  const base = key.split('/')[0];
  return base.startsWith('worker-') ? 'worker' : base;
}

/**
 * dev.json's `metrics` (region, or `global` for geodns, -> key -> URL) as file_sd target groups: one
 * group per region and service, one target per URL (so per process), groups sorted by region then service.
 * @param metrics the `metrics` object of `.switchyard/dev.json`.
 * @throws TypeError when a URL is not a valid URL.
 */
export function scrapeTargets(metrics: Record<string, Record<string, string>>): ScrapeTargetGroup[] {
  const groups = new Map<string, ScrapeTargetGroup>();
  for (const [region, urls] of Object.entries(metrics))
    for (const [key, url] of Object.entries(urls)) {
      const service = serviceOfMetricsKey(key);
      const id = `${region}\u0000${service}`;
      let group = groups.get(id);
      if (group === undefined) {
        group = { targets: [], labels: { switchyard_region: region, switchyard_service: service } };
        groups.set(id, group);
      }
      group.targets.push(new URL(url).host);
    }
  for (const g of groups.values()) g.targets.sort();
  return [...groups.keys()].sort().map((id) => groups.get(id) as ScrapeTargetGroup);
}
