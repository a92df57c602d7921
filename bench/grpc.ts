// `npm run bench -- grpc`: unary and bidi-streaming load against the echo sample function on four
// paths (direct, nginx grpc_pass, node-proxy: the floor of one node:http2 hop
// (bench/lib/node-h2-proxy-child.ts), Switchyard proxy+worker), with per-process CPU per call, latency
// percentiles, ratios between the paths and PASS/MISS against the performance targets.

import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopAll } from '@switchyard/testkit';
import { listOf, parseOrExit, positiveInt } from './lib/args.ts';
import { type BenchChild, nodeBinary, REPO_ROOT, spawnChild } from './lib/child.ts';
import { type ProfileReport, profileReport, renderProfileReports } from './lib/cpu-profile.ts';
import { encodeEchoRequest, grpcFrame, patternPayload } from './lib/grpc-frame.ts';
import { type H2loadResult, runH2load } from './lib/h2load.ts';
import { type NginxHandle, startNginx } from './lib/nginx.ts';
import { startNodeProxy } from './lib/node-proxy.ts';
import { type CpuSubject, cpuDelta, machineBusyMicros, readCpu, withChildren } from './lib/proc-stat.ts';
import { floorRow, fmt, markdownTable, OUT_DIR, type TargetCheck, targetTable, writeResultFile } from './lib/report.ts';
import { SERVICE_ENTRIES, type SwitchyardStack, startSwitchyard } from './lib/switchyard-stack.ts';
import { parseTelemetryMode, startOtlpSink, type TelemetryMode, telemetryEnv } from './lib/telemetry-modes.ts';
import { ensureTools } from './lib/tools.ts';

const UNARY_PATH = '/switchyard.echo.v1.Echo/Unary';
const CALL_COUNTER = fileURLToPath(new URL('./lib/call-counter.ts', import.meta.url));
const GRPC_CLIENT = fileURLToPath(new URL('./lib/grpc-client.ts', import.meta.url));

/** Paths the bench can drive, in the order they run. */
export const BenchPaths = ['direct', 'nginx', 'node-proxy', 'switchyard'] as const;
/** One of {@link BenchPaths}. */
export type BenchPath = (typeof BenchPaths)[number];

/** Processes whose CPU is charged per call (absent ones are not part of that path). */
const PROCESS_NAMES = ['container', 'nginx', 'node-proxy', 'proxy', 'worker', 'nats'] as const;

/** Performance targets of the issue. */
export const GrpcTargets = {
  proxyCpuUsPerCall: 80,
  workerCpuUsPerCall: 80,
  addedP50MsAtOneStream: 0.5,
} as const;

/** Resolved options of one run. */
export interface GrpcBenchConfig {
  /** SWITCHYARD_PROCESSES of the front end on the Switchyard path (`--processes`, issue 12). */
  processes: number;
  /** Metrics and tracing of the front end and worker on the Switchyard path (`--telemetry`, issue 9). */
  telemetry: TelemetryMode;
  /** SWITCHYARD_TUNNEL_MUX of the proxy and worker on the Switchyard path (`--tunnel-mux`, issue 12). */
  tunnelMux: TunnelMuxMode;
  /** Offered load of the levels above one connection, calls/s in total (`--rate`); undefined: as fast as they go. */
  rate: number | undefined;
  durationS: number;
  warmupS: number;
  /** Connections used for every level above one stream. */
  connections: number;
  /** Concurrent streams per level (1 is always one connection). */
  streamLevels: number[];
  paths: BenchPath[];
  profile: boolean;
  verifyCalls: number;
  bidiCalls: number;
  bidiMessageBytes: number;
  payloadBytes: number;
  /** Worker concurrency on the Switchyard path. */
  workerConcurrency: number;
}

