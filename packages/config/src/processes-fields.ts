// Config field of the front ends that can run one instance as several processes (issue 12, "Every core").

import { availableParallelism } from 'node:os';
import { z } from 'zod';

/**
 * Spread into a front end's config schema (gRPC proxy, invocation): `SWITCHYARD_PROCESSES`, how many
 * processes the instance runs. Unset means {@link resolveProcesses}: `os.availableParallelism()`.
 */
export const processesFields = {
  processes: z
    .number()
    .int()
    .min(1)
    .max(1024)
    .optional()
    .describe(
      'Processes this instance runs (node:cluster): each a full replica with its own instance ID, callback port (SWITCHYARD_CALLBACK_PORT + index, 0 = ephemeral; a configured SWITCHYARD_CALLBACK_URI has its port offset likewise) and metrics port (SWITCHYARD_METRICS_PORT + index), sharing the client port; 1 = one process, as before. Unset: os.availableParallelism() (the cores this process may use); `switchyard dev` sets 1.',
    ),
};

/**
 * The process count to run: `configured`, else `os.availableParallelism()` (at least 1).
 * @param configured the `processes` field (undefined when unset).
 */
export function resolveProcesses(configured: number | undefined): number {
  return configured ?? Math.max(1, availableParallelism());
}
