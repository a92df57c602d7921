// Where things are, for the CLI: the Node 24 binary and the entry files of what it starts. The
// region launcher owns the lookups; here their errors become CliErrors (CLI_MISSING).

import {
  type Entrypoints,
  LauncherError,
  LauncherErrorCode,
  node24Binary as launcherNode24Binary,
  requireEntrypoint as launcherRequireEntrypoint,
} from '@switchyard/region-launcher';
import { CliError, CliErrorCode } from './cli-error.ts';

export { Entrypoints, REPO_ROOT, REQUIRED_NODE_MAJOR } from '@switchyard/region-launcher';

/**
 * Maps a LauncherError to the CliError the user sees (same message and hint); anything else is returned as is.
 * @param err what the launcher threw.
 */
export function cliErrorOf(err: unknown): unknown {
  if (!(err instanceof LauncherError)) return err;
  const code = {
    [LauncherErrorCode.portInUse]: CliErrorCode.portInUse,
    [LauncherErrorCode.missing]: CliErrorCode.missing,
    [LauncherErrorCode.notReady]: CliErrorCode.devStart,
    [LauncherErrorCode.interrupted]: CliErrorCode.devStart,
  }[err.code];
  return new CliError(code, err.message, { hint: err.hint, cause: err });
}

function cli<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    throw cliErrorOf(err);
  }
}

/**
 * Path of a Node 24+ binary (this process's own when it is 24+, else `<repo>/node_modules/node/bin/node`).
 * @throws CliError CLI_MISSING when neither exists (run `npm install`).
 */
export function node24Binary(): string {
  return cli(launcherNode24Binary);
}

/**
 * Checks that the entry file of `which` exists.
 * @returns its absolute path.
 * @throws CliError CLI_MISSING naming the file.
 */
export function requireEntrypoint(which: keyof typeof Entrypoints): string {
  return cli(() => launcherRequireEntrypoint(which));
}