/** One h2load level on one path. */
export interface UnaryResult {
  streams: number;
  connections: number;
  streamsPerConnection: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  mbPerS: number;
  h2load: H2loadResult;
  /** Calls the container answered with grpc-status 0 / other, during the measured run. */
  container: { ok: number; failed: number };
  /** h2load's succeeded calls all ended in grpc-status 0 at the container (see README). */
  statusCheck: 'ok' | string;
  cpuUsPerCall: Partial<Record<(typeof PROCESS_NAMES)[number], number>>;
  /** Busy cores of the whole machine during the run (path + load generator + anything else). */
  machineBusyCores: number;
}

/** The bidi streaming run on one path. */
export interface BidiResult {
  calls: number;
  messageBytes: number;
  bytes: number;
  elapsedS: number;
  mbPerS: number;
  /** CPU per megabyte (10^6) echoed, microseconds. */
  cpuUsPerMB: Partial<Record<(typeof PROCESS_NAMES)[number], number>>;
  /** Busy cores of the whole machine during the run. */
  machineBusyCores: number;
}

/** Everything measured on one path. */
export interface PathResult {
  path: BenchPath;
  skipped?: string;
  error?: string;
  verify?: { calls: number; ok: number; failed: number };
  unary: UnaryResult[];
  bidi?: BidiResult;
  profiles?: ProfileReport[];
}

const USAGE = `usage: npm run bench -- grpc [options]
  --duration S        measured seconds per h2load level and for the bidi run (default 10)
  --warmup S          warm-up seconds before each measured run (default 2)
  --connections N     HTTP/2 connections for levels above 1 stream (default 4)
  --streams LIST      concurrent stream levels (default 1,16,64)
  --paths LIST        direct,nginx,node-proxy,switchyard (default all; node-proxy: a node:http2
                      passthrough, nothing else: the floor of one Node hop)
  --verify-calls N    grpc-js calls per path that must all end in grpc-status 0 (default 500)
  --bidi-calls N      concurrent bidi calls (default 16)
  --bidi-bytes N      bidi message payload bytes (default 65536)
  --payload-bytes N   unary request payload bytes (default 100)
  --processes LIST    SWITCHYARD_PROCESSES of the proxy, e.g. 1,2: one run per count, then a ratio table
  --telemetry MODE    none, off, metrics or traces (1% sampled, OTLP to a sink): the proxy and worker's
                      metrics and tracing (issue 9); a list (off,metrics,traces) runs each, then a ratio table
  --tunnel-mux MODE   off or on: SWITCHYARD_TUNNEL_MUX of the proxy and worker (framed tunnels, issue 12);
                      the list off,on runs each, then a ratio table (default: the services' own default)
  --repeats N         with a --telemetry, --processes or --tunnel-mux list: rounds of the whole list,
                      interleaved (default 1)
  --rate N            offered load: N calls/s in total at the levels above 1 connection (h2load --rps), so
                      configurations compare CPU per call at equal load (default: as fast as they go)
  --profile           run proxy and worker with --cpu-prof into bench/out/profiles; print top 15
  -h, --help`;

/** Values of `--tunnel-mux`. */
export const TunnelMuxModes = ['off', 'on'] as const;
/** One of {@link TunnelMuxModes}, or `inherit` (the variable unset: the services' default). */
export type TunnelMuxMode = (typeof TunnelMuxModes)[number] | 'inherit';

/**
 * `raw` (the text of `--tunnel-mux`) as a mode; `inherit` when absent.
 * @throws TypeError naming the allowed values.
 */
export function parseTunnelMuxMode(raw: string | undefined): TunnelMuxMode {
  if (raw === undefined) return 'inherit';
  if (!(TunnelMuxModes as readonly string[]).includes(raw))
    throw new TypeError(`--tunnel-mux must be one of ${TunnelMuxModes.join(', ')}, got ${raw}`);
  return raw as TunnelMuxMode;
}

/** SWITCHYARD_TUNNEL_MUX for the proxy and the worker in `mode` (nothing for `inherit`). */
export function tunnelMuxEnv(mode: TunnelMuxMode): Record<string, string> {
  return mode === 'inherit' ? {} : { SWITCHYARD_TUNNEL_MUX: mode === 'on' ? 'true' : 'false' };
}

