// The metrics endpoints of launched children, read from their ready lines (`"metrics": "http://..."`),
// for `.switchyard/dev.json` under `metrics`.

import type { LaunchedChild } from './launched-child.ts';

/**
 * `{ key: "http://127.0.0.1:PORT/metrics" }` for each child that printed a metrics URL in its ready
 * line; children without one (metrics off, not ready yet) are left out.
 * @param children children by the key they get in dev.json (`grpc-proxy`, `worker-echo`, ...).
 */
export function metricsUrls(children: Record<string, LaunchedChild | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, child] of Object.entries(children)) {
    const url = child?.readyLine?.metrics;
    if (typeof url === 'string') out[key] = url;
  }
  return out;
}
