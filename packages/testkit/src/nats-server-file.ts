// One nats-server process run from a config file the test supplies (for example the production
// files of infra/nats with ports and paths in the environment), ready when /healthz says ok.

import { spawn } from 'node:child_process';
import { natsServerBinary } from './binaries.ts';
import { getMonitor } from './monitor.ts';
import { registerResource } from './process-registry.ts';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** Options of {@link startNatsFromFile}. */
export interface StartNatsFromFileOptions {
  /** Name in messages (e.g. the `server_name`). */
  name: string;
  /** Path of the config file (`nats-server -c`); its includes resolve relative to its folder. */
  configFile: string;
  /** Environment of the process: the `$VAR` references of the config. This process's PATH and HOME are added. */
  env: Record<string, string>;
  /** HTTP monitoring port the config listens on (`/healthz` is polled there). */
  monitorPort: number;
  /**
   * `/healthz` query, e.g. `?js-enabled-only=true` while the JetStream meta group is not formed yet.
   * @default ''
   */
  healthQuery?: string;
  /** Time allowed to become ready, ms. @default 30000 */
  readyTimeoutMs?: number;
}

/** A nats-server started by {@link startNatsFromFile}. */
export interface NatsFileServerHandle {
  /** Name given in the options. */
  readonly name: string;
  /** Pid of the process. */
  readonly pid: number | undefined;
  /** The last lines of its log (stdout and stderr). */
  logTail(): string;
  /** Every log line seen so far that contains `text` (e.g. `Publish Violation - `). */
  logLines(text: string): string[];
  /** SIGTERM, SIGKILL after 5 s; resolves when it has exited. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `nats-server -c <configFile>` with `env` and waits for `/healthz` on `monitorPort`.
 * The process is stopped by `stop()`, by `stopAll()` or when this process exits.
 * @throws {TestkitError} `TESTKIT_PROCESS_EXITED` when it exits first (bad config: the message ends
 *   with its log), `TESTKIT_NOT_READY` when it is not healthy in time.
 */
export async function startNatsFromFile(options: StartNatsFromFileOptions): Promise<NatsFileServerHandle> {
  const child = spawn(natsServerBinary(), ['-c', options.configFile], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const onData = (chunk: Buffer) =>
    lines.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    );
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      lines.push(`spawn error: ${err.message}`);
      exited = true;
      resolve();
    });
  });
  const killAtExit = () => child.kill('SIGKILL');
  process.once('exit', killAtExit);
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
  const logTail = () => lines.slice(-40).join('\n');
  const terminate = async () => {
    process.removeListener('exit', killAtExit);
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(timer);
  };
  const unregister = registerResource({ stop: terminate });
  const handle: NatsFileServerHandle = {
    name: options.name,
    pid: child.pid,
    logTail,
    logLines: (text) => lines.filter((l) => l.includes(text)),
    stop: async () => {
      unregister();
      await terminate();
    },
  };
  const exitedEarly = new AbortController();
  void exit.then(() => exitedEarly.abort(new Error(`${options.name} exited`)));
  try {
    await waitFor(
      async () => {
        const res = await getMonitor(options.monitorPort, `/healthz${options.healthQuery ?? ''}`);
        return res.status === 200;
      },
      {
        timeoutMs: options.readyTimeoutMs ?? 30_000,
        intervalMs: 100,
        what: `${options.name} /healthz`,
        signal: exitedEarly.signal,
      },
    );
  } catch (err) {
    const hadExited = exited;
    await handle.stop();
    throw new TestkitError(
      hadExited ? TestkitErrorCode.exited : TestkitErrorCode.notReady,
      `${options.name} ${hadExited ? 'exited' : 'not ready'}:\n${logTail()}`,
      { cause: err },
    );
  }
  return handle;
}
