// Sweeps of the grpc and http modes: `--processes 1,2` (issue 12, "Every core": SWITCHYARD_PROCESSES of
// the front end on the Switchyard path), `--telemetry off,metrics,traces` (issue 9: CPU per call with
// and without metrics and tracing, same sitting) or `--tunnel-mux off,on` (issue 12: framed tunnels
// against a stream per call, gRPC calls or HTTP requests). The mode runs once per value (`--repeats` rounds of the list),
// then one table gives the Switchyard path's throughput and CPU per call at each value as a ratio to
// the first.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { positiveInt } from './args.ts';
import { median, OUT_DIR } from './report.ts';

/** A mode's run function: argv in, exit code out. */
type ModeRun = (argv: string[]) => Promise<number>;

/** The newest `<mode>-*.json` in bench/out not in `before`. */
function newResultFile(mode: string, before: Set<string>): string | undefined {
  const files = readdirSync(OUT_DIR, { withFileTypes: true })
    .map((d) => d.name)
    .filter((f) => f.startsWith(`${mode}-`) && f.endsWith('.json') && !before.has(f))
    .sort();
  return files.at(-1);
}

function listOut(): Set<string> {
  try {
    return new Set(readdirSync(OUT_DIR));
  } catch {
    return new Set();
  }
}

/** The parts of a grpc or http result file the sweep reads. */
interface ResultFile {
  results: {
    path: string;
    unary?: { streams: number; rps: number; cpuUsPerCall: Record<string, number>; machineBusyCores: number }[];
    bidi?: { mbPerS: number; cpuUsPerMB: Record<string, number>; machineBusyCores: number };
    load?: { connections: number; rps: number; cpuUsPerRequest: Record<string, number>; machineBusyCores: number }[];
  }[];
}

/** Figures of the Switchyard path of one result file, by row name. */
function figures(mode: 'grpc' | 'http', result: ResultFile): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  const sy = result.results.find((r) => r.path === 'switchyard');
  if (sy === undefined) return out;
  if (mode === 'grpc') {
    for (const u of sy.unary ?? []) {
      out.set(`unary RPS, ${u.streams} stream(s)`, u.rps);
      out.set(`proxy CPU us/call, ${u.streams} stream(s)`, u.cpuUsPerCall.proxy);
      out.set(`worker CPU us/call, ${u.streams} stream(s)`, u.cpuUsPerCall.worker);
      out.set(`proxy + worker CPU us/call, ${u.streams} stream(s)`, u.cpuUsPerCall.proxy + u.cpuUsPerCall.worker);
      out.set(`machine busy cores, ${u.streams} stream(s)`, u.machineBusyCores);
    }
    if (sy.bidi) {
      const { mbPerS, cpuUsPerMB, machineBusyCores } = sy.bidi;
      out.set('bidi MB/s', mbPerS);
      out.set('bidi proxy CPU us/MB', cpuUsPerMB.proxy);
      out.set('bidi worker CPU us/MB', cpuUsPerMB.worker);
      out.set('bidi proxy + worker CPU us/MB', cpuUsPerMB.proxy + cpuUsPerMB.worker);
      out.set('bidi machine busy cores', machineBusyCores);
    }
  } else {
    for (const l of sy.load ?? []) {
      out.set(`HTTP RPS, ${l.connections} connection(s)`, l.rps);
      out.set(`invocation CPU us/request, ${l.connections} connection(s)`, l.cpuUsPerRequest.invocation);
      out.set(`worker CPU us/request, ${l.connections} connection(s)`, l.cpuUsPerRequest.worker);
      out.set(
        `invocation + worker CPU us/request, ${l.connections} connection(s)`,
        l.cpuUsPerRequest.invocation + l.cpuUsPerRequest.worker,
      );
      out.set(`machine busy cores, ${l.connections} connection(s)`, l.machineBusyCores);
    }
  }
  return out;
}

/** Options that take a list to sweep, and the title of their table. */
const SWEEP_OPTIONS = {
  '--processes': 'Processes sweep',
  '--telemetry': 'Telemetry sweep',
  '--tunnel-mux': 'Tunnel mux sweep',
} as const;
/** One of the keys of {@link SWEEP_OPTIONS}. */
type SweepOption = keyof typeof SWEEP_OPTIONS;
const SWEEP_OPTION_NAMES = Object.keys(SWEEP_OPTIONS) as SweepOption[];

/** The sweep options of a mode's command line, and the rest of it. */
export interface SweepArgs {
  /** `--processes`, `--telemetry` or `--tunnel-mux`. */
  option: SweepOption;
  values: string[];
  /** Rounds of the whole list (`--repeats`). */
  repeats: number;
  rest: string[];
}

/**
 * Finds a sweep in `argv`: `--processes`, `--telemetry` or `--tunnel-mux` with a comma-separated list
 * (one at a time), and `--repeats N`. Undefined when no option has a list (the mode runs once, as
 * asked). The values themselves are the mode's to check (runSweep's `parse`).
 * @throws TypeError for two lists at once, a bad count, or `--repeats` without a list.
 */
