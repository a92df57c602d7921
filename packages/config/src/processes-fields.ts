// Config field of the front ends that can run one instance as several processes (issue 12, "Every core").

import { availableParallelism } from 'node:os';
import { z } from 'zod';

/**
 * Spread into a front end's config schema (gRPC proxy, invocation): `SWITCHYARD_PROCESSES`, how many
 * processes the instance runs (unset means {@link resolveProcesses}: `os.availableParallelism()`), and
 * `SWITCHYARD_PROCESS_LIVENESS_TIMEOUT_MS`, after how long without any answer the primary kills a process.
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
  processLivenessTimeoutMs: z
    .number()
    .int()
    .min(0)
    .default(30_000)
    .describe(
      'With several processes: a process (other than process 0, which the orchestrator probes) whose /readyz gives no answer at all (timeout or refused; a 503 is an answer) for this long is killed with SIGKILL and restarted, since the connections handed to it would hang; ms, 0 = never. Needs the metrics port (SWITCHYARD_METRICS_ENABLED).',
    ),
};

/**
 * The process count to run: `configured`, else `os.availableParallelism()` (at least 1).
 * @param configured the `processes` field (undefined when unset).
 */
export function resolveProcesses(configured: number | undefined): number {
  return configured ?? Math.max(1, availableParallelism());
}
