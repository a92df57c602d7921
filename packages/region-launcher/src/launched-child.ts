// One child process of a launched region: spawned with its output kept as a tail (and copied to a
// log file when one is given), ready when it prints its `{"ready":true,...}` line (or when a probe
// says so), stopped with SIGTERM and, after a grace period, SIGKILL. Children still running when
// this process exits are SIGKILLed.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** Lines of stderr (and stdout) kept for error reports. */
const TAIL_LINES = 30;
/** How long stop() waits, after the exit, for the child's last lines before it ends the log file. */
const OUTPUT_DRAIN_MS = 1_000;
/**
 * Time a child gets between SIGTERM and SIGKILL, ms: longer than a service's own drain bound
 * (SWITCHYARD_DRAIN_TIMEOUT_MS, 10 s), so a draining service is never cut short. A worker's drain
 * waits for its outstanding ticket pulls to expire (up to 5 s) so that a ticket delivered meanwhile is
 * handed back (nak) rather than left to its ack wait.
 */
export const DEFAULT_STOP_GRACE_MS = 12_000;
/** Default time {@link LaunchedChild.nextJson} waits for a matching line, ms. */
export const DEFAULT_NEXT_JSON_TIMEOUT_MS = 30_000;

/** What to run and how to tell it is ready. */
export interface ChildSpec {
  /** Short name: log file `<name>.log`, shown in messages. */
  name: string;
  /** Executable (absolute path, or a name found on PATH). */
  command: string;
  args: string[];
  /** The child's whole environment (nothing is inherited beyond it). */
  env: Record<string, string | undefined>;
  /** Working directory. @default this process's */
  cwd?: string;
  /** Log file (absolute) the child's stdout and stderr are copied to. @default none (tail only) */
  logFile?: string;
  /** Append to `logFile` instead of truncating it (a restarted child keeps its earlier lines). @default false */
  appendLog?: boolean;
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

const live = new Set<ChildProcess>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const proc of live) proc.kill('SIGKILL');
  });
}

/** A running child of a launched region. */
export class LaunchedChild {
  /** The spec it was started with. */
  readonly spec: ChildSpec;
  /** Process ID (-1 when it could not be spawned). */
  readonly pid: number;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ChildExit>;
  /** The parsed ready line, once seen (`ready-line` children). */
  readyLine: Record<string, unknown> | undefined;
  #proc: ChildProcess;
  #log: WriteStream | undefined;
  #tail: string[] = [];
  #exit: ChildExit | undefined;
  #jsonWaiters = new Set<{ stderr: boolean; take: (line: Record<string, unknown>) => boolean }>();
  /** Resolves once the child's stdout and stderr have closed (every line has been read). */
  #outputClosed: Promise<void>;

  /**
   * Spawns the child (not detached, stdin closed, stdout/stderr piped to its tail and log file).
   * A spawn failure (e.g. ENOENT) does not throw: the child is reported as exited and its tail says why.
   */
  constructor(spec: ChildSpec) {
    hookExit();
    this.spec = spec;
    this.#log =
      spec.logFile === undefined ? undefined : createWriteStream(spec.logFile, { flags: spec.appendLog ? 'a' : 'w' });
    // A log file that cannot be written (disk full, directory removed) must not end the launcher.
    this.#log?.on('error', (err) => this.#remember(`log file ${spec.logFile}: ${err.message}`));
    this.#proc = spawn(spec.command, spec.args, { env: spec.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.#proc.pid !== undefined) live.add(this.#proc);
    this.#outputClosed = new Promise((resolve) => {
      this.#proc.once('close', () => resolve());
      this.#proc.once('error', () => resolve());
    });
    this.exited = new Promise((resolve) => {
      this.#proc.once('exit', (code, signal) => {
        live.delete(this.#proc);
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
        // A line can still arrive after stop() ended the log (a grandchild holding the pipe past the
        // grace period): it stays in the tail; writing it would be ERR_STREAM_WRITE_AFTER_END.
        if (this.#log !== undefined && !this.#log.writableEnded) this.#log.write(`${line}\n`);
        this.#remember(line);
        this.#checkJson(line, isStdout);
      });
    }
  }

  /** Its name (the spec's). */
  get name(): string {
    return this.spec.name;
  }

  /** True while the process has not exited. */
  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines the child wrote (stdout and stderr), oldest first. */
  tail(lines = TAIL_LINES): string[] {
    return this.#tail.slice(-lines);
  }

  /** Sends `signal` to the child when it is still running (e.g. SIGUSR2 to ask for a report). */
  kill(signal: NodeJS.Signals): void {
    if (this.running) this.#proc.kill(signal);
  }

  /**
   * Resolves with the next stdout JSON line for which `match` is true; with `stderr`, a JSON line of
   * either stream (services log to stderr).
   * @throws Error naming the child when it exits first or `timeoutMs` passes.
   */
  nextJson(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs = DEFAULT_NEXT_JSON_TIMEOUT_MS,
    options: { stderr?: boolean } = {},
  ): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const waiter = (line: Record<string, unknown>) => {
        if (!match(line)) return false;
        clearTimeout(timer);
        resolve(line);
        return true;
      };
      const entry = { stderr: options.stderr ?? false, take: waiter };
      const fail = (why: string) => {
        if (!this.#jsonWaiters.delete(entry)) return;
        clearTimeout(timer);
        reject(new Error(`${this.spec.name}: ${why}\n--- last lines ---\n${this.tail().join('\n')}`));
      };
      const timer = setTimeout(() => fail(`no expected output within ${timeoutMs} ms`), timeoutMs);
      this.#jsonWaiters.add(entry);
      void this.exited.then((exit) => fail(`exited (${describeExit(exit)})`));
    });
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
            else
              this.#jsonWaiters.add({
                stderr: false,
                take: () => {
                  if (this.readyLine === undefined) return false;
                  resolve();
                  return true;
                },
              });
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
    // Lines written just before the exit are still in the pipes: end the log once they are read.
    await Promise.race([this.#outputClosed, new Promise((resolve) => setTimeout(resolve, OUTPUT_DRAIN_MS).unref())]);
    const log = this.#log;
    if (log !== undefined && !log.closed) await new Promise<void>((resolve) => log.end(() => resolve()));
    return exit;
  }

  #remember(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES * 2) this.#tail.splice(0, this.#tail.length - TAIL_LINES);
  }

  #checkJson(line: string, isStdout: boolean): void {
    if (!line.startsWith('{')) return;
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // a log line that happens to start with '{' but is not JSON
    }
    if (isStdout && this.readyLine === undefined && parsed.ready === true) this.readyLine = parsed;
    for (const waiter of [...this.#jsonWaiters])
      if ((isStdout || waiter.stderr) && waiter.take(parsed)) this.#jsonWaiters.delete(waiter);
  }
}

/** `exit code 1`, `signal SIGKILL`, `could not be started`. */
export function describeExit(exit: ChildExit): string {
  if (exit.signal !== null) return `signal ${exit.signal}`;
  return exit.code === null ? 'could not be started' : `exit code ${exit.code}`;
}