/** Parses the command line of `bench grpc` into a resolved config; throws TypeError on bad input. */
export function parseGrpcArgs(argv: string[]): GrpcBenchConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      streams: { type: 'string' },
      paths: { type: 'string' },
      'verify-calls': { type: 'string' },
      'bidi-calls': { type: 'string' },
      'bidi-bytes': { type: 'string' },
      'payload-bytes': { type: 'string' },
      processes: { type: 'string' },
      telemetry: { type: 'string' },
      'tunnel-mux': { type: 'string' },
      rate: { type: 'string' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const connections = positiveInt('--connections', values.connections, 4);
  const streamLevels = (values.streams ?? '1,16,64').split(',').map((s) => positiveInt('--streams', s, 1));
  for (const level of streamLevels)
    if (level > 1 && level % connections !== 0)
      throw new TypeError(`--streams ${level} is not a multiple of --connections ${connections}`);
  return {
    durationS: positiveInt('--duration', values.duration, 10),
    warmupS: positiveInt('--warmup', values.warmup, 2),
    connections,
    streamLevels,
    paths: listOf('path', values.paths, BenchPaths),
    profile: values.profile ?? false,
    processes: positiveInt('--processes', values.processes, 1),
    telemetry: parseTelemetryMode(values.telemetry),
    tunnelMux: parseTunnelMuxMode(values['tunnel-mux']),
    rate: values.rate === undefined ? undefined : positiveInt('--rate', values.rate, 1),
    verifyCalls: positiveInt('--verify-calls', values['verify-calls'], 500),
    bidiCalls: positiveInt('--bidi-calls', values['bidi-calls'], 16),
    bidiMessageBytes: positiveInt('--bidi-bytes', values['bidi-bytes'], 65536),
    payloadBytes: positiveInt('--payload-bytes', values['payload-bytes'], 100),
    workerConcurrency: 256,
  };
}

/** Reads the container's per-path call counters (bench/lib/call-counter.ts, via SIGUSR2). */
async function readCallCounts(container: BenchChild): Promise<{ ok: number; failed: number }> {
  const next = container.nextJson((v) => 'callCounts' in v, 5_000);
  container.child.kill('SIGUSR2');
  const counts = (await next).callCounts as Record<string, { ok: number; failed: number }>;
  return counts[UNARY_PATH] ?? { ok: 0, failed: 0 };
}

function perUnit(delta: Record<string, number>, units: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, us] of Object.entries(delta)) out[name] = units > 0 ? us / units : Number.NaN;
  return out;
}

/** The target and the processes of one path, while it is set up. */
interface PathSetup {
  port: number;
  headers: Record<string, string>;
  subjects: CpuSubject[];
  stop(): Promise<void>;
  stack?: SwitchyardStack;
}

async function setUpPath(
  path: BenchPath,
  container: BenchChild,
  containerPort: number,
  config: GrpcBenchConfig,
  profileDir: string,
  serviceEnv: Record<string, string>,
): Promise<PathSetup> {
  const containerSubject: CpuSubject = { name: 'container', pids: () => [container.pid] };
  if (path === 'direct') {
    return { port: containerPort, headers: {}, subjects: [containerSubject], stop: async () => {} };
  }
  if (path === 'nginx') {
    const nginx: NginxHandle = await startNginx(containerPort);
    return {
      port: nginx.port,
      headers: {},
      subjects: [containerSubject, { name: 'nginx', pids: nginx.pids }],
      stop: () => nginx.stop(),
    };
  }
  if (path === 'node-proxy') {
    const proxy = await startNodeProxy('grpc', containerPort);
    return {
      port: proxy.port,
      headers: {},
      subjects: [containerSubject, { name: 'node-proxy', pids: () => [proxy.pid] }],
      stop: () => proxy.stop(),
    };
  }
  const stack = await startSwitchyard({
    containerPort,
    concurrency: config.workerConcurrency,
    proxyEnv: { ...serviceEnv, ...tunnelMuxEnv(config.tunnelMux), SWITCHYARD_PROCESSES: String(config.processes) },
    workerEnv: { ...serviceEnv, ...tunnelMuxEnv(config.tunnelMux) },
    profileDir: config.profile ? profileDir : undefined,
  });
  return {
    port: stack.port,
    headers: stack.headers,
    stack,
    subjects: [
      containerSubject,
      { name: 'proxy', pids: () => withChildren(stack.proxy.pid) },
      { name: 'worker', pids: () => [stack.worker.pid] },
      { name: 'nats', pids: () => (stack.nats.pid === undefined ? [] : [stack.nats.pid]) },
    ],
    stop: () => stack.stop(),
  };
}

