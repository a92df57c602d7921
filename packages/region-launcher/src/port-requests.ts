// Listener ports of a launch: a requested port must be free (else a LauncherError naming it and how
// to change it), 0 becomes a free port distinct from the others of the same call.

import { freePort, isPortFree } from '@switchyard/local-tools';
import { LauncherError, LauncherErrorCode } from './launcher-error.ts';

/** One listener port to resolve. */
export interface PortRequest {
  /** Human name, e.g. `gRPC proxy` or `us-east API`. */
  what: string;
  /** Requested port; 0 = any free port. */
  port: number;
  /** What to tell the user when the port is taken (e.g. the flag that changes it). */
  hint?: string;
}

/**
 * Resolves every request: 0 becomes a free port (never one already in `taken` or in this answer);
 * others must be bindable now.
 * @param taken ports already handed out elsewhere in the same launch.
 * @returns the ports, in the order given.
 * @throws LauncherError `LAUNCHER_PORT_IN_USE` naming the first taken port, with the request's hint.
 */
export async function resolvePorts(requests: readonly PortRequest[], taken: readonly number[] = []): Promise<number[]> {
  const ports: number[] = [];
  for (const request of requests) {
    if (request.port === 0) {
      let port = await freePort();
      while (ports.includes(port) || taken.includes(port)) port = await freePort();
      ports.push(port);
      continue;
    }
    if (!(await isPortFree(request.port)))
      throw new LauncherError(LauncherErrorCode.portInUse, `port ${request.port} (${request.what}) is already in use`, {
        hint: request.hint,
      });
    ports.push(request.port);
  }
  return ports;
}

/** `count` free loopback ports, distinct from each other and from `taken`. */
export function freePorts(count: number, what: string, taken: readonly number[] = []): Promise<number[]> {
  return resolvePorts(
    Array.from({ length: count }, () => ({ what, port: 0 })),
    taken,
  );
}
