// Child processes of a bench run: spawned with piped output, ready when they print a JSON line with
// `"ready":true`, stopped with SIGTERM (SIGKILL after a grace period), killed when the bench exits.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** Repository root (bench/lib/../..). */
export const REPO_ROOT: string = fileURLToPath(new URL('../../', import.meta.url));

/** Time a child gets to print its ready line, in milliseconds. */
export const DEFAULT_READY_TIMEOUT_MS = 30_000;
/** Grace period between SIGTERM and SIGKILL, in milliseconds. */
export const DEFAULT_STOP_GRACE_MS = 5_000;
const LOG_TAIL_LINES = 60;

const live = new Set<ChildProcess>();
let hooked = false;

function installExitHook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill('SIGKILL');
      process.exit(130);
    });
  }
}

/** Options of {@link spawnChild}. */
export interface SpawnChildOptions {
  /** Extra environment (merged over this process's). */
  env?: Record<string, string>;
  /** Working directory. @default REPO_ROOT */
  cwd?: string;
  /** Wait for a `{"ready":true}` JSON line on stdout. @default true */
  waitReady?: boolean;
  /** @default 30_000 */
  readyTimeoutMs?: number;
  /** Pipe stdin (for children driven by commands). @default false */
  stdin?: boolean;
}

/** A running child started by {@link spawnChild}. */
export interface BenchChild {
  name: string;
  pid: number;
  child: ChildProcess;
  /** The parsed ready line (`{}` when not waited for). */
  ready: Record<string, unknown>;
  /** Resolves with the next stdout JSON line for which `match` is true. */
  nextJson(match: (value: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Last lines of stdout and stderr. */
  logTail(): string;
  /** Resolves when the child has exited (exit code, or null after a signal). */
  exited: Promise<number | null>;
  /** SIGTERM, SIGKILL after the grace period; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Spawns `command args` and, unless told otherwise, resolves once it prints a JSON line with
 * `"ready":true` on stdout. Rejects (and kills the child) if it exits or stays silent first.
 */
export async function spawnChild(
  name: string,
  command: string,
  args: string[],
  options: SpawnChildOptions = {},
): Promise<BenchChild> {
  installExitHook();
  const child = spawn(command, args, {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [Error];
    throw new Error(`${name}: cannot spawn ${command}: ${err.message}`);
  }
  live.add(child);
  const tail: string[] = [];
  const waiters = new Set<{
    match: (v: Record<string, unknown>) => boolean;
    resolve: (v: Record<string, unknown>) => void;
  }>();
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  };
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      keep(line);
      if (!line.startsWith('{')) continue;
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      for (const waiter of waiters) {
        if (waiter.match(value)) {
          waiters.delete(waiter);
          waiter.resolve(value);
          break;
        }
      }
    }
  });
  let errPartial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (errPartial + chunk).split('\n');
    errPartial = lines.pop() ?? '';
    for (const line of lines) keep(line);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
  });
  const logTail = () => [...tail, partial, errPartial].filter((l) => l !== '').join('\n');

  const nextJson = (match: (v: Record<string, unknown>) => boolean, timeoutMs = DEFAULT_READY_TIMEOUT_MS) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const waiter = {
        match,
        resolve: (v: Record<string, unknown>) => {
          clearTimeout(timer);
          resolve(v);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${name}: no expected output within ${timeoutMs} ms\n--- last lines ---\n${logTail()}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then((code) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${name}: exited (code ${code})\n--- last lines ---\n${logTail()}`));
      });
    });

  const handle: BenchChild = {
    name,
    pid: child.pid,
    child,
    ready: {},
    nextJson,
    logTail,
    exited,
    async stop(graceMs = DEFAULT_STOP_GRACE_MS) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  if (options.waitReady ?? true) {
    try {
      handle.ready = await nextJson((v) => v.ready === true, options.readyTimeoutMs);
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }
  return handle;
}

/** Node 24 binary running this bench (the repository's `node` devDependency). */
export function nodeBinary(): string {
  return process.execPath;
}