async function runClient(args: string[]): Promise<BenchChild> {
  return spawnChild('grpc-client', nodeBinary(), [GRPC_CLIENT, ...args], { waitReady: false });
}

async function verifyPath(setup: PathSetup, config: GrpcBenchConfig): Promise<NonNullable<PathResult['verify']>> {
  const client = await runClient([
    'verify',
    '--target',
    `127.0.0.1:${setup.port}`,
    '--metadata',
    JSON.stringify(setup.headers),
    '--calls',
    String(config.verifyCalls),
    '--concurrency',
    '16',
  ]);
  const result = await client.nextJson((v) => 'verify' in v, 120_000);
  await client.exited;
  if (typeof result.error === 'string') throw new Error(result.error);
  return result.verify as NonNullable<PathResult['verify']>;
}

async function runUnaryLevel(
  setup: PathSetup,
  container: BenchChild,
  streams: number,
  config: GrpcBenchConfig,
  bodyFile: string,
  logFile: string,
): Promise<UnaryResult> {
  const connections = streams === 1 ? 1 : config.connections;
  const streamsPerConnection = streams / connections;
  const common = {
    url: `http://127.0.0.1:${setup.port}${UNARY_PATH}`,
    connections,
    streamsPerConnection,
    rps: streams === 1 ? undefined : config.rate,
    bodyFile,
    headers: [
      'content-type: application/grpc',
      'te: trailers',
      ...Object.entries(setup.headers).map(([k, v]) => `${k}: ${v}`),
    ],
  };
  await runH2load({ ...common, durationS: config.warmupS });
  await new Promise((r) => setTimeout(r, 300)); // let warm-up stragglers finish before counting
  const countsBefore = await readCallCounts(container);
  const cpuBefore = readCpu(setup.subjects);
  const busyBefore = machineBusyMicros();
  const h2load = await runH2load({ ...common, durationS: config.durationS, logFile });
  const busyAfter = machineBusyMicros();
  const cpuAfter = readCpu(setup.subjects);
  await new Promise((r) => setTimeout(r, 300));
  const countsAfter = await readCallCounts(container);
  const ok = countsAfter.ok - countsBefore.ok;
  const failed = countsAfter.failed - countsBefore.failed;
  const { succeeded } = h2load.requests;
  // h2load counts a call when its response ends; calls still in flight when -D expires can be
  // answered by the container without being counted, hence up to `streams` more at the container.
  const problems: string[] = [];
  if (h2load.requests.failed + h2load.requests.errored > 0)
    problems.push(`h2load failed ${h2load.requests.failed}, errored ${h2load.requests.errored}`);
  // A 2xx is counted when response headers arrive, so calls cut off by -D can be 2xx, not succeeded.
  if (h2load.status2xx < succeeded || h2load.status2xx > succeeded + streams)
    problems.push(`2xx ${h2load.status2xx} vs succeeded ${succeeded}`);
  if (failed > 0) problems.push(`container sent ${failed} non-zero grpc-status`);
  if (ok < succeeded || ok > succeeded + streams)
    problems.push(`container grpc-status 0: ${ok}, h2load succeeded: ${succeeded}`);
  const latency = h2load.latencyMs;
  return {
    streams,
    connections,
    streamsPerConnection,
    rps: h2load.rps,
    p50Ms: latency?.p50 ?? Number.NaN,
    p90Ms: latency?.p90 ?? Number.NaN,
    p99Ms: latency?.p99 ?? Number.NaN,
    meanMs: latency?.mean ?? Number.NaN,
    mbPerS: h2load.mbPerS,
    h2load,
    container: { ok, failed },
    statusCheck: problems.length === 0 ? 'ok' : problems.join('; '),
    cpuUsPerCall: perUnit(cpuDelta(cpuBefore, cpuAfter), succeeded),
    machineBusyCores: (busyAfter - busyBefore) / 1e6 / h2load.elapsedS,
  };
}

