// Output helpers shared by the bench modes: markdown tables (pasteable into bench/RESULTS.md),
// number formatting, and the JSON result file in bench/out/.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './child.ts';

/** Directory of result files and profiles (git-ignored). */
export const OUT_DIR: string = join(REPO_ROOT, 'bench/out');

/** A markdown table; cells are printed as given, columns padded for reading in a terminal. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** A number with `digits` decimals, or '-' when absent or not finite. */
export function fmt(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/**
 * One row of the "against the floor of two Node hops" tables (issue 12): at `level`, nginx's and a
 * bare Node hop's (`hop`) CPU per call, two hops against nginx, and Switchyard's two processes
 * together (`pair`) against nginx and against two bare hops. CPU in microseconds per call; absent
 * figures print '-'.
 */
export function floorRow(
  level: number,
  nginx: number | undefined,
  hop: number | undefined,
  pair: number | undefined,
): string[] {
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || !(b > 0) ? '-' : `${fmt(a / b, 2)}x`;
  const twoHops = hop === undefined ? undefined : 2 * hop;
  return [
    String(level),
    fmt(nginx, 1),
    fmt(hop, 1),
    ratio(twoHops, nginx),
    fmt(pair, 1),
    ratio(pair, nginx),
    ratio(pair, twoHops),
  ];
}

/** `ISO time` made safe for a file name: 2025-01-02T03-04-05Z. */
export function fileTimestamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
}

/** Writes `value` as bench/out/<name>-<timestamp>.json and returns the path. */
export function writeResultFile(name: string, value: unknown, date = new Date()): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `${name}-${fileTimestamp(date)}.json`);
  writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
  return file;
}

/** A target check: PASS/MISS with the gap, or n/a when a figure is missing. */
export interface TargetCheck {
  target: string;
  value: string;
  verdict: 'PASS' | 'MISS' | 'n/a';
  gap: string;
}

/** Renders target checks as a table. */
export function targetTable(checks: TargetCheck[]): string {
  return markdownTable(
    ['target', 'measured', 'verdict', 'gap'],
    checks.map((c) => [c.target, c.value, c.verdict, c.gap]),
  );
}

/** Median of `values` (the mean of the two middle ones of an even count); NaN for none. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
