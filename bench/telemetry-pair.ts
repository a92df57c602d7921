// `npm run bench -- telemetry-pair`: the metrics and tracing overhead of issue 9 ("CPU per call with
// and without, same sitting") with both configurations running at the same time, so the machine's
// load lands on both alike. The grpc and http modes run one configuration after another; on this
// shared 2-core machine the same configuration's CPU per call moves 10-20% between runs a minute
// apart, which is larger than the effect being measured (their interleaved sweeps still scattered
// from 1.07x to 1.20x across sittings). Here, per path:
//
//   1. one sample container (gRPC echo or HTTP echo) and, for `traces`, an OTLP sink in this process;
//   2. two complete Switchyard stacks (stack A and stack B: each its own nats-server, redis-server
//      for http, front end and worker, from bench/lib/switchyard-stack.ts and switchyard-http-stack.ts),
//      identical but for the telemetry environment of `--modes A,B` (bench/lib/telemetry-modes.ts),
//      both in front of that container;
//   3. both loads at once (h2load: 4 connections x 16 streams; wrk: 64 connections), `--rate` calls
//      per second EACH, for `--warmup` s, then `--windows` windows of `--window-s` s;
//   4. per window, each stack's front end and worker CPU (from /proc) over the calls it answered,
//      and the ratio B/A. Reported: every window, the median of the window ratios with its range,
//      and the ratio of the totals.
//
// `--modes none,none` is the control: what the method reads when nothing differs (ideally 1.00x).
// Both stacks start together and are symmetric; which one the kernel favours is not fixed, so a
// control run bounds that bias in the same sitting.
//   node bench/run.ts telemetry-pair [--paths grpc,http] [--modes none,traces] [--rate 400]
//     [--windows 8] [--window-s 10] [--warmup 8]

import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopAll } from '@switchyard/testkit';
import { echoBody } from './http.ts';
import { listOf, parseOrExit, positiveInt } from './lib/args.ts';
import { type BenchChild, nodeBinary, spawnChild } from './lib/child.ts';
import type { ProfileSpan } from './lib/cpu-profile.ts';
import { encodeEchoRequest, grpcFrame, patternPayload } from './lib/grpc-frame.ts';
import { runH2load } from './lib/h2load.ts';
import {
  type CpuSubject,
  cpuDelta,
  readCpu,
  readThreadCpu,
  THREAD_GROUPS,
  type ThreadGroup,
  withChildren,
} from './lib/proc-stat.ts';
import { renderProfileDiff } from './lib/profile-diff.ts';
import { fmt, markdownTable, median, OUT_DIR, writeResultFile } from './lib/report.ts';
import { startSwitchyardHttp } from './lib/switchyard-http-stack.ts';
import { startSwitchyard } from './lib/switchyard-stack.ts';
import {
  type OtlpSink,
  parseTelemetryMode,
  startOtlpSink,
  type TelemetryMode,
  telemetryEnv,
} from './lib/telemetry-modes.ts';
import { ensureTools } from './lib/tools.ts';
import { runWrk } from './lib/wrk.ts';

const CALL_COUNTER = fileURLToPath(new URL('./lib/call-counter.ts', import.meta.url));
const UNARY_PATH = '/switchyard.echo.v1.Echo/Unary';
/** Paths the bench can pair. */
export const PairPaths = ['grpc', 'http'] as const;
/** One of {@link PairPaths}. */
export type PairPath = (typeof PairPaths)[number];

const USAGE = `usage: npm run bench -- telemetry-pair [options]
  --paths LIST      grpc, http or both (default grpc,http)
  --modes A,B       two --telemetry modes (none, off, metrics, traces) run at the same time (default none,traces)
  --rate N          offered load of EACH stack, calls (requests) per second (default 400)
  --windows N       measured windows (default 8)
  --window-s N      seconds per window (default 10)
  --warmup N        seconds of load before the first window (default 8)
  --b-env K=V,...   extra environment of stack B's front end and worker, over its mode (an experiment:
                    e.g. OTEL_PROPAGATORS=none to see what propagation costs)
  --profile         run both stacks' front end and worker with --cpu-prof (bench/out/profiles) and print
                    where B spends more CPU per call than A, by area and by function (figures inflated)
  -h, --help`;

/** Resolved options of one run. */
export interface TelemetryPairConfig {
  paths: PairPath[];
  /** Telemetry of stack A and of stack B. */
  modes: [TelemetryMode, TelemetryMode];
  /** Offered load per stack, calls/s. */
  rate: number;
  windows: number;
  windowS: number;
  warmupS: number;
  /** Extra environment of stack B's front end and worker, over its mode's (`--b-env`). */
  bEnv: Record<string, string>;
  /** Profile both stacks' front end and worker (`--profile`). */
  profile: boolean;
}

