// Locates the nats-server and redis-server binaries that the dev stack, the benches and the test kit
// run. nats-server comes from the repository's fetch script (system copy when new enough, else a cached
// Debian build).

import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalToolsError, LocalToolsErrorCode } from './local-tools-error.ts';

const FETCH_SCRIPT = fileURLToPath(new URL('../../../scripts/fetch-nats-server.sh', import.meta.url));
let cachedNats: { env: string | undefined; path: string } | undefined;

/**
 * Path of a nats-server 2.10+ binary. Runs `scripts/fetch-nats-server.sh` once per process (it honours
 * `SWITCHYARD_NATS_SERVER`, then the system binary, then a cached or freshly fetched Debian build) and
 * caches the answer; a later change of `SWITCHYARD_NATS_SERVER` re-runs it.
 *
 * @returns absolute path of the binary.
 * @throws {LocalToolsError} code `LOCAL_TOOLS_BINARY_MISSING` when the script fails; the message carries its stderr.
 */
export function natsServerBinary(): string {
  const env = process.env.SWITCHYARD_NATS_SERVER;
  if (cachedNats !== undefined && cachedNats.env === env) return cachedNats.path;
  let out: string;
  try {
    out = execFileSync('bash', [FETCH_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new LocalToolsError(
      LocalToolsErrorCode.binaryMissing,
      `could not find or fetch nats-server 2.10+ (${FETCH_SCRIPT}): ${stderr.trim() || String(err)}. ` +
        'Install nats-server 2.10+ from https://github.com/nats-io/nats-server/releases and set SWITCHYARD_NATS_SERVER=/path/to/nats-server',
      { cause: err },
    );
  }
  const path = out.trim().split('\n').pop() ?? '';
  if (path === '') {
    throw new LocalToolsError(LocalToolsErrorCode.binaryMissing, `${FETCH_SCRIPT} printed no nats-server path`);
  }
  cachedNats = { env, path };
  return path;
}

/**
 * Path of redis-server: `SWITCHYARD_REDIS_SERVER` when set, else `redis-server` found on `PATH`.
 *
 * @returns path of an executable redis-server.
 * @throws {LocalToolsError} code `LOCAL_TOOLS_BINARY_MISSING` naming how to install it when none is found or
 *   `SWITCHYARD_REDIS_SERVER` is not executable.
 */
export function redisServerBinary(): string {
  const configured = process.env.SWITCHYARD_REDIS_SERVER;
  if (configured !== undefined && configured !== '') {
    if (isExecutable(configured)) return configured;
    throw new LocalToolsError(
      LocalToolsErrorCode.binaryMissing,
      `SWITCHYARD_REDIS_SERVER=${configured} is not an executable file`,
    );
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  throw new LocalToolsError(
    LocalToolsErrorCode.binaryMissing,
    'redis-server not found on PATH: install it (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) ' +
      'or set SWITCHYARD_REDIS_SERVER=/path/to/redis-server',
  );
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
