// Callgrind helpers shared by the instruction-count benches (overhead, http-relay-ir, relay-micro,
// stack-callgrind): read a dump's Ir total, ask a running callgrind to zero or dump its counters, drive
// calls, and the estimators over measured windows.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

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

/** Median of `values` (the upper one of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Ir per call of window pairs: pooled (all Ir / all calls) and the median of (ir2 - ir1) / (n2 - n1). */
export function perCall(windows: [number, number][], n1: number, n2: number): { pooled: number; pair: number } {
  const ir = windows.reduce((sum, [w1, w2]) => sum + w1 + w2, 0);
  return {
    pooled: ir / (windows.length * (n1 + n2)),
    pair: median(windows.map(([w1, w2]) => (w2 - w1) / (n2 - n1))),
  };
}
