// A throwaway redis-server on a free loopback port: no persistence, own temp dir, ready when it
// answers PING with PONG.

import { redisPing } from '@switchyard/local-tools';
import { redisServerBinary } from './binaries.ts';
import { freePort } from './ports.ts';
import { makeTempDir, registerResource, removeTempDir, spawnManaged } from './process-registry.ts';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** Default time redis-server gets to answer PING, in milliseconds. */
export const DEFAULT_REDIS_READY_TIMEOUT_MS = 10_000;

/** A running redis-server started by {@link startRedis}. */
export interface RedisHandle {
  /** TCP port on 127.0.0.1. */
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** SIGTERM, wait for exit (SIGKILL after 5 s), remove the temp dir. */
  stop(): Promise<void>;
  /** SIGKILL now, wait for exit, remove the temp dir. */
  kill(): Promise<void>;
}

/**
 * Starts redis-server on a free loopback port with `--save "" --appendonly no` and resolves once it
 * answers PING with PONG.
 *
 * @param options.port a fixed port (e.g. the port of a server a test stopped, to restart it at the
 *   same address, empty); default a free one.
 * @returns the running server; `stopAll()` also stops it.
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING` when redis-server is not installed; `TESTKIT_NOT_READY` /
 *   `TESTKIT_PROCESS_EXITED` with its last log lines when it does not come up.
 */
export async function startRedis(options: { port?: number } = {}): Promise<RedisHandle> {
  const binary = redisServerBinary();
  const port = options.port ?? (await freePort());
  const dir = makeTempDir(`redis-${port}`);
  // biome-ignore format: flag/value pairs read better one pair per line
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--dir', dir,
    '--daemonize', 'no',
    '--protected-mode', 'no',
    '--logfile', '',
  ];
  const proc = spawnManaged(`redis-${port}`, binary, args, dir);
  const finish = async (how: 'stop' | 'kill') => {
    unregister();
    try {
      await (how === 'stop' ? proc.terminate() : proc.killNow());
    } finally {
      removeTempDir(dir);
    }
  };
  const handle: RedisHandle = {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => finish('stop'),
    kill: () => finish('kill'),
  };
  const unregister = registerResource(handle);
  const abort = new AbortController();
  const exitedEarly = proc.exited.then((info) => {
    if (abort.signal.aborted) return;
    throw new TestkitError(
      TestkitErrorCode.exited,
      `redis-server on 127.0.0.1:${port} exited while starting (code ${info.code}, signal ${info.signal})\n--- last log lines ---\n${proc.logTail()}`,
    );
  });
  const ready = waitFor(() => redisPing(port), {
    timeoutMs: DEFAULT_REDIS_READY_TIMEOUT_MS,
    intervalMs: 50,
    what: 'PONG',
    signal: abort.signal,
  });
  try {
    await Promise.race([ready, exitedEarly]);
  } catch (err) {
    await handle.kill().catch(() => {});
    if (err instanceof TestkitError && err.code === TestkitErrorCode.exited) throw err;
    throw new TestkitError(
      TestkitErrorCode.notReady,
      `redis-server on 127.0.0.1:${port} not ready: ${err instanceof Error ? err.message : String(err)}\n--- last log lines ---\n${proc.logTail()}`,
      { cause: err },
    );
  } finally {
    abort.abort();
    ready.catch(() => {});
    exitedEarly.catch(() => {});
  }
  return handle;
}
