// `--processes 1,2` of the grpc and http modes (issue 12, "Every core"): the mode runs once per count
// with `--processes N` (SWITCHYARD_PROCESSES of the front end on the Switchyard path), then one table
// gives the Switchyard path's throughput and CPU per call at each count as a ratio to the first count.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OUT_DIR } from './report.ts';

/** A mode's run function: argv in, exit code out. */
type ModeRun = (argv: string[]) => Promise<number>;

interface SweepRow {
  figure: string;
  values: (number | undefined)[];
}

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
    bidi?: { mbPerS: number };
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
      out.set(`machine busy cores, ${u.streams} stream(s)`, u.machineBusyCores);
    }
    if (sy.bidi) out.set('bidi MB/s', sy.bidi.mbPerS);
  } else {
    for (const l of sy.load ?? []) {
      out.set(`HTTP RPS, ${l.connections} connection(s)`, l.rps);
      out.set(`invocation CPU us/request, ${l.connections} connection(s)`, l.cpuUsPerRequest.invocation);
      out.set(`worker CPU us/request, ${l.connections} connection(s)`, l.cpuUsPerRequest.worker);
      out.set(`machine busy cores, ${l.connections} connection(s)`, l.machineBusyCores);
    }
  }
  return out;
}

/**
 * Runs `run` once per count of `--processes LIST` (a single count is passed through unchanged) and
 * prints a markdown table of the Switchyard path: each figure per count and its ratio to the first.
 * @returns the worst exit code of the runs.
 */
export async function runProcessesSweep(mode: 'grpc' | 'http', run: ModeRun, argv: string[]): Promise<number> {
  const at = argv.indexOf('--processes');
  const list = at >= 0 ? argv[at + 1] : undefined;
  if (list === undefined || !list.includes(',')) return run(argv);
  const counts = list.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1))
    throw new TypeError(`--processes: not a list of counts: ${list}`);
  const rest = [...argv.slice(0, at), ...argv.slice(at + 2)];
  const rows = new Map<string, SweepRow>();
  let code = 0;
  for (const [i, n] of counts.entries()) {
    process.stderr.write(`bench ${mode}: --processes ${n}\n`);
    const before = listOut();
    code = Math.max(code, await run([...rest, '--processes', String(n)]));
    const file = newResultFile(mode, before);
    if (file === undefined) continue;
    for (const [figure, value] of figures(mode, JSON.parse(readFileSync(join(OUT_DIR, file), 'utf8')) as ResultFile)) {
      const row = rows.get(figure) ?? { figure, values: new Array(counts.length).fill(undefined) };
      row.values[i] = value;
      rows.set(figure, row);
    }
  }
  const fmt = (v: number | undefined) => (v === undefined ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(2));
  const head = `| figure (switchyard path) | ${counts.map((n) => `${n} process(es)`).join(' | ')} | ${counts
    .slice(1)
    .map((n) => `${n}/${counts[0]}`)
    .join(' | ')} |`;
  const lines = [head, `| --- |${' --- |'.repeat(counts.length * 2 - 1)}`];
  for (const row of rows.values()) {
    const base = row.values[0];
    const ratios = row.values
      .slice(1)
      .map((v) => (v === undefined || base === undefined || !(base > 0) ? '-' : `${(v / base).toFixed(2)}x`));
    lines.push(`| ${row.figure} | ${row.values.map(fmt).join(' | ')} | ${ratios.join(' | ')} |`);
  }
  process.stdout.write(`\n### Processes sweep (${mode})\n\n${lines.join('\n')}\n`);
  return code;
}