async function runBidi(setup: PathSetup, config: GrpcBenchConfig): Promise<BidiResult> {
  const client = await runClient([
    'bidi',
    '--target',
    `127.0.0.1:${setup.port}`,
    '--metadata',
    JSON.stringify(setup.headers),
    '--calls',
    String(config.bidiCalls),
    '--message-bytes',
    String(config.bidiMessageBytes),
    '--warmup-s',
    String(config.warmupS),
    '--duration-s',
    String(config.durationS),
  ]);
  const timeout = (config.warmupS + config.durationS) * 1000 + 30_000;
  await client.nextJson((v) => v.phase === 'measure-start', timeout);
  const cpuBefore = readCpu(setup.subjects);
  const busyBefore = machineBusyMicros();
  const end = await client.nextJson((v) => v.phase === 'measure-end', timeout);
  const busyAfter = machineBusyMicros();
  const cpuAfter = readCpu(setup.subjects);
  const final = await client.nextJson((v) => 'bidi' in v, 60_000);
  if (typeof final.error === 'string') throw new Error(final.error);
  const bytes = end.bytes as number;
  const elapsedS = end.elapsedS as number;
  return {
    calls: config.bidiCalls,
    messageBytes: config.bidiMessageBytes,
    bytes,
    elapsedS,
    mbPerS: bytes / elapsedS / 1e6,
    cpuUsPerMB: perUnit(cpuDelta(cpuBefore, cpuAfter), bytes / 1e6),
    machineBusyCores: (busyAfter - busyBefore) / 1e6 / elapsedS,
  };
}