export function parseSweepArgs(argv: string[]): SweepArgs | undefined {
  const lists: { option: SweepOption; at: number; raw: string }[] = [];
  for (const option of SWEEP_OPTION_NAMES) {
    const at = argv.indexOf(option);
    const raw = at >= 0 ? argv[at + 1] : undefined;
    if (raw?.includes(',')) lists.push({ option, at, raw });
  }
  const repeatsAt = argv.indexOf('--repeats');
  if (lists.length === 0) {
    if (repeatsAt >= 0) throw new TypeError(`--repeats needs a list of one of ${SWEEP_OPTION_NAMES.join(', ')}`);
    return undefined;
  }
  if (lists.length > 1) throw new TypeError(`sweep one of ${lists.map((l) => l.option).join(' and ')} at a time`);
  const found = lists[0] as { option: SweepOption; at: number; raw: string };
  const { option } = found;
  const values = found.raw.split(',');
  if (option === '--processes' && values.some((n) => !Number.isInteger(Number(n)) || Number(n) < 1))
    throw new TypeError(`--processes: not a list of counts: ${found.raw}`);
  const repeats = repeatsAt >= 0 ? positiveInt('--repeats', argv[repeatsAt + 1], 1) : 1;
  const drop = new Set([found.at, found.at + 1, ...(repeatsAt >= 0 ? [repeatsAt, repeatsAt + 1] : [])]);
  return { option, values, repeats, rest: argv.filter((_, i) => !drop.has(i)) };
}

/**
 * Runs `run` once per value of a `--processes`, `--telemetry` or `--tunnel-mux` list (`--repeats`
 * rounds of the whole list, so the values interleave and a slow minute of a shared machine lands on each about equally),
 * then prints a markdown table of the Switchyard path: each figure per value (the median of the rounds,
 * with the range) and its ratio to the first value. Without a list, `run(argv)` as it is.
 * @param parse the mode's option parser (throws TypeError for a bad option): each run's options are
 *   checked with it before the first run, so a bad option or list value fails once, up front.
 * @returns the worst exit code of the runs; 2 for a bad sweep option or a bad option of any run.
 */
export async function runSweep(
  mode: 'grpc' | 'http',
  run: ModeRun,
  argv: string[],
  parse?: (argv: string[]) => unknown,
): Promise<number> {
  let sweep: SweepArgs | undefined;
  try {
    sweep = parseSweepArgs(argv);
    if (sweep !== undefined && parse !== undefined)
      for (const value of sweep.values) parse([...sweep.rest, sweep.option, value]);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  if (sweep === undefined) return run(argv);
  const { option, values, repeats, rest } = sweep;
  const rows = new Map<string, { figure: string; values: number[][] }>();
  let code = 0;
  for (let round = 0; round < repeats; round++) {
    for (const [i, value] of values.entries()) {
      process.stderr.write(`bench ${mode}: ${option} ${value} (round ${round + 1}/${repeats})\n`);
      const before = listOut();
      code = Math.max(code, await run([...rest, option, value]));
      const file = newResultFile(mode, before);
      if (file === undefined) continue;
      const result = JSON.parse(readFileSync(join(OUT_DIR, file), 'utf8')) as ResultFile;
      for (const [figure, v] of figures(mode, result)) {
        if (v === undefined) continue;
        const row = rows.get(figure) ?? { figure, values: values.map(() => []) };
        row.values[i].push(v);
        rows.set(figure, row);
      }
    }
  }
  const name = option === '--processes' ? (v: string) => `${v} process(es)` : (v: string) => v;
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
  const cell = (vs: number[]) =>
    vs.length === 0
      ? '-'
      : vs.length === 1
        ? fmt(vs[0])
        : `${fmt(median(vs))} (${fmt(Math.min(...vs))}-${fmt(Math.max(...vs))})`;
  const head = `| figure (switchyard path) | ${values.map(name).join(' | ')} | ${values
    .slice(1)
    .map((v) => `${v}/${values[0]}`)
    .join(' | ')} |`;
  const lines = [head, `| --- |${' --- |'.repeat(values.length * 2 - 1)}`];
  for (const row of rows.values()) {
    const base = row.values[0].length > 0 ? median(row.values[0]) : undefined;
    const ratios = row.values
      .slice(1)
      .map((vs) => (vs.length === 0 || base === undefined || !(base > 0) ? '-' : `${(median(vs) / base).toFixed(3)}x`));
    lines.push(`| ${row.figure} | ${row.values.map(cell).join(' | ')} | ${ratios.join(' | ')} |`);
  }
  const title = SWEEP_OPTIONS[option];
  const note = repeats > 1 ? `, median (min-max) of ${repeats} interleaved rounds` : '';
  process.stdout.write(`\n### ${title} (${mode}${note})\n\n${lines.join('\n')}\n`);
  return code;
}
