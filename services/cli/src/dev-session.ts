// What `switchyard dev` does around the launcher, for one region or several: refuse a second stack
// on the same state directory, turn SIGINT/SIGTERM into an orderly stop, and once the stack is up,
// supervise it: a requested stop ends with 0; a child that exits on its own stops everything with 1.

import { describeExit, infraBinaries, LaunchedChild, type RegionsLaunch } from '@switchyard/region-launcher';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';
import { type DevState, writeDevState } from './dev-state.ts';
import { cliErrorOf, node24Binary, requireEntrypoint } from './node-binary.ts';

/** True when a process with `pid` exists (EPERM counts: it exists, owned by someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Refuses to start when dev.json names a dev process that is still running.
 * @throws CliError CLI_DEV_START naming its pid and state directory (with `hint` when given).
 */
export function refuseSecondStack(previous: DevState | undefined, stateDir: string, hint?: string): void {
  const pid = previous?.pids.dev;
  if (pid !== undefined && pid !== process.pid && isAlive(pid))
    throw new CliError(CliErrorCode.devStart, `a dev stack is already running (pid ${pid}, ${stateDir})`, {
      ...(hint !== undefined ? { hint } : {}),
    });
}

/**
 * Checks before anything starts that Node 24, the entry files and nats-server / redis-server exist.
 * @throws CliError CLI_MISSING naming what is missing and how to get it.
 */
export function requireDevTools(geodns: boolean): void {
  node24Binary();
  for (const which of ['api', 'grpcProxy', 'invocation', 'worker', 'sampleFunctions'] as const)
    requireEntrypoint(which);
  if (geodns) requireEntrypoint('geodns');
  try {
    infraBinaries();
  } catch (err) {
    throw cliErrorOf(err);
  }
}

/** Signal handling of one `switchyard dev` run. */
export class DevSession {
  readonly #io: CliIo;
  readonly #interrupt = new AbortController();
  #stopSignal: NodeJS.Signals | undefined;
  readonly #onSigint = () => this.#onSignal('SIGINT');
  readonly #onSigterm = () => this.#onSignal('SIGTERM');

  /** Installs the SIGINT/SIGTERM handlers (removed by {@link dispose}). */
  constructor(io: CliIo) {
    this.#io = io;
    process.on('SIGINT', this.#onSigint);
    process.on('SIGTERM', this.#onSigterm);
  }

  /** Aborts when SIGINT or SIGTERM arrives. */
  get signal(): AbortSignal {
    return this.#interrupt.signal;
  }

  /** Removes the signal handlers. */
  dispose(): void {
    process.off('SIGINT', this.#onSigint);
    process.off('SIGTERM', this.#onSigterm);
  }

  /**
   * Ends a failed start-up: stops what started, removes the handlers.
   * @returns 0 when the failure was a requested stop.
   * @throws the error, as a CliError when it came from the launcher.
   */
  async failed(launch: RegionsLaunch | undefined, err: unknown): Promise<number> {
    await launch?.stop();
    this.dispose();
    if (this.signal.aborted) return 0;
    throw cliErrorOf(err);
  }

  /**
   * Runs the started stack until a signal (0) or a child's own exit (1, after printing which and its
   * last lines); then stops it, empties the pids of dev.json and prints `stoppedMessage`.
   */
  async supervise(launch: RegionsLaunch, stateDir: string, state: DevState, stoppedMessage: string): Promise<number> {
    const requested = new Promise<void>((resolve) =>
      this.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    const first = await Promise.race([launch.group.unexpectedExit(), requested]);
    let code = 0;
    if (first instanceof LaunchedChild) {
      code = 1;
      launch.group.stopping = true;
      this.#io.stderr(
        `${launch.group.failureReport(first, `${first.spec.name} exited unexpectedly (${describeExit(await first.exited)}); stopping the dev stack`)}\n`,
      );
    }
    await launch.stop();
    writeDevState(stateDir, { ...state, pids: {} });
    this.dispose();
    this.#io.stderr(stoppedMessage);
    return code;
  }

  #onSignal(signal: NodeJS.Signals): void {
    if (this.#stopSignal !== undefined) return;
    this.#stopSignal = signal;
    this.#io.stderr(`\n${signal}: stopping the dev stack...\n`);
    this.#interrupt.abort();
  }
}