async function runPath(
  path: BenchPath,
  container: BenchChild,
  containerPort: number,
  config: GrpcBenchConfig,
  work: string,
  serviceEnv: Record<string, string>,
): Promise<PathResult> {
  const result: PathResult = { path, unary: [] };
  if (path === 'switchyard') {
    const missing = Object.values(SERVICE_ENTRIES).filter((f) => !existsSync(join(REPO_ROOT, f)));
    if (missing.length > 0) {
      result.skipped = `not built yet: ${missing.join(', ')}`;
      return result;
    }
  }
  const profileDir = join(OUT_DIR, 'profiles');
  const bodyFile = join(work, 'unary-request.bin');
  let setup: PathSetup | undefined;
  try {
    process.stderr.write(`bench grpc: ${path}: starting\n`);
    setup = await setUpPath(path, container, containerPort, config, profileDir, serviceEnv);
    result.verify = await verifyPath(setup, config);
    for (const streams of config.streamLevels) {
      process.stderr.write(`bench grpc: ${path}: unary, ${streams} stream(s)\n`);
      result.unary.push(
        await runUnaryLevel(setup, container, streams, config, bodyFile, join(work, `${path}-${streams}.log`)),
      );
    }
    process.stderr.write(`bench grpc: ${path}: bidi\n`);
    result.bidi = await runBidi(setup, config);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bench grpc: ${path}: ${result.error}\n`);
  } finally {
    await setup?.stop();
  }
  const stack = setup?.stack;
  if (config.profile && stack) {
    result.profiles = [];
    for (const [name, child] of [
      ['proxy', stack.proxy],
      ['worker', stack.worker],
    ] as const) {
      const file = readdirSync(profileDir).find((f) => f.includes(`.${child.pid}.`) && f.endsWith('.cpuprofile'));
      if (file) result.profiles.push(profileReport(name, join(profileDir, file)));
    }
  }
  return result;
}

function level(result: PathResult | undefined, streams: number): UnaryResult | undefined {
  return result?.unary.find((u) => u.streams === streams);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !(b > 0) ? '-' : `${fmt(a / b, 2)}x`;
}

/**
 * Per stream level: nginx's and node-proxy's CPU per unary call, and Switchyard's proxy + worker
 * against nginx and against two node-proxy hops (what a path of two node:http2 hops cannot go below).
 */
function floorRows(byPath: Map<BenchPath, PathResult>, config: GrpcBenchConfig): string[][] {
  return config.streamLevels.map((streams) => {
    const sy = level(byPath.get('switchyard'), streams)?.cpuUsPerCall;
    return floorRow(
      streams,
      level(byPath.get('nginx'), streams)?.cpuUsPerCall.nginx,
      level(byPath.get('node-proxy'), streams)?.cpuUsPerCall['node-proxy'],
      sy?.proxy !== undefined && sy.worker !== undefined ? sy.proxy + sy.worker : undefined,
    );
  });
}

/** Ratios Switchyard/direct and Switchyard/nginx, as table rows. */
function ratioRows(byPath: Map<BenchPath, PathResult>, config: GrpcBenchConfig): string[][] {
  const sy = byPath.get('switchyard');
  const rows: string[][] = [];
  for (const streams of config.streamLevels) {
    const s = level(sy, streams);
    for (const base of ['direct', 'nginx'] as const) {
      const b = level(byPath.get(base), streams);
      rows.push([
        `unary ${streams}`,
        `switchyard/${base}`,
        ratio(s?.rps, b?.rps),
        ratio(s?.p50Ms, b?.p50Ms),
        ratio(s?.mbPerS, b?.mbPerS),
      ]);
    }
  }
  for (const base of ['direct', 'nginx'] as const)
    rows.push(['bidi', `switchyard/${base}`, '-', '-', ratio(sy?.bidi?.mbPerS, byPath.get(base)?.bidi?.mbPerS)]);
  return rows;
}

/** PASS/MISS for each target of the issue. */
export function checkTargets(byPath: Map<BenchPath, PathResult>, config: GrpcBenchConfig): TargetCheck[] {
  const top = Math.max(...config.streamLevels);
  const sy = byPath.get('switchyard');
  const syTop = level(sy, top);
  const nginxTop = level(byPath.get('nginx'), top);
  const checks: TargetCheck[] = [];
  const atMost = (target: string, value: number | undefined, limit: number, unit: string, digits: number) => {
    if (value === undefined || !Number.isFinite(value))
      return checks.push({ target, value: '-', verdict: 'n/a', gap: '-' });
    const gap = value - limit;
    checks.push({
      target,
      value: `${fmt(value, digits)} ${unit}`,
      verdict: gap <= 0 ? 'PASS' : 'MISS',
      gap: `${gap > 0 ? '+' : ''}${fmt(gap, digits)} ${unit}`,
    });
  };
  const atLeast = (target: string, value: number | undefined, floor: number | undefined, unit: string) => {
    if (value === undefined || floor === undefined || !Number.isFinite(value) || !Number.isFinite(floor))
      return checks.push({ target, value: '-', verdict: 'n/a', gap: '-' });
    const gap = value - floor;
    checks.push({
      target,
      value: `${fmt(value, 1)} vs ${fmt(floor, 1)} ${unit}`,
      verdict: gap >= 0 ? 'PASS' : 'MISS',
      gap: `${gap >= 0 ? '+' : ''}${fmt(gap, 1)} ${unit} (${fmt((100 * gap) / floor, 1)}%)`,
    });
  };
  atMost(
    `proxy CPU per unary call <= ${GrpcTargets.proxyCpuUsPerCall} us (${top} streams)`,
    syTop?.cpuUsPerCall.proxy,
    GrpcTargets.proxyCpuUsPerCall,
    'us',
    1,
  );
  atMost(
    `worker CPU per unary call <= ${GrpcTargets.workerCpuUsPerCall} us (${top} streams)`,
    syTop?.cpuUsPerCall.worker,
    GrpcTargets.workerCpuUsPerCall,
    'us',
    1,
  );
  atLeast(`Switchyard unary RPS >= nginx (${top} streams)`, syTop?.rps, nginxTop?.rps, 'RPS');
  const sy1 = level(sy, 1);
  const direct1 = level(byPath.get('direct'), 1);
  atMost(
    `added p50 over direct <= ${GrpcTargets.addedP50MsAtOneStream} ms (1 stream)`,
    sy1 && direct1 ? sy1.p50Ms - direct1.p50Ms : undefined,
    GrpcTargets.addedP50MsAtOneStream,
    'ms',
    3,
  );
  atLeast('Switchyard bidi MB/s >= nginx', sy?.bidi?.mbPerS, byPath.get('nginx')?.bidi?.mbPerS, 'MB/s');
  return checks;
}

/** Per-process CPU cells, then their sum (the path's whole CPU cost; the load generator excluded). */
function cpuCells(values: UnaryResult['cpuUsPerCall'] | undefined): string[] {
  const present = PROCESS_NAMES.map((name) => values?.[name]).filter((v): v is number => v !== undefined);
  const sum = present.length === 0 ? undefined : present.reduce((a, b) => a + b, 0);
  return [...PROCESS_NAMES.map((name) => fmt(values?.[name], 1)), fmt(sum, 1)];
}

/** The stdout report: unary table, bidi table, ratios, targets, profiles. */
export function renderGrpcReport(results: PathResult[], checks: TargetCheck[], config: GrpcBenchConfig): string {
  const byPath = new Map(results.map((r) => [r.path, r]));
  const out: string[] = [];
  out.push(
    `### gRPC echo, unary (${config.payloadBytes} B payload, ${config.durationS} s per level after ${config.warmupS} s warm-up; 1 stream = 1 connection, more = ${config.connections} connections)`,
    '',
    markdownTable(
      [
        'path',
        'streams (conns x m)',
        'RPS',
        'p50 ms',
        'p99 ms',
        'MB/s',
        ...PROCESS_NAMES.map((n) => `${n} us/call`),
        'sum us/call',
        'machine busy cores',
        'grpc-status check',
      ],
      results.flatMap((r) =>
        r.unary.length === 0
          ? [[r.path, r.skipped ? `skipped: ${r.skipped}` : `error: ${r.error ?? '?'}`]]
          : r.unary.map((u) => [
              r.path,
              `${u.streams} (${u.connections}x${u.streamsPerConnection})`,
              fmt(u.rps),
              fmt(u.p50Ms, 3),
              fmt(u.p99Ms, 3),
              fmt(u.mbPerS, 2),
              ...cpuCells(u.cpuUsPerCall),
              `${fmt(u.machineBusyCores, 2)} / ${cpus().length}`,
              u.statusCheck === 'ok' ? `ok (${fmt(u.h2load.requests.succeeded)} calls)` : `MISMATCH: ${u.statusCheck}`,
            ]),
      ),
    ),
    '',
    `### gRPC echo, bidi (${config.bidiCalls} calls on one connection, ${config.bidiMessageBytes / 1024} KiB messages, ${config.durationS} s)`,
    '',
    markdownTable(
      ['path', 'MB/s echoed', ...PROCESS_NAMES.map((n) => `${n} us/MB`), 'sum us/MB', 'machine busy cores'],
      results.map((r) =>
        r.bidi
          ? [
              r.path,
              fmt(r.bidi.mbPerS, 1),
              ...cpuCells(r.bidi.cpuUsPerMB),
              `${fmt(r.bidi.machineBusyCores, 2)} / ${cpus().length}`,
            ]
          : [r.path, r.skipped ? `skipped: ${r.skipped}` : `error: ${r.error ?? '?'}`],
      ),
    ),
    '',
    '### Ratios (Switchyard over baseline; p50 ratio > 1 means slower)',
    '',
    markdownTable(['load', 'ratio', 'RPS', 'p50', 'MB/s'], ratioRows(byPath, config)),
    '',
    '### CPU per unary call against the floor of two node:http2 hops (issue 12: proxy + worker <= 2x nginx)',
    '',
    markdownTable(
      [
        'streams',
        'nginx us/call',
        'node-proxy us/call',
        '2 x node-proxy / nginx',
        'proxy + worker us/call',
        '(proxy + worker) / nginx',
        '(proxy + worker) / (2 x node-proxy)',
      ],
      floorRows(byPath, config),
    ),
    '',
    '### Targets',
    '',
    targetTable(checks),
  );
  const verified = results
    .filter((r) => r.verify)
    .map((r) => `${r.path} ${r.verify?.ok}/${r.verify?.calls}`)
    .join(', ');
  out.push('', `grpc-js verification pass (grpc-status 0 and payload echoed): ${verified || 'none'}`);
  for (const r of results) out.push(...renderProfileReports(r.profiles ?? []));
  if (config.profile)
    out.push('', 'Note: --profile runs proxy and worker under the CPU profiler; their figures are inflated.');
  return out.join('\n');
}

