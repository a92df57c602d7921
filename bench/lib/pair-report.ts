// The report of `bench telemetry-pair`: each run's windows, ratios and thread table, and over several
// runs (`--runs`) each run's B/A of the totals with their median. Pure functions of the measured data.

import { THREAD_GROUPS, type ThreadGroup } from './proc-stat.ts';
import { fmt, markdownTable, median } from './report.ts';

/** Paths the bench can pair. */
export const PairPaths = ['grpc', 'http'] as const;
/** One of {@link PairPaths}. */
export type PairPath = (typeof PairPaths)[number];

/** One side of a measured window. */
export interface PairSide {
  calls: number;
  rps: number;
  /** CPU per call by subject (`front end`, `worker`) and `sum`, us. */
  usPerCall: Record<string, number>;
  /** CPU per call of each subject by thread group (main thread, V8's helper threads, other), us. */
  threadUsPerCall: Record<string, Record<ThreadGroup, number>>;
}

/** One measured window: CPU per call of each stack's processes. */
export interface PairWindow {
  a: PairSide;
  b: PairSide;
}

/** The result of one run of one path: a fresh pair of stacks, warmed up, then measured. */
export interface PairPathResult {
  path: PairPath;
  /** 1-based number of the run (`--runs`). */
  run: number;
  windows: PairWindow[];
  error?: string;
  /** With `--profile`: where B spends more CPU per call than A (markdown). */
  profileDiff?: string;
}

/** What the report's headings name: the two modes, B's extra environment and the offered load. */
export interface PairReportConfig {
  modes: readonly [string, string];
  bEnv: Record<string, string>;
  /** Calls per second offered to each stack. */
  rate: number;
  /** Runs per path (`--runs`). */
  runs: number;
}

/** The subjects of a window and their sum, in report order. */
const SUBJECTS = ['front end', 'worker', 'sum'] as const;

/** Median, smallest and largest of `values`. */
function spread(values: number[]): string {
  if (values.length === 0) return '-';
  return `${fmt(median(values), 3)}x (${fmt(Math.min(...values), 3)}-${fmt(Math.max(...values), 3)})`;
}

/**
 * B's CPU per call over A's of `subject` over all `windows`, each side's CPU summed over its windows and
 * divided by its calls (the ratio of the totals); NaN without windows.
 */
export function ratioOfTotals(windows: readonly PairWindow[], subject: string): number {
  const total = (side: 'a' | 'b') => windows.reduce((s, w) => s + (w[side].usPerCall[subject] ?? 0) * w[side].calls, 0);
  const calls = (side: 'a' | 'b') => windows.reduce((s, w) => s + w[side].calls, 0);
  return total('b') / calls('b') / (total('a') / calls('a'));
}

const THREAD_GROUP_NAMES: Record<ThreadGroup, string> = { main: 'main', v8: 'V8 helpers', other: 'other' };

/** Rows of the thread table: each subject's thread groups, call-weighted over the windows. */
function threadRows(windows: readonly PairWindow[]): string[][] {
  const rows: string[][] = [];
  for (const subject of ['front end', 'worker']) {
    for (const g of THREAD_GROUPS) {
      const mean = (side: 'a' | 'b') => {
        const calls = windows.reduce((n, w) => n + w[side].calls, 0);
        const us = windows.reduce((n, w) => n + (w[side].threadUsPerCall[subject]?.[g] ?? 0) * w[side].calls, 0);
        return us / calls;
      };
      const [a, b] = [mean('a'), mean('b')];
      rows.push([subject, THREAD_GROUP_NAMES[g], fmt(a, 1), fmt(b, 1), fmt(b - a, 1), fmt(b / a, 3)]);
    }
  }
  return rows;
}

/** The report of one run of one path: every window, then the ratios B/A and the thread table. */
export function renderPairPath(r: PairPathResult, config: PairReportConfig): string {
  const [ma, mb] = config.modes;
  const extra = Object.entries(config.bEnv).map(([k, v]) => `${k}=${v}`);
  const b = extra.length === 0 ? mb : `${mb} with ${extra.join(' ')}`;
  const run = config.runs > 1 ? ` (run ${r.run} of ${config.runs})` : '';
  const out = [`### ${r.path}: ${ma} (A) and ${b} (B) at the same time, ${config.rate}/s each${run}`, ''];
  if (r.error !== undefined) out.push(`error: ${r.error}`, '');
  out.push(
    markdownTable(
      [
        'window',
        'A calls/s',
        'B calls/s',
        ...SUBJECTS.map((n) => `A ${n} us/call`),
        ...SUBJECTS.map((n) => `B ${n} us/call`),
        'B/A sum',
      ],
      r.windows.map((w, i) => [
        String(i + 1),
        fmt(w.a.rps),
        fmt(w.b.rps),
        ...SUBJECTS.map((n) => fmt(w.a.usPerCall[n], 1)),
        ...SUBJECTS.map((n) => fmt(w.b.usPerCall[n], 1)),
        fmt((w.b.usPerCall.sum ?? Number.NaN) / (w.a.usPerCall.sum ?? Number.NaN), 3),
      ]),
    ),
    '',
  );
  const rows = SUBJECTS.map((n) => {
    const ratios = r.windows.map((w) => (w.b.usPerCall[n] ?? Number.NaN) / (w.a.usPerCall[n] ?? Number.NaN));
    return [n, spread(ratios), fmt(ratioOfTotals(r.windows, n), 3)];
  });
  out.push(markdownTable(['process', `B/A per window: median (range)`, 'B/A of the totals'], rows));
  out.push(
    '',
    'CPU by thread over all windows (us/call; V8 helpers: parallel and concurrent GC, concurrent compilation)',
    '',
  );
  out.push(markdownTable(['process', 'threads', 'A us/call', 'B us/call', 'B - A', 'B/A'], threadRows(r.windows)));
  if (r.profileDiff !== undefined)
    out.push('', 'CPU profiles (both stacks under --cpu-prof: figures inflated; compare A with B)', '', r.profileDiff);
  return out.join('\n');
}

/**
 * The summary of a path's runs: each run's B/A of the totals per subject, then their median (a run
 * that failed or measured nothing is left out). Each run is a fresh pair of processes: how much V8
 * compiles and collects in the background differs from process to process, so one run's ratio can
 * sit 0.1 away from the next one's (bench/RESULTS.md, session 16); the median of runs is the figure.
 */
export function renderPairRuns(path: PairPath, runs: readonly PairPathResult[]): string {
  const measured = runs.filter((r) => r.error === undefined && r.windows.length > 0);
  const rows = measured.map((r) => [String(r.run), ...SUBJECTS.map((n) => fmt(ratioOfTotals(r.windows, n), 3))]);
  rows.push([
    `median of ${measured.length}`,
    ...SUBJECTS.map((n) => fmt(median(measured.map((r) => ratioOfTotals(r.windows, n))), 3)),
  ]);
  return [
    `### ${path}: B/A of the totals by run`,
    '',
    markdownTable(['run', ...SUBJECTS.map((n) => `${n} B/A`)], rows),
  ].join('\n');
}