/**
 * `K=V,K=V` as an object; {} when absent.
 * @throws TypeError for an entry without `=` or with an empty name.
 */
function parseEnvList(raw: string | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  if (raw === undefined || raw === '') return env;
  for (const entry of raw.split(',')) {
    const at = entry.indexOf('=');
    if (at <= 0) throw new TypeError(`--b-env takes K=V entries, got ${entry}`);
    env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return env;
}

/** Parses the command line; undefined for --help; throws TypeError on bad input. */
export function parseTelemetryPairArgs(argv: string[]): TelemetryPairConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      paths: { type: 'string' },
      modes: { type: 'string' },
      rate: { type: 'string' },
      windows: { type: 'string' },
      'window-s': { type: 'string' },
      warmup: { type: 'string' },
      profile: { type: 'boolean' },
      'b-env': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const modes = (values.modes ?? 'none,traces').split(',');
  if (modes.length !== 2) throw new TypeError(`--modes takes two modes, got ${values.modes}`);
  return {
    paths: listOf('path', values.paths, PairPaths),
    modes: [parseTelemetryMode(modes[0]), parseTelemetryMode(modes[1])],
    rate: positiveInt('--rate', values.rate, 400),
    windows: positiveInt('--windows', values.windows, 8),
    windowS: positiveInt('--window-s', values['window-s'], 10),
    warmupS: positiveInt('--warmup', values.warmup, 8),
    profile: values.profile ?? false,
    bEnv: parseEnvList(values['b-env']),
  };
}

/** One stack of a pair, running. */
interface PairStack {
  /** Front end (`proxy` or `invocation`) and `worker`. */
  subjects: CpuSubject[];
  /** Pids of the front end and the worker (their .cpuprofile files carry them). */
  pids: { frontEnd: number | undefined; worker: number | undefined };
  /** Runs the stack's load for `durationS` s; resolves with the calls answered well, or throws on any error. */
  load(durationS: number): Promise<{ calls: number; rps: number }>;
  stop(): Promise<void>;
}

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

/** Per call, by subject and thread group, between two {@link readThreadCpu} readings. */
function threadsPerCall(
  before: Map<string, Record<ThreadGroup, number>>,
  after: Map<string, Record<ThreadGroup, number>>,
  calls: number,
): Record<string, Record<ThreadGroup, number>> {
  const out: Record<string, Record<ThreadGroup, number>> = {};
  for (const [name, end] of after) {
    const start = before.get(name);
    const per: Record<ThreadGroup, number> = { main: 0, v8: 0, other: 0 };
    for (const g of THREAD_GROUPS) per[g] = (end[g] - (start?.[g] ?? 0)) / calls;
    out[name] = per;
  }
  return out;
}

async function grpcStack(
  containerPort: number,
  env: Record<string, string>,
  rate: number,
  work: string,
  profileDir: string | undefined,
): Promise<PairStack> {
  const stack = await startSwitchyard({ containerPort, concurrency: 256, proxyEnv: env, workerEnv: env, profileDir });
  const bodyFile = join(work, 'unary-request.bin');
  return {
    subjects: [
      { name: 'front end', pids: () => withChildren(stack.proxy.pid) },
      { name: 'worker', pids: () => [stack.worker.pid] },
    ],
    pids: { frontEnd: stack.proxy.pid, worker: stack.worker.pid },
    async load(durationS) {
      const r = await runH2load({
        url: `http://127.0.0.1:${stack.port}${UNARY_PATH}`,
        connections: 4,
        streamsPerConnection: 16,
        rps: rate,
        durationS,
        bodyFile,
        headers: [
          'content-type: application/grpc',
          'te: trailers',
          ...Object.entries(stack.headers).map(([k, v]) => `${k}: ${v}`),
        ],
      });
      if (r.requests.failed + r.requests.errored > 0 || r.status2xx < r.requests.succeeded)
        throw new Error(`h2load: failed ${r.requests.failed}, errored ${r.requests.errored}, 2xx ${r.status2xx}`);
      return { calls: r.requests.succeeded, rps: r.rps };
    },
    stop: () => stack.stop(),
  };
}

