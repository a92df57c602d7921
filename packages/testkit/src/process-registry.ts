// Every child process and temp dir the test kit creates is registered here, so that `stopAll`
// (for `after()` hooks) and the process 'exit' / signal hooks can remove them even when a test fails.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Lines of a child's stdout+stderr kept for error messages. */
const LOG_TAIL_LINES = 40;
/** Grace period between SIGTERM and SIGKILL in {@link ManagedProcess.terminate}, in milliseconds. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

/** How a managed child ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned child with its log tail, as returned by {@link spawnManaged}. */
export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves once the child has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  /** True once the child has exited. */
  hasExited(): boolean;
  /** The last lines the child wrote to stdout/stderr, joined with newlines. */
  logTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the child has exited. */
  terminate(graceMs?: number): Promise<ExitInfo>;
  /** SIGKILL now; resolves when the child has exited. */
  killNow(): Promise<ExitInfo>;
}

/** Something {@link stopAll} must stop: a server handle's final stop. */
export interface Stoppable {
  stop(): Promise<void>;
}

const liveChildren = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const resources = new Set<Stoppable>();
let hooksInstalled = false;

/**
 * Spawns `command` with piped output (kept as a log tail), not detached, and registers it so it is
 * SIGKILLed when this process exits. The child and its pipes are unref'd: a test that forgets to stop
 * a server still lets the process exit, and the exit hook then kills the server.
 */
export function spawnManaged(name: string, command: string, args: string[], cwd: string): ManagedProcess {
  installHooks();
  const child = spawn(command, args, { cwd, detached: false, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let partial = '';
  const onData = (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      liveChildren.delete(child);
      resolve(exitInfo);
    });
    child.once('error', (err) => {
      tail.push(`spawn error: ${err.message}`);
      if (exitInfo === undefined && child.pid === undefined) {
        exitInfo = { code: null, signal: null };
        liveChildren.delete(child);
        resolve(exitInfo);
      }
    });
  });
  if (child.pid !== undefined) liveChildren.add(child);
  child.unref();
  unrefStream(child.stdout);
  unrefStream(child.stderr);

  const killNow = async (): Promise<ExitInfo> => {
    if (exitInfo === undefined) child.kill('SIGKILL');
    return exited;
  };
  return {
    name,
    child,
    exited,
    hasExited: () => exitInfo !== undefined,
    logTail: () => [...tail, partial].filter((l) => l.length > 0).join('\n'),
    killNow,
    terminate: async (graceMs = DEFAULT_STOP_GRACE_MS) => {
      if (exitInfo !== undefined) return exitInfo;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        if (exitInfo === undefined) child.kill('SIGKILL');
      }, graceMs);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Creates a registered temp dir (`<tmpdir>/switchyard-<prefix>-XXXXXX`), removed by {@link removeTempDir} or at exit. */
export function makeTempDir(prefix: string): string {
  installHooks();
  const dir = mkdtempSync(join(tmpdir(), `switchyard-${prefix.replace(/[^a-zA-Z0-9_-]/g, '_')}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a temp dir created by {@link makeTempDir}; ignores one already gone. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  tempDirs.delete(dir);
}

/** Registers a resource for {@link stopAll}; returns a function that unregisters it. */
export function registerResource(resource: Stoppable): () => void {
  resources.add(resource);
  return () => {
    resources.delete(resource);
  };
}

/**
 * Stops every server this module started and not yet stopped (nats-server, clusters, superclusters,
 * redis-server), removes their temp dirs, and SIGKILLs any child still left. Meant for `after()` hooks;
 * safe to call more than once.
 *
 * @throws AggregateError when some resource failed to stop (every resource is still attempted).
 */
export async function stopAll(): Promise<void> {
  const pending = [...resources];
  resources.clear();
  const results = await Promise.allSettled(pending.map((r) => r.stop()));
  const leftovers = [...liveChildren];
  for (const child of leftovers) child.kill('SIGKILL');
  await Promise.all(
    leftovers.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? undefined
        : new Promise<void>((resolve) => child.once('exit', () => resolve())),
    ),
  );
  for (const dir of [...tempDirs]) removeTempDir(dir);
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason);
  if (failures.length > 0) throw new AggregateError(failures, `stopAll: ${failures.length} resource(s) failed to stop`);
}

/** Number of children started by this module that are still running (for tests of the kit itself). */
export function liveChildCount(): number {
  return liveChildren.size;
}

/** Pids of the children started by this module that are still running. */
export function livePids(): number[] {
  return [...liveChildren].map((c) => c.pid).filter((p): p is number => p !== undefined);
}

function killAllSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // a killed server may still be closing files; the OS temp cleaner gets the rest
    }
  }
  tempDirs.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  // A signal would otherwise end the process without 'exit'. Kill the children, then let the signal
  // take its default course unless someone else handles it.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      killAllSync();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}

function unrefStream(stream: unknown): void {
  const maybe = stream as { unref?: () => void } | null;
  maybe?.unref?.();
}
