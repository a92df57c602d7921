// Listener ports of the dev stack: the documented defaults unless a flag or variable says
// otherwise; 0 picks a free port; a taken port fails fast naming how to change it.

import { resolvePorts } from '@switchyard/region-launcher';
import { CliError, CliErrorCode } from './cli-error.ts';
import { cliErrorOf } from './node-binary.ts';

/** One configurable listener of the dev stack. */
export interface DevPortSpec {
  /** Human name, e.g. `gRPC proxy`. */
  what: string;
  /** Flag that sets it, e.g. `--grpc-port`. */
  flag: string;
  /** Environment variable that sets it, e.g. `SWITCHYARD_DEV_GRPC_PORT`. */
  envVar: string;
  /** Requested port; 0 = any free port. */
  port: number;
}

/**
 * Resolves every requested port: 0 becomes a free port; others must be free.
 * @returns the ports, in the order given.
 * @throws CliError CLI_PORT_IN_USE naming the first taken port with its flag and variable.
 */
export async function resolveDevPorts(specs: readonly DevPortSpec[]): Promise<number[]> {
  try {
    return await resolvePorts(
      specs.map((spec) => ({
        what: spec.what,
        port: spec.port,
        hint: `stop what listens there, or pass ${spec.flag} N or set ${spec.envVar}=N (0 = any free port)`,
      })),
    );
  } catch (err) {
    throw cliErrorOf(err);
  }
}

/**
 * Parses a port from a flag or variable value.
 * @throws CliError CLI_USAGE for anything but an integer 0..65535.
 */
export function parsePort(value: string, flag: string): number {
  const port = Number(value);
  if (value.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535)
    throw new CliError(CliErrorCode.usage, `${flag} must be an integer in 0..65535, got ${JSON.stringify(value)}`);
  return port;
}