async function httpStack(
  containerPort: number,
  env: Record<string, string>,
  rate: number,
  profileDir: string | undefined,
): Promise<PairStack> {
  const stack = await startSwitchyardHttp({
    containerPort,
    concurrency: 256,
    invocationEnv: env,
    workerEnv: env,
    profileDir,
  });
  return {
    subjects: [
      { name: 'front end', pids: () => withChildren(stack.invocation.pid) },
      { name: 'worker', pids: () => [stack.worker.pid] },
    ],
    pids: { frontEnd: stack.invocation.pid, worker: stack.worker.pid },
    async load(durationS) {
      const r = await runWrk({
        url: `http://127.0.0.1:${stack.port}/echo`,
        connections: 64,
        rps: rate,
        durationS,
        method: 'POST',
        body: echoBody(100),
        headers: { 'Content-Type': 'application/json', ...stack.headers },
      });
      const { connect, read, write, status, timeout } = r.errors;
      if (connect + read + write + status + timeout > 0) throw new Error(`wrk errors ${JSON.stringify(r.errors)}`);
      return { calls: r.ok, rps: r.rps };
    },
    stop: () => stack.stop(),
  };
}

async function startContainer(path: PairPath): Promise<BenchChild> {
  const args =
    path === 'grpc'
      ? ['--import', CALL_COUNTER, 'packages/sample-functions/src/main.ts', 'echo', '--port', '0']
      : ['packages/sample-functions/src/main.ts', 'http', '--port', '0'];
  return spawnChild('container', nodeBinary(), args);
}

/** Runs both stacks' loads for one window at the same time and reads their CPU around it. */
async function measureWindow(a: PairStack, b: PairStack, durationS: number): Promise<PairWindow> {
  const threadsBefore = [readThreadCpu(a.subjects), readThreadCpu(b.subjects)] as const;
  const before = [readCpu(a.subjects), readCpu(b.subjects)] as const;
  const [ra, rb] = await Promise.all([a.load(durationS), b.load(durationS)]);
  const after = [readCpu(a.subjects), readCpu(b.subjects)] as const;
  const threadsAfter = [readThreadCpu(a.subjects), readThreadCpu(b.subjects)] as const;
  const per = (delta: Record<string, number>, calls: number) => {
    const out: Record<string, number> = {};
    for (const [name, us] of Object.entries(delta)) out[name] = us / calls;
    out.sum = Object.values(delta).reduce((x, y) => x + y, 0) / calls;
    return out;
  };
  return {
    a: {
      ...ra,
      usPerCall: per(cpuDelta(before[0], after[0]), ra.calls),
      threadUsPerCall: threadsPerCall(threadsBefore[0], threadsAfter[0], ra.calls),
    },
    b: {
      ...rb,
      usPerCall: per(cpuDelta(before[1], after[1]), rb.calls),
      threadUsPerCall: threadsPerCall(threadsBefore[1], threadsAfter[1], rb.calls),
    },
  };
}

/** The result of one path. */
export interface PairPathResult {
  path: PairPath;
  windows: PairWindow[];
  error?: string;
  /** With `--profile`: where B spends more CPU per call than A (markdown). */
  profileDiff?: string;
}