/**
 * Runs the gRPC bench with command-line arguments `argv` (after `grpc`); prints the report and
 * writes bench/out/grpc-<timestamp>.json. Resolves with the process exit code.
 */
export async function runGrpcBench(argv: string[]): Promise<number> {
  const config = parseOrExit(parseGrpcArgs, argv, USAGE);
  if (typeof config === 'number') return config;
  const tools: ('h2load' | 'nginx')[] = config.paths.includes('nginx') ? ['h2load', 'nginx'] : ['h2load'];
  ensureTools(tools);
  const startedAt = new Date();
  const work = mkdtempSync(join(tmpdir(), 'switchyard-bench-grpc-'));
  writeFileSync(join(work, 'unary-request.bin'), grpcFrame(encodeEchoRequest(patternPayload(config.payloadBytes))));
  const container = await spawnChild('container', nodeBinary(), [
    '--import',
    CALL_COUNTER,
    'packages/sample-functions/src/main.ts',
    'echo',
    '--port',
    '0',
  ]);
  const containerPort = container.ready.port as number;
  const results: PathResult[] = [];
  const sink = config.telemetry === 'traces' ? await startOtlpSink() : undefined;
  const serviceEnv = telemetryEnv(config.telemetry, sink?.url);
  try {
    for (const path of config.paths)
      results.push(await runPath(path, container, containerPort, config, work, serviceEnv));
  } finally {
    if (sink !== undefined)
      process.stdout.write(
        `--telemetry traces: the OTLP sink answered ${sink.traceRequests()} trace export request(s)\n`,
      );
    await sink?.close();
    await container.stop();
    await stopAll();
  }
  const byPath = new Map(results.map((r) => [r.path, r]));
  const checks = checkTargets(byPath, config);
  process.stdout.write(`${renderGrpcReport(results, checks, config)}\n`);
  const file = writeResultFile(
    'grpc',
    {
      startedAt: startedAt.toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
      config,
      results,
      targets: checks,
    },
    startedAt,
  );
  process.stdout.write(`\nresults: ${file}\n`);
  const failed = results.some((r) => r.error !== undefined || r.unary.some((u) => u.statusCheck !== 'ok'));
  return failed ? 1 : 0;
}
