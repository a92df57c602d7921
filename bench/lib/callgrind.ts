// Callgrind helpers shared by the instruction-count benches (overhead.ts, http-relay-ir.ts): a
// process started under `valgrind --tool=callgrind` (bench/lib/overhead-preload.ts) is zeroed and
// dumped with `callgrind_control`, and each dump's total Ir is read back.

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