async function runPairPath(path: PairPath, config: TelemetryPairConfig, sink: OtlpSink | undefined, work: string) {
  const result: PairPathResult = { path, windows: [] };
  const container = await startContainer(path);
  const port = container.ready.port as number;
  const stacks: PairStack[] = [];
  const profileDir = config.profile ? join(OUT_DIR, 'profiles') : undefined;
  // From the first window's start to the last one's end on the profiles' clock (`process.hrtime`), us.
  let measured: ProfileSpan | undefined;
  try {
    process.stderr.write(`bench telemetry-pair: ${path}: starting stacks ${config.modes.join(' and ')}\n`);
    const started = await Promise.allSettled(
      config.modes.map((mode, i) => {
        const env = { ...telemetryEnv(mode, sink?.url), ...(i === 1 ? config.bEnv : {}) };
        return path === 'grpc'
          ? grpcStack(port, env, config.rate, work, profileDir)
          : httpStack(port, env, config.rate, profileDir);
      }),
    );
    for (const s of started) if (s.status === 'fulfilled') stacks.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const [a, b] = stacks as [PairStack, PairStack];
    await Promise.all([a.load(config.warmupS), b.load(config.warmupS)]);
    const fromUs = Number(process.hrtime.bigint() / 1000n);
    for (let i = 0; i < config.windows; i++) {
      process.stderr.write(`bench telemetry-pair: ${path}: window ${i + 1}/${config.windows}\n`);
      result.windows.push(await measureWindow(a, b, config.windowS));
    }
    measured = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bench telemetry-pair: ${path}: ${result.error}\n`);
  } finally {
    await Promise.all(stacks.map((s) => s.stop()));
    await container.stop();
  }
  if (profileDir !== undefined && measured !== undefined)
    result.profileDiff = diffProfiles(profileDir, result.windows, measured, stacks, path);
  return result;
}

/** The profile comparison of both stacks' front end and worker (their files are named by pid). */
function diffProfiles(
  dir: string,
  windows: readonly PairWindow[],
  measured: ProfileSpan,
  stacks: PairStack[],
  path: PairPath,
): string {
  const files = readdirSync(dir);
  const fileOf = (pid: number | undefined) => {
    const f = files.find((name) => pid !== undefined && name.includes(`.${pid}.`) && name.endsWith('.cpuprofile'));
    return f === undefined ? undefined : join(dir, f);
  };
  const out: string[] = [];
  for (const [role, name] of [
    ['frontEnd', path === 'grpc' ? 'proxy' : 'invocation'],
    ['worker', 'worker'],
  ] as const) {
    const files = stacks.map((s) => fileOf(s.pids[role]));
    const calls = (side: 'a' | 'b') => windows.reduce((n, w) => n + w[side].calls, 0);
    const [a, b] = files;
    if (a === undefined || b === undefined) out.push(`(no profile of the ${name})`);
    else out.push(renderProfileDiff(name, { file: a, calls: calls('a') }, { file: b, calls: calls('b') }, measured));
  }
  return out.join('\n\n');
}

/** Median, smallest and largest of `values`. */
function spread(values: number[]): string {
  if (values.length === 0) return '-';
  return `${fmt(median(values), 3)}x (${fmt(Math.min(...values), 3)}-${fmt(Math.max(...values), 3)})`;
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

/** The report of one path: every window, then the ratios B/A. */
export function renderPairPath(r: PairPathResult, config: TelemetryPairConfig): string {
  const [ma, mb] = config.modes;
  const extra = Object.entries(config.bEnv).map(([k, v]) => `${k}=${v}`);
  const b = extra.length === 0 ? mb : `${mb} with ${extra.join(' ')}`;
  const out = [`### ${r.path}: ${ma} (A) and ${b} (B) at the same time, ${config.rate}/s each`, ''];
  if (r.error !== undefined) out.push(`error: ${r.error}`, '');
  const names = ['front end', 'worker', 'sum'];
  out.push(
    markdownTable(
      [
        'window',
        'A calls/s',
        'B calls/s',
        ...names.map((n) => `A ${n} us/call`),
        ...names.map((n) => `B ${n} us/call`),
        'B/A sum',
      ],
      r.windows.map((w, i) => [
        String(i + 1),
        fmt(w.a.rps),
        fmt(w.b.rps),
        ...names.map((n) => fmt(w.a.usPerCall[n], 1)),
        ...names.map((n) => fmt(w.b.usPerCall[n], 1)),
        fmt((w.b.usPerCall.sum ?? Number.NaN) / (w.a.usPerCall.sum ?? Number.NaN), 3),
      ]),
    ),
    '',
  );
  const rows = names.map((n) => {
    const ratios = r.windows.map((w) => (w.b.usPerCall[n] ?? Number.NaN) / (w.a.usPerCall[n] ?? Number.NaN));
    const total = (side: 'a' | 'b') => r.windows.reduce((s, w) => s + (w[side].usPerCall[n] ?? 0) * w[side].calls, 0);
    const calls = (side: 'a' | 'b') => r.windows.reduce((s, w) => s + w[side].calls, 0);
    return [n, spread(ratios), fmt(total('b') / calls('b') / (total('a') / calls('a')), 3)];
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

/** Runs the bench with `argv` (after `telemetry-pair`); prints the report; resolves with the exit code. */
export async function runTelemetryPairBench(argv: string[]): Promise<number> {
  const config = parseOrExit(parseTelemetryPairArgs, argv, USAGE);
  if (typeof config === 'number') return config;
  ensureTools(config.paths.includes('grpc') ? ['h2load'] : []);
  const startedAt = new Date();
  const work = mkdtempSync(join(tmpdir(), 'switchyard-bench-pair-'));
  writeFileSync(join(work, 'unary-request.bin'), grpcFrame(encodeEchoRequest(patternPayload(100))));
  const sink = config.modes.includes('traces') ? await startOtlpSink() : undefined;
  const results: PairPathResult[] = [];
  try {
    for (const path of config.paths) results.push(await runPairPath(path, config, sink, work));
  } finally {
    await sink?.close();
    await stopAll();
  }
  process.stdout.write(`${results.map((r) => renderPairPath(r, config)).join('\n\n')}\n`);
  if (sink !== undefined) process.stdout.write(`\nOTLP sink: ${sink.traceRequests()} trace export request(s)\n`);
  const file = writeResultFile(
    'telemetry-pair',
    { startedAt: startedAt.toISOString(), machine: { cpus: cpus().length, node: process.version }, config, results },
    startedAt,
  );
  process.stdout.write(`\nresults: ${file}\n`);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}
