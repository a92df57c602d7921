// The children of a launch, in start order, each in a stop tier: stop() ends the highest tier first
// (workers end their sessions while proxies still run), NATS and Redis last. Readiness failures
// become one LauncherError naming the child with its last lines and its log file.

import { mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { type ChildExit, type ChildSpec, LaunchedChild } from './launched-child.ts';
import { LauncherError, LauncherErrorCode } from './launcher-error.ts';

/** Stop tiers: higher tiers stop first. */
export const StopTier = {
  /** nats-server, redis-server. */
  infra: 0,
  /** api, grpc-proxy, invocation, sample containers, geodns. */
  services: 1,
  /** Workers: they end their sessions and close their tunnels before anything else stops. */
  workers: 2,
} as const;
export type StopTier = (typeof StopTier)[keyof typeof StopTier];

/** `path` relative to the working directory when it is inside it, else absolute. */
export function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

/** Options of {@link ChildGroup}. */
export interface ChildGroupOptions {
  /** Directory of the children's log files (`<name>.log`, absolute); @default none (tails only). */
  logDir?: string;
  /** Working directory of every child. @default this process's */
  cwd?: string;
}

/** The running children of a launch: started in order, stopped tier by tier. */
export class ChildGroup {
  /** Every child started, in start order. */
  readonly children: LaunchedChild[] = [];
  /** Log directory, when children write log files. */
  readonly logDir: string | undefined;
  /** True once a stop has begun (exits after that are expected). */
  stopping = false;
  readonly #cwd: string | undefined;
  readonly #tiers = new Map<LaunchedChild, number>();
  readonly #restarting = new Set<LaunchedChild>();

  /** @param options log directory (created when missing) and working directory of the children. */
  constructor(options: ChildGroupOptions = {}) {
    this.logDir = options.logDir;
    if (options.logDir !== undefined) mkdirSync(options.logDir, { recursive: true });
    this.#cwd = options.cwd;
  }

  /**
   * Starts a child in a stop tier (its log file is `<logDir>/<name>.log` when the group has a log dir).
   * @returns the child, not yet ready (see {@link waitReady}).
   */
  start(tier: StopTier, spec: Omit<ChildSpec, 'logFile' | 'cwd'>): LaunchedChild {
    const child = new LaunchedChild({
      ...spec,
      cwd: this.#cwd,
      logFile: this.logDir === undefined ? undefined : join(this.logDir, `${spec.name}.log`),
    });
    this.children.push(child);
    this.#tiers.set(child, tier);
    return child;
  }

  /**
   * Waits until every child in `children` is ready.
   * @throws LauncherError `LAUNCHER_INTERRUPTED` when `signal` aborted; `LAUNCHER_NOT_READY` naming the
   *   first child that failed, with its last lines, and a hint naming its log file.
   */
  async waitReady(children: readonly LaunchedChild[], timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const results = await Promise.allSettled(children.map((c) => c.waitReady(timeoutMs, signal)));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed === -1) return;
    if (signal?.aborted) throw new LauncherError(LauncherErrorCode.interrupted, 'start-up interrupted');
    const child = children[failed];
    const reason = ((results[failed] as PromiseRejectedResult).reason as Error).message;
    throw new LauncherError(LauncherErrorCode.notReady, this.failureReport(child, reason), {
      hint: child.spec.logFile === undefined ? undefined : `see ${shownPath(child.spec.logFile)}`,
    });
  }

  /**
   * Restarts a child the way a supervisor rolls a replica: SIGTERM (SIGKILL after `graceMs`), wait for
   * its exit, then start the same command and environment in the same tier, appending to its log.
   * The new child takes the old one's place in {@link children}; it is not yet ready (see
   * {@link waitReady}). An exit during a restart is expected: {@link unexpectedExit} does not report it.
   * @returns the old child's exit and the new child.
   */
  async restart(child: LaunchedChild, graceMs?: number): Promise<{ exit: ChildExit; child: LaunchedChild }> {
    const tier = this.#tiers.get(child);
    if (tier === undefined) throw new TypeError(`${child.name} is not a child of this group`);
    this.#restarting.add(child);
    const exit = await child.stop(graceMs);
    const next = new LaunchedChild({ ...child.spec, appendLog: true });
    this.children[this.children.indexOf(child)] = next;
    this.#tiers.delete(child);
    this.#tiers.set(next, tier);
    return { exit, child: next };
  }

  /** Resolves with the first child that exits while the group is not stopping (never rejects). */
  unexpectedExit(): Promise<LaunchedChild> {
    return new Promise((resolve) => {
      for (const child of this.children)
        void child.exited.then(() => {
          if (!this.stopping && !this.#restarting.has(child)) resolve(child);
        });
    });
  }

  /** Stops every child, tier by tier from the highest; each gets SIGTERM, then SIGKILL after DEFAULT_STOP_GRACE_MS (12 s). */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const tiers = [...new Set(this.#tiers.values())].sort((a, b) => b - a);
    for (const tier of tiers)
      await Promise.all(this.children.filter((c) => this.#tiers.get(c) === tier).map((c) => c.stop()));
  }

  /** `headline`, then the child's last 20 lines and where its log is. */
  failureReport(child: LaunchedChild, headline: string): string {
    const tail = child.tail(20);
    const where = child.spec.logFile === undefined ? '' : ` (${shownPath(child.spec.logFile)})`;
    return [
      headline,
      ...(tail.length > 0 ? [`last lines of ${child.spec.name}${where}:`, ...tail.map((l) => `  ${l}`)] : []),
    ].join('\n');
  }
}
