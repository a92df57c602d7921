// Where things are: the repository root, the Node 24 binary children run on, and the entry files
// of the services and sample functions the CLI starts.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, CliErrorCode } from './cli-error.ts';

/** Absolute path of the repository root (services/cli/src/../../..). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../../', import.meta.url));

/** Entry files (absolute) of what the dev stack and `switchyard worker` run. */
export const Entrypoints = {
  api: join(REPO_ROOT, 'services/api/src/main.ts'),
  grpcProxy: join(REPO_ROOT, 'services/grpc-proxy/src/main.ts'),
  worker: join(REPO_ROOT, 'services/worker/src/main.ts'),
  invocation: join(REPO_ROOT, 'services/invocation/src/main.ts'),
  sampleFunctions: join(REPO_ROOT, 'packages/sample-functions/src/main.ts'),
  geodns: join(REPO_ROOT, 'services/geodns/src/main.ts'),
} as const;

/** Major version of Node that runs TypeScript entry files directly (type stripping). */
export const REQUIRED_NODE_MAJOR = 24;

/**
 * Path of a Node 24+ binary: this process's own when it is 24+, else the one the `node`
 * devDependency installs at `<repo>/node_modules/node/bin/node`.
 * @throws CliError CLI_MISSING when neither exists (run `npm install`).
 */
export function node24Binary(): string {
  if (Number(process.versions.node.split('.')[0]) >= REQUIRED_NODE_MAJOR) return process.execPath;
  const local = join(REPO_ROOT, 'node_modules/node/bin/node');
  if (existsSync(local)) return local;
  throw new CliError(CliErrorCode.missing, `Node ${REQUIRED_NODE_MAJOR} is required (this is ${process.version})`, {
    hint: 'run `npm install` at the repository root (it installs Node 24 as a devDependency)',
  });
}

/**
 * Checks that an entry file exists.
 * @throws CliError CLI_MISSING naming the file.
 */
export function requireEntrypoint(path: string, what: string): string {
  if (!existsSync(path))
    throw new CliError(CliErrorCode.missing, `${what} is not built yet: ${path} does not exist`, {
      hint: 'update your checkout (git pull) so that every service has its src/main.ts',
    });
  return path;
}
