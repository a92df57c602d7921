// The control store's freshness settings as service config fields (zod), shared by the front ends that
// authorize calls (grpc-proxy, invocation), and how they become ControlStore options.

import { z } from 'zod';
import type { ControlStoreOptions } from './control-store-config.ts';
import { DEFAULT_CONTROL_MAX_STALENESS_MS, MIN_CONTROL_MAX_STALENESS_MS } from './control-store-config.ts';

/** Config fields of a front end: the revocation bound and the freshness probe interval. */
export const controlFreshnessFields = {
  controlMaxStalenessMs: z
    .number()
    .int()
    .min(MIN_CONTROL_MAX_STALENESS_MS)
    .default(DEFAULT_CONTROL_MAX_STALENESS_MS)
    .describe(
      'Revocation bound (ms): calls are authorized only while the control data copy is proven to hold every write made more than this long ago; beyond it (NATS or the home region of the control buckets unreachable, a gateway cut included) new calls get UNAVAILABLE/503 SY_CONTROL_UNAVAILABLE and open calls, WebSockets and SSE responses are ended.',
    ),
  controlProbeIntervalMs: z
    .number()
    .int()
    .min(10)
    .optional()
    .describe(
      'Time (ms) between two freshness probes of the control data copy (stream info of the three control buckets, at their leader). At most controlMaxStalenessMs / 2. Default: min(1000, controlMaxStalenessMs / 4).',
    ),
};

/** ControlStore options from a config that has {@link controlFreshnessFields}. */
export function controlFreshnessOptions(config: {
  controlMaxStalenessMs: number;
  controlProbeIntervalMs?: number;
}): Pick<ControlStoreOptions, 'maxStalenessMs' | 'probeIntervalMs'> {
  return { maxStalenessMs: config.controlMaxStalenessMs, probeIntervalMs: config.controlProbeIntervalMs };
}
