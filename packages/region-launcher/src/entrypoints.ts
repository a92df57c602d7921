// Where things are: the repository root, the Node 24 binary children run on, the entry files of the
// services and sample functions a region runs, and the nats-server / redis-server binaries.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalToolsError, natsServerBinary, redisServerBinary } from '@switchyard/local-tools';
import { LauncherError, LauncherErrorCode } from './launcher-error.ts';

/** Absolute path of the repository root (packages/region-launcher/src/../../..). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../../', import.meta.url));

/** Entry files (absolute) of what a region runs. */
export const Entrypoints = {
  api: join(REPO_ROOT, 'services/api/src/main.ts'),
  grpcProxy: join(REPO_ROOT, 'services/grpc-proxy/src/main.ts'),
  worker: join(REPO_ROOT, 'services/worker/src/main.ts'),
  invocation: join(REPO_ROOT, 'services/invocation/src/main.ts'),
  sampleFunctions: join(REPO_ROOT, 'packages/sample-functions/src/main.ts'),
  geodns: join(REPO_ROOT, 'services/geodns/src/main.ts'),
} as const;

/** Folder of each entry file, for messages. */
const ENTRY_FOLDERS: Record<keyof typeof Entrypoints, string> = {
  api: 'services/api',
  grpcProxy: 'services/grpc-proxy',
  worker: 'services/worker',
  invocation: 'services/invocation',
  sampleFunctions: 'packages/sample-functions',
  geodns: 'services/geodns',
};

/** Major version of Node that runs TypeScript entry files directly (type stripping). */
export const REQUIRED_NODE_MAJOR = 24;

/**
 * Path of a Node 24+ binary: this process's own when it is 24+, else the one the `node`
 * devDependency installs at `<repo>/node_modules/node/bin/node`.
 * @throws LauncherError `LAUNCHER_MISSING` when neither exists (run `npm install`).
 */
export function node24Binary(): string {
  if (Number(process.versions.node.split('.')[0]) >= REQUIRED_NODE_MAJOR) return process.execPath;
  const local = join(REPO_ROOT, 'node_modules/node/bin/node');
  if (existsSync(local)) return local;
  throw new LauncherError(
    LauncherErrorCode.missing,
    `Node ${REQUIRED_NODE_MAJOR} is required (this is ${process.version})`,
    {
      hint: 'run `npm install` at the repository root (it installs Node 24 as a devDependency)',
    },
  );
}

/**
 * Checks that the entry file of `which` exists.
 * @returns its absolute path.
 * @throws LauncherError `LAUNCHER_MISSING` naming the file.
 */
export function requireEntrypoint(which: keyof typeof Entrypoints): string {
  const path = Entrypoints[which];
  if (!existsSync(path))
    throw new LauncherError(
      LauncherErrorCode.missing,
      `${ENTRY_FOLDERS[which]} is not built yet: ${path} does not exist`,
      {
        hint: 'update your checkout (git pull) so that every service has its src/main.ts',
      },
    );
  return path;
}

/**
 * Paths of nats-server and redis-server (see @switchyard/local-tools).
 * @throws LauncherError `LAUNCHER_MISSING` with the lookup's message and how to install them.
 */
export function infraBinaries(): { nats: string; redis: string } {
  try {
    return { nats: natsServerBinary(), redis: redisServerBinary() };
  } catch (err) {
    if (!(err instanceof LocalToolsError)) throw err;
    throw new LauncherError(LauncherErrorCode.missing, err.message, {
      hint: 'run `bash scripts/ensure-tools.sh` (what `npm start` does first)',
      cause: err,
    });
  }
}
