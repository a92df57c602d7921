// Callgrind helpers shared by the instruction-count benches (overhead, http-relay-ir, relay-micro,
// stack-callgrind): read a dump's Ir total, ask a running callgrind to zero or dump its counters, drive
// calls, and the estimators over measured windows.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { positiveInt } from './args.ts';
import { median } from './report.ts';

/** `parseArgs` options of the measured windows, shared by the callgrind benches. */
export const WINDOW_OPTIONS = {
  warmup: { type: 'string' },
  n1: { type: 'string' },
  n2: { type: 'string' },
  repeats: { type: 'string' },
  concurrency: { type: 'string' },
} as const;

/** Calls before and in the measured windows. */
export interface WindowConfig {
  /** Calls before the first measured window. */
  warmup: number;
  /** Calls of window 1 and window 2 of each pair (n2 > n1). */
  n1: number;
  n2: number;
  /** Window pairs. */
  repeats: number;
  /** Calls in flight at once. */
  concurrency: number;
}

/**
 * The window options of a bench's parsed `values` ({@link WINDOW_OPTIONS}), each absent one from
 * `defaults`.
 * @throws TypeError naming a bad option, or when --n2 is not larger than --n1.
 */
export function parseWindows(
  values: Partial<Record<keyof WindowConfig, string>>,
  defaults: WindowConfig,
): WindowConfig {
  const config = {
    warmup: positiveInt('--warmup', values.warmup, defaults.warmup),
    n1: positiveInt('--n1', values.n1, defaults.n1),
    n2: positiveInt('--n2', values.n2, defaults.n2),
    repeats: positiveInt('--repeats', values.repeats, defaults.repeats),
    concurrency: positiveInt('--concurrency', values.concurrency, defaults.concurrency),
  };
  if (config.n2 <= config.n1) throw new TypeError('--n2 must be larger than --n1');
  return config;
}

/** Ir total of one callgrind dump file (its `summary:` or `totals:` line). @throws when it has none. */
export function irOf(file: string): number {
  const match = /^(?:summary|totals): (\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error(`no Ir total in ${file}`);
  return Number(match[1]);
}

/**
 * Asks the callgrind of `pid` (writing `<dir>/<base>.<n>`) to dump; its counters restart at zero.
 * @returns the new dump's Ir. @throws when not exactly one new dump file appeared.
 */
export function callgrindDump(pid: number, dir: string, base: string): number {
  const before = new Set(readdirSync(dir));
  execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore', timeout: 300_000 });
  const fresh = readdirSync(dir).filter((f) => f.startsWith(`${base}.`) && /\.\d+$/.test(f) && !before.has(f));
  if (fresh.length !== 1) throw new Error(`expected one new callgrind dump in ${dir}, found ${fresh.join(', ')}`);
  return irOf(join(dir, fresh[0]));
}

/** Sets the counters of the callgrind of `pid` to zero. */
export function callgrindZero(pid: number): void {
  execFileSync('callgrind_control', ['--zero', String(pid)], { stdio: 'ignore', timeout: 300_000 });
}

/** Runs `calls` calls of `one`, `concurrency` at a time; throws the first failure. */
export async function drive(calls: number, concurrency: number, one: () => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < calls) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/** Ir per call of window pairs: pooled (all Ir / all calls) and the median of (ir2 - ir1) / (n2 - n1). */
export function perCall(windows: [number, number][], n1: number, n2: number): { pooled: number; pair: number } {
  const ir = windows.reduce((sum, [w1, w2]) => sum + w1 + w2, 0);
  return {
    pooled: ir / (windows.length * (n1 + n2)),
    pair: median(windows.map(([w1, w2]) => (w2 - w1) / (n2 - n1))),
  };
}
