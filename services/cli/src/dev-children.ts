// One child process of the dev stack: spawned with its output copied to `.switchyard/logs/<name>.log`,
// ready when it prints its `{"ready":true,...}` line (or when a probe says so), stopped with SIGTERM
// and, after a grace period, SIGKILL.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Lines of stderr (and stdout) kept for error reports. */
const TAIL_LINES = 30;
/** Default time between SIGTERM and SIGKILL, ms. */
export const DEFAULT_STOP_GRACE_MS = 5_000;

/** What to run and how to tell it is ready. */
export interface DevChildSpec {
  /** Short name: log file `<name>.log`, shown in messages. */
  name: string;
  command: string;
  args: string[];
  env: Record<string, string | undefined>;
  /** Log file (absolute). */
  logFile: string;
  /**
   * How readiness is seen: `ready-line` waits for a stdout JSON line with `ready: true`; a function
   * is polled every 100 ms until it resolves true.
   */
  ready: 'ready-line' | (() => Promise<boolean>);
}

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running child of the dev stack. */
export class DevChild {
  /** The spec it was started with. */
  readonly spec: DevChildSpec;
  /** Process ID. */
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** The parsed ready line, once seen (`ready-line` children). */
  readyLine: Record<string, unknown> | undefined;
  #proc: ChildProcess;
  #log: WriteStream;
  #tail: string[] = [];
  #exit: ChildExit | undefined;
  #readyWaiters: ((line: Record<string, unknown>) => void)[] = [];

  /**
   * Spawns the child (not detached, stdin closed, stdout/stderr piped to its log file).
   * @throws Error from spawn when the command cannot be started (e.g. ENOENT).
   */
  constructor(spec: DevChildSpec) {
    this.spec = spec;
    this.#log = createWriteStream(spec.logFile, { flags: 'w' });
    this.#proc = spawn(spec.command, spec.args, { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.#proc.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
      this.#proc.once('error', (err) => {
        this.#remember(`spawn failed: ${err.message}`);
        this.#exit ??= { code: null, signal: null };
        resolve(this.#exit);
      });
    });
    if (this.#proc.pid === undefined) this.#remember(`could not spawn ${spec.command}`);
    this.pid = this.#proc.pid ?? -1;
    for (const stream of [this.#proc.stdout, this.#proc.stderr]) {
      if (stream === null) continue;
      const isStdout = stream === this.#proc.stdout;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        this.#log.write(`${line}\n`);
        this.#remember(line);
        if (isStdout && this.readyLine === undefined) this.#checkReady(line);
      });
    }
  }

  /** True while the process has not exited. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines the child wrote (stdout and stderr), oldest first. */
  tail(lines = TAIL_LINES): string[] {
    return this.#tail.slice(-lines);
  }

  /**
   * Resolves when the child is ready.
   * @throws Error naming the child when it exits first, when `timeoutMs` passes, or when `signal` aborts.
   */
  async waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const started = Date.now();
    const exitedEarly = this.exited.then((exit) => {
      throw new Error(`${this.spec.name} exited before it was ready (${describeExit(exit)})`);
    });
    exitedEarly.catch(() => {});
    const timeout = new Promise<never>((_, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `${this.spec.name} did not start within ${timeoutMs < 1_000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`,
            ),
          ),
        timeoutMs,
      );
      timer.unref();
      void this.exited.then(() => clearTimeout(timer));
    });
    timeout.catch(() => {});
    const aborted = new Promise<never>((_, reject) => {
      if (signal?.aborted) reject(new Error('start-up interrupted'));
      signal?.addEventListener('abort', () => reject(new Error('start-up interrupted')), { once: true });
    });
    aborted.catch(() => {});
    const ready =
      this.spec.ready === 'ready-line'
        ? new Promise<void>((resolve) => {
            if (this.readyLine !== undefined) resolve();
            else this.#readyWaiters.push(() => resolve());
          })
        : (async (probe) => {
            while (this.running && Date.now() - started < timeoutMs && !signal?.aborted) {
              if (await probe().catch(() => false)) return;
              await new Promise((r) => setTimeout(r, 100));
            }
            await new Promise(() => {}); // the other branches settle the race
          })(this.spec.ready);
    await Promise.race([ready, exitedEarly, timeout, aborted]);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. Idempotent. */
  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<ChildExit> {
    if (this.running) {
      this.#proc.kill('SIGTERM');
      const timer = setTimeout(() => this.#proc.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    const exit = await this.exited;
    await new Promise<void>((resolve) => this.#log.end(() => resolve()));
    return exit;
  }

  #remember(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES * 2) this.#tail.splice(0, this.#tail.length - TAIL_LINES);
  }

  #checkReady(line: string): void {
    if (!line.startsWith('{')) return;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.ready !== true) return;
      this.readyLine = parsed;
      for (const waiter of this.#readyWaiters.splice(0)) waiter(parsed);
    } catch {
      // A log line that happens to start with '{' but is not JSON.
    }
  }
}

/** `exit code 1`, `signal SIGKILL`, ... */
export function describeExit(exit: ChildExit): string {
  if (exit.signal !== null) return `signal ${exit.signal}`;
  return exit.code === null ? 'could not be started' : `exit code ${exit.code}`;
}
