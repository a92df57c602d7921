// The test runs of `npm test` (scripts/test.ts): which test files a filter names, the attempts (a
// failed test runs again), and which tests the rerun state of node:test says passed only on a later
// attempt (FLAKY).

import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { run } from 'node:test';
import { spec } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

/**
 * True when `file` (a path relative to the repository root, `/`-separated) is named by `filter`.
 * A filter with a `/` is a path prefix from the root (`test/` is the top-level test folder only,
 * `services/grpc-proxy` that service's tests, `test/e2e-regions` the files starting so); a leading
 * `./` is ignored. A filter without `/` is a fragment of the file name (`tunnel-liveness`).
 */
export function matchesFilter(file: string, filter: string): boolean {
  const wanted = filter.replace(/^(\.\/)+/, '');
  if (wanted === '') return true;
  if (wanted.includes('/')) return file.startsWith(wanted);
  return basename(file).includes(wanted);
}

/** The files named by at least one filter (every file when there is none), sorted. */
export function selectTestFiles(files: readonly string[], filters: readonly string[]): string[] {
  return files.filter((f) => filters.length === 0 || filters.some((x) => matchesFilter(f, x))).sort();
}

/** Options of {@link runTestAttempts}. */
export interface TestAttemptsOptions {
  /** Test files, relative to `root`. */
  files: readonly string[];
  /** Directory the files are relative to (also the test processes' working directory). */
  root: string;
  /** Attempts at most; after the first, only the tests that failed run (with their file's hooks). */
  attempts: number;
  /** Test files run at once, each in its own process. */
  concurrency: number;
  /** Time one test may take, ms. */
  timeoutMs: number;
  /** Rerun state file (absolute) node:test reads and writes between attempts; see {@link flakyTests}. */
  statePath: string;
  /** Receives the spec reporter's output. */
  write: (chunk: string) => void;
  /** Called before each attempt (1-based). */
  onAttempt?: (attempt: number) => void;
}

/** The module every test file's process loads first: ends a process that lingers after its tests. */
export const EXIT_GUARD_PATH = fileURLToPath(new URL('./test-exit-guard.ts', import.meta.url));

/**
 * Runs the files with node:test `run()` until an attempt passes or `attempts` are used up.
 * `run()` rather than `node --test`: with `--test-force-exit` the CLI exits before it writes the rerun
 * state, so every attempt ran every test again and nothing was listed as FLAKY. No `forceExit` either:
 * it ends a file's process before that file's report is flushed, and the end of the report is lost
 * (a run of three 300-test files reported 264 of 300 for one of them). A file that leaves a handle
 * open is ended instead by scripts/test-exit-guard.ts, loaded into every test process, after its
 * `after` hooks and SWITCHYARD_TEST_LINGER_MS.
 * @returns true when the last attempt had no failed test.
 */
export async function runTestAttempts(options: TestAttemptsOptions): Promise<boolean> {
  for (let i = 1; i <= options.attempts; i++) {
    options.onAttempt?.(i);
    let failed = false;
    const stream = run({
      files: options.files.map((f) => join(options.root, f)),
      cwd: options.root,
      concurrency: options.concurrency,
      timeout: options.timeoutMs,
      execArgv: ['--import', EXIT_GUARD_PATH],
      rerunFailuresFilePath: options.statePath,
    });
    stream.on('test:fail', () => {
      failed = true;
    });
    for await (const chunk of stream.compose(spec)) options.write(String(chunk));
    await stateWritten(options.statePath, i);
    if (!failed) return true;
  }
  return false;
}

/** Time the rerun state of an attempt may take to appear after the report ends, ms. */
const STATE_WRITE_TIMEOUT_MS = 10_000;

/**
 * Resolves once the rerun state file holds `attempts` runs: node:test writes it when its own rerun
 * reporter finishes, which can be after the spec report ends; the next attempt (and `flakyTests`)
 * must read it complete. Gives up silently after STATE_WRITE_TIMEOUT_MS (10 s).
 */
async function stateWritten(statePath: string, attempts: number): Promise<void> {
  const deadline = Date.now() + STATE_WRITE_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      if ((JSON.parse(readFileSync(statePath, 'utf8')) as unknown[]).length >= attempts) return;
    } catch {
      // not written yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Leaf tests that passed on an attempt after the first, as `name (file:line:column)`, read from the
 * state file node:test writes with `--test-rerun-failures` / `rerunFailuresFilePath` (one object per
 * attempt; `passed_on_attempt` is the 0-based attempt a test first passed on). Suites (entries with
 * children) are left out: their leaf is listed. A missing file gives `[]`.
 */
export function flakyTests(statePath: string): string[] {
  if (!existsSync(statePath)) return [];
  type Entry = { name: string; children: unknown[]; passed_on_attempt?: number };
  const runs = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, Entry>[];
  const last = runs.at(-1) ?? {};
  return Object.entries(last)
    .filter(([, e]) => (e.passed_on_attempt ?? 0) > 0 && e.children.length === 0)
    .map(([where, e]) => `${e.name} (${where})`);
}

/**
 * Test files whose process scripts/test-exit-guard.ts had to end (a handle stayed open after their
 * tests), read from the log named by SWITCHYARD_TEST_LINGER_LOG, relative to `root`, sorted, once
 * each. A missing log gives `[]`.
 */
export function lingeringFiles(logPath: string, root: string): string[] {
  if (!existsSync(logPath)) return [];
  const names = readFileSync(logPath, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((file) => (file.startsWith(`${root}/`) ? file.slice(root.length + 1) : file));
  return [...new Set(names)].sort();
}
