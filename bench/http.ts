// `npm run bench -- http`: HTTP/1.1 load (wrk) against the HTTP sample's /echo on four paths
// (direct, nginx proxy_pass, node-proxy: the floor of one Node.js hop (bench/lib/node-proxy-child.ts),
// Switchyard invocation+worker), with per-process CPU per request, latency
// percentiles, ratios, PASS/MISS against the targets, and the per-event latency that each
// path adds to an SSE chat completion stream.

import { existsSync, readdirSync } from 'node:fs';
import * as http from 'node:http';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type HttpEchoResponse, readSseEvents } from '@switchyard/sample-functions';
import { stopAll } from '@switchyard/testkit';
import { parseTunnelMuxMode, type TunnelMuxMode, tunnelMuxEnv } from './grpc.ts';
import { listOf, parseOrExit, positiveInt } from './lib/args.ts';
import { type BenchChild, nodeBinary, REPO_ROOT, spawnChild } from './lib/child.ts';
import { type ProfileReport, profileReport, renderProfileReports } from './lib/cpu-profile.ts';
import { percentile } from './lib/h2load.ts';
import { type NginxHandle, startNginx } from './lib/nginx.ts';
import { startNodeProxy } from './lib/node-proxy.ts';
import { type CpuSubject, cpuDelta, machineBusyMicros, readCpu, withChildren } from './lib/proc-stat.ts';
import { floorRow, fmt, markdownTable, OUT_DIR, type TargetCheck, targetTable, writeResultFile } from './lib/report.ts';
import { HTTP_SERVICE_ENTRIES, type SwitchyardHttpStack, startSwitchyardHttp } from './lib/switchyard-http-stack.ts';
import { parseTelemetryMode, startOtlpSink, type TelemetryMode, telemetryEnv } from './lib/telemetry-modes.ts';
import { ensureTools } from './lib/tools.ts';
import { runWrk, type WrkResult } from './lib/wrk.ts';

const CONTAINER_INSTANCE_ID = 'bench-http-container';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Paths the bench can drive, in the order they run. */
export const HttpBenchPaths = ['direct', 'nginx', 'node-proxy', 'switchyard'] as const;
/** One of {@link HttpBenchPaths}. */
export type HttpBenchPath = (typeof HttpBenchPaths)[number];

/** Processes whose CPU is charged per request (absent ones are not part of that path). */
const PROCESS_NAMES = ['container', 'nginx', 'node-proxy', 'invocation', 'worker', 'nats', 'redis'] as const;
type ProcessName = (typeof PROCESS_NAMES)[number];

/** Performance targets of the issue (HTTP invocation). */
export const HttpTargets = {
  /** Switchyard RPS at the highest connection level, as a share of nginx's. */
  rpsShareOfNginx: 0.5,
  /** Added p50 over direct at one connection, ms. */
  addedP50MsAtOneConnection: 1,
  /** Invocation service + worker CPU per request, microseconds. */
  invocationPlusWorkerCpuUsPerRequest: 150,
  /** Per-event SSE latency through Switchyard at p99 (an upper bound on what it adds), ms. */
  sseAddedP99Ms: 2,
} as const;

/** Resolved options of one run. */
export interface HttpBenchConfig {
  /** SWITCHYARD_PROCESSES of the front end on the Switchyard path (`--processes`, issue 12). */
  processes: number;
  /** Metrics and tracing of the front end and worker on the Switchyard path (`--telemetry`, issue 9). */
  telemetry: TelemetryMode;
  /** SWITCHYARD_TUNNEL_MUX of the invocation service and worker on the Switchyard path (`--tunnel-mux`, issue 12). */
  tunnelMux: TunnelMuxMode;
  /** Offered load of the levels above one connection, requests/s in total (`--rate`); undefined: as fast as they go. */
  rate: number | undefined;
  durationS: number;
  warmupS: number;
  connectionLevels: number[];
  paths: HttpBenchPath[];
  profile: boolean;
  verifyRequests: number;
  bodyBytes: number;
  sseStreams: number;
  sseTokens: number;
  sseDelayMs: number;
  /** Unmeasured rounds of `sseStreams` concurrent streams before the measured one (JIT warm-up). */
  sseWarmupRounds: number;
  workerConcurrency: number;
}

/** One wrk level on one path. */
export interface LoadResult {
  connections: number;
  rps: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  wrk: WrkResult;
  /** 'ok' when wrk saw no socket error and no non-2xx/3xx status; else what went wrong. */
  statusCheck: 'ok' | string;
  cpuUsPerRequest: Partial<Record<ProcessName, number>>;
  machineBusyCores: number;
}

/** Per-event latency of SSE streams on one path (arrival time minus the container's `created_ms`). */
export interface SseResult {
  streams: number;
  tokensPerStream: number;
  delayMs: number;
  events: number;
  /** Streams that did not end with every chunk and [DONE]. */
  incompleteStreams: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Everything measured on one path. */
export interface HttpPathResult {
  path: HttpBenchPath;
  skipped?: string;
  error?: string;
  verify?: { requests: number; ok: number; failed: number; firstFailure?: string };
  load: LoadResult[];
  sse?: SseResult;
  profiles?: ProfileReport[];
}

const USAGE = `usage: npm run bench -- http [options]
  --duration S          measured seconds per wrk level (default 10)
  --warmup S            warm-up seconds before each measured level (default 2)
  --connections LIST    wrk connection levels, HTTP/1.1 keep-alive (default 1,64)
  --paths LIST          direct,nginx,node-proxy,switchyard (default all; node-proxy: a node:http
                        server + undici, nothing else: the floor of one Node hop)
  --verify-requests N   POST /echo requests per path whose echo is checked (default 500)
  --body-bytes N        request body bytes of POST /echo (default 100)
  --sse-streams N       concurrent SSE chat streams per path (default 16)
  --sse-tokens N        tokens per SSE stream (default 100)
  --sse-delay-ms N      delay between SSE events at the container (default 10)
  --sse-warmup N        unmeasured rounds of the concurrent SSE streams before the measured one (default 3)
  --worker-concurrency N  worker max concurrency on the Switchyard path (default 256)
  --processes LIST      SWITCHYARD_PROCESSES of the invocation service, e.g. 1,2: one run per count, then a ratio table
  --telemetry MODE      none, off, metrics or traces (1% sampled, OTLP to a sink): the invocation service and worker's
                        metrics and tracing (issue 9); a list (off,metrics,traces) runs each, then a ratio table
  --tunnel-mux MODE     off or on: SWITCHYARD_TUNNEL_MUX of the invocation service and worker (framed tunnels,
                        issue 12); a list (off,on) runs each, then a ratio table (default: the services' own default)
  --repeats N           with a --telemetry, --processes or --tunnel-mux list: rounds of the whole list, interleaved
                        (default 1)
  --rate N              offered load: N requests/s in total at the levels above 1 connection (wrk delay()), so
                        configurations compare CPU per call at equal load (default: as fast as they go)
  --profile             run invocation and worker with --cpu-prof into bench/out/profiles; print top 15
  -h, --help`;

/** Parses the command line of `bench http` into a resolved config; throws TypeError on bad input. */
export function parseHttpArgs(argv: string[]): HttpBenchConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      paths: { type: 'string' },
      'verify-requests': { type: 'string' },
      'body-bytes': { type: 'string' },
      'sse-streams': { type: 'string' },
      'sse-tokens': { type: 'string' },
      'sse-delay-ms': { type: 'string' },
      'sse-warmup': { type: 'string' },
      'worker-concurrency': { type: 'string' },
      processes: { type: 'string' },
      telemetry: { type: 'string' },
      'tunnel-mux': { type: 'string' },
      rate: { type: 'string' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  return {
    durationS: positiveInt('--duration', values.duration, 10),
    warmupS: positiveInt('--warmup', values.warmup, 2),
    connectionLevels: (values.connections ?? '1,64').split(',').map((s) => positiveInt('--connections', s, 1)),
    paths: listOf('path', values.paths, HttpBenchPaths),
    profile: values.profile ?? false,
    processes: positiveInt('--processes', values.processes, 1),
    telemetry: parseTelemetryMode(values.telemetry),
    tunnelMux: parseTunnelMuxMode(values['tunnel-mux']),
    rate: values.rate === undefined ? undefined : positiveInt('--rate', values.rate, 1),
    verifyRequests: positiveInt('--verify-requests', values['verify-requests'], 500),
    bodyBytes: positiveInt('--body-bytes', values['body-bytes'], 100, 0),
    sseStreams: positiveInt('--sse-streams', values['sse-streams'], 16),
    sseTokens: positiveInt('--sse-tokens', values['sse-tokens'], 100),
    sseDelayMs: positiveInt('--sse-delay-ms', values['sse-delay-ms'], 10, 0),
    sseWarmupRounds: positiveInt('--sse-warmup', values['sse-warmup'], 3, 0),
    workerConcurrency: positiveInt('--worker-concurrency', values['worker-concurrency'], 256),
  };
}

/** A JSON request body of exactly `bytes` bytes (or `{}` padded as far as it goes). */
export function echoBody(bytes: number): string {
  const base = '{"message":""}';
  if (bytes <= base.length) return base;
  return `{"message":"${'x'.repeat(bytes - base.length)}"}`;
}

/** The target and the processes of one path, while it is set up. */
interface PathSetup {
  port: number;
  /** Extra request headers (Authorization, Host) the path needs. */
  headers: Record<string, string>;
  subjects: CpuSubject[];
  stack?: SwitchyardHttpStack;
  stop(): Promise<void>;
}

async function setUpPath(
  path: HttpBenchPath,
  container: BenchChild,
  containerPort: number,
  config: HttpBenchConfig,
  profileDir: string,
  serviceEnv: Record<string, string>,
): Promise<PathSetup> {
  const containerSubject: CpuSubject = { name: 'container', pids: () => [container.pid] };
  if (path === 'direct')
    return { port: containerPort, headers: {}, subjects: [containerSubject], stop: async () => {} };
  if (path === 'nginx') {
    const nginx: NginxHandle = await startNginx(containerPort, 'http');
    return {
      port: nginx.port,
      headers: {},
      subjects: [containerSubject, { name: 'nginx', pids: nginx.pids }],
      stop: () => nginx.stop(),
    };
  }
  if (path === 'node-proxy') {
    const proxy = await startNodeProxy('http', containerPort);
    return {
      port: proxy.port,
      headers: {},
      subjects: [containerSubject, { name: 'node-proxy', pids: () => [proxy.pid] }],
      stop: () => proxy.stop(),
    };
  }
  const stack = await startSwitchyardHttp({
    containerPort,
    concurrency: config.workerConcurrency,
    invocationEnv: { ...serviceEnv, ...tunnelMuxEnv(config.tunnelMux), SWITCHYARD_PROCESSES: String(config.processes) },
    workerEnv: { ...serviceEnv, ...tunnelMuxEnv(config.tunnelMux) },
    profileDir: config.profile ? profileDir : undefined,
  });
  return {
    port: stack.port,
    headers: stack.headers,
    stack,
    subjects: [
      containerSubject,
      { name: 'invocation', pids: () => withChildren(stack.invocation.pid) },
      { name: 'worker', pids: () => [stack.worker.pid] },
      { name: 'nats', pids: () => (stack.nats.pid === undefined ? [] : [stack.nats.pid]) },
      { name: 'redis', pids: () => (stack.redisPid === undefined ? [] : [stack.redisPid]) },
    ],
    stop: () => stack.stop(),
  };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function send(
  agent: http.Agent,
  port: number,
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.once('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer within 30 s')));
    req.once('error', reject);
    req.end(body);
  });
}

/** What is wrong with one echo answer, or undefined when it is right. */
function checkEcho(path: HttpBenchPath, answer: Answer, body: string, query: string): string | undefined {
  if (answer.status !== 200) return `status ${answer.status}: ${answer.body.slice(0, 200)}`;
  if (answer.headers['x-instance-id'] !== CONTAINER_INSTANCE_ID) return 'x-instance-id missing';
  let echo: HttpEchoResponse;
  try {
    echo = JSON.parse(answer.body) as HttpEchoResponse;
  } catch {
    return `not JSON: ${answer.body.slice(0, 200)}`;
  }
  if (echo.method !== 'POST' || echo.path !== '/echo') return `echoed ${echo.method} ${echo.path}`;
  if (echo.query.i !== query) return `echoed query ${JSON.stringify(echo.query)}, sent i=${query}`;
  if (echo.body !== body) return `echoed body of ${echo.bodyBytes} bytes differs`;
  if (path !== 'switchyard') return undefined;
  const reqId = answer.headers['nvcf-reqid'];
  if (typeof reqId !== 'string' || !UUID.test(reqId)) return `nvcf-reqid ${reqId}`;
  if (answer.headers['nvcf-status'] !== 'fulfilled') return `nvcf-status ${answer.headers['nvcf-status']}`;
  if (echo.headers['nvcf-reqid'] !== reqId) return `container saw nvcf-reqid ${echo.headers['nvcf-reqid']}`;
  if (echo.headers.authorization !== undefined) return 'container received the Authorization header';
  return undefined;
}

async function verifyPath(
  setup: PathSetup,
  path: HttpBenchPath,
  config: HttpBenchConfig,
): Promise<NonNullable<HttpPathResult['verify']>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const body = echoBody(config.bodyBytes);
  const headers = { 'content-type': 'application/json', ...setup.headers };
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const lane = async () => {
    while (next < config.verifyRequests) {
      const i = String(next++);
      let problem: string | undefined;
      try {
        problem = checkEcho(path, await send(agent, setup.port, `/echo?i=${i}`, headers, body), body, i);
      } catch (err) {
        problem = (err as Error).message;
      }
      if (problem === undefined) ok++;
      else {
        failed++;
        firstFailure ??= problem;
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, lane));
  agent.destroy();
  return { requests: config.verifyRequests, ok, failed, ...(firstFailure ? { firstFailure } : {}) };
}

async function runLoadLevel(setup: PathSetup, connections: number, config: HttpBenchConfig): Promise<LoadResult> {
  const common = {
    url: `http://127.0.0.1:${setup.port}/echo`,
    connections,
    rps: connections === 1 ? undefined : config.rate,
    method: 'POST',
    body: echoBody(config.bodyBytes),
    headers: { 'Content-Type': 'application/json', ...setup.headers },
  };
  await runWrk({ ...common, durationS: config.warmupS });
  await new Promise((r) => setTimeout(r, 300));
  const cpuBefore = readCpu(setup.subjects);
  const busyBefore = machineBusyMicros();
  const wrk = await runWrk({ ...common, durationS: config.durationS });
  const busyAfter = machineBusyMicros();
  const cpuAfter = readCpu(setup.subjects);
  const problems: string[] = [];
  const socketErrors = wrk.errors.connect + wrk.errors.read + wrk.errors.write + wrk.errors.timeout;
  if (socketErrors > 0) problems.push(`socket errors ${JSON.stringify(wrk.errors)}`);
  if (wrk.errors.status > 0) problems.push(`${wrk.errors.status} non-2xx/3xx`);
  const perRequest: Record<string, number> = {};
  for (const [name, us] of Object.entries(cpuDelta(cpuBefore, cpuAfter)))
    perRequest[name] = wrk.ok > 0 ? us / wrk.ok : Number.NaN;
  return {
    connections,
    rps: wrk.rps,
    p50Ms: wrk.latencyMs.p50,
    p90Ms: wrk.latencyMs.p90,
    p99Ms: wrk.latencyMs.p99,
    meanMs: wrk.latencyMs.mean,
    wrk,
    statusCheck: problems.length === 0 ? 'ok' : problems.join('; '),
    cpuUsPerRequest: perRequest,
    machineBusyCores: (busyAfter - busyBefore) / 1e6 / wrk.elapsedS,
  };
}

/** Opens `sseStreams` chat streams at once and measures every event's arrival minus its `created_ms`. */
async function runSse(setup: PathSetup, config: HttpBenchConfig): Promise<SseResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: config.sseStreams });
  const latencies: number[] = [];
  let incompleteStreams = 0;
  const body = JSON.stringify({
    model: 'bench',
    messages: [{ role: 'user', content: 'one two three four five six seven eight' }],
    stream: true,
    max_tokens: config.sseTokens,
  });
  const stream = async () => {
    const req = http.request({
      host: '127.0.0.1',
      port: setup.port,
      path: '/v1/chat/completions',
      method: 'POST',
      agent,
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        'x-sample-delay-ms': String(config.sseDelayMs),
        ...setup.headers,
      },
    });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    req.end(body);
    const res = await response;
    let chunks = 0;
    let done = false;
    if (res.statusCode !== 200) {
      res.resume();
      incompleteStreams++;
      return;
    }
    for await (const event of readSseEvents(res)) {
      if (event.data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(event.data) as { created_ms: number };
      latencies.push(event.receivedMs - chunk.created_ms);
      chunks++;
    }
    if (!done || chunks !== config.sseTokens + 1) incompleteStreams++;
  };
  // Warm-up rounds (connections, JIT): every path's streaming code tiers up under the same concurrent
  // load the measured round puts on it, as wrk's levels have a warm-up; then the measured round.
  for (let round = 0; round < config.sseWarmupRounds; round++)
    await Promise.all(Array.from({ length: config.sseStreams }, stream));
  latencies.length = 0;
  incompleteStreams = 0;
  await Promise.all(Array.from({ length: config.sseStreams }, stream));
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return {
    streams: config.sseStreams,
    tokensPerStream: config.sseTokens,
    delayMs: config.sseDelayMs,
    events: sorted.length,
    incompleteStreams,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
  };
}

async function runPath(
  path: HttpBenchPath,
  container: BenchChild,
  containerPort: number,
  config: HttpBenchConfig,
  serviceEnv: Record<string, string>,
): Promise<HttpPathResult> {
  const result: HttpPathResult = { path, load: [] };
  if (path === 'switchyard') {
    const missing = Object.values(HTTP_SERVICE_ENTRIES).filter((f) => !existsSync(join(REPO_ROOT, f)));
    if (missing.length > 0) {
      result.skipped = `not built yet: ${missing.join(', ')}`;
      return result;
    }
  }
  const profileDir = join(OUT_DIR, 'profiles');
  let setup: PathSetup | undefined;
  try {
    process.stderr.write(`bench http: ${path}: starting\n`);
    setup = await setUpPath(path, container, containerPort, config, profileDir, serviceEnv);
    result.verify = await verifyPath(setup, path, config);
    if (result.verify.failed > 0)
      throw new Error(`verification: ${result.verify.failed} bad answers, first: ${result.verify.firstFailure}`);
    for (const connections of config.connectionLevels) {
      process.stderr.write(`bench http: ${path}: wrk, ${connections} connection(s)\n`);
      result.load.push(await runLoadLevel(setup, connections, config));
    }
    process.stderr.write(`bench http: ${path}: SSE\n`);
    result.sse = await runSse(setup, config);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bench http: ${path}: ${result.error}\n`);
  } finally {
    await setup?.stop();
  }
  const stack = setup?.stack;
  if (config.profile && stack) {
    result.profiles = [];
    for (const [name, child] of [
      ['invocation', stack.invocation],
      ['worker', stack.worker],
    ] as const) {
      const file = readdirSync(profileDir).find((f) => f.includes(`.${child.pid}.`) && f.endsWith('.cpuprofile'));
      if (file) result.profiles.push(profileReport(name, join(profileDir, file)));
    }
  }
  return result;
}

function level(result: HttpPathResult | undefined, connections: number): LoadResult | undefined {
  return result?.load.find((l) => l.connections === connections);
}

function ratio(a: number | undefined, b: number | undefined): string {
  return a === undefined || b === undefined || !(b > 0) ? '-' : `${fmt(a / b, 2)}x`;
}

function ratioRows(byPath: Map<HttpBenchPath, HttpPathResult>, config: HttpBenchConfig): string[][] {
  const sy = byPath.get('switchyard');
  const rows: string[][] = [];
  for (const connections of config.connectionLevels) {
    const s = level(sy, connections);
    for (const base of ['direct', 'nginx'] as const) {
      const b = level(byPath.get(base), connections);
      rows.push([
        `${connections} conn`,
        `switchyard/${base}`,
        ratio(s?.rps, b?.rps),
        ratio(s?.p50Ms, b?.p50Ms),
        s && b ? `${fmt(s.p50Ms - b.p50Ms, 3)} ms` : '-',
      ]);
    }
    const n = level(byPath.get('nginx'), connections);
    const d = level(byPath.get('direct'), connections);
    rows.push([
      `${connections} conn`,
      'nginx/direct',
      ratio(n?.rps, d?.rps),
      ratio(n?.p50Ms, d?.p50Ms),
      n && d ? `${fmt(n.p50Ms - d.p50Ms, 3)} ms` : '-',
    ]);
  }
  return rows;
}

/**
 * Per connection level: nginx's and node-proxy's CPU per request, and Switchyard's invocation +
 * worker against nginx and against two node-proxy hops (what a Node path of two hops cannot go below).
 */
function floorRows(byPath: Map<HttpBenchPath, HttpPathResult>, config: HttpBenchConfig): string[][] {
  return config.connectionLevels.map((connections) => {
    const sy = level(byPath.get('switchyard'), connections)?.cpuUsPerRequest;
    return floorRow(
      connections,
      level(byPath.get('nginx'), connections)?.cpuUsPerRequest.nginx,
      level(byPath.get('node-proxy'), connections)?.cpuUsPerRequest['node-proxy'],
      sy?.invocation !== undefined && sy.worker !== undefined ? sy.invocation + sy.worker : undefined,
    );
  });
}

/** PASS/MISS for each target of the issue. */
export function checkHttpTargets(byPath: Map<HttpBenchPath, HttpPathResult>, config: HttpBenchConfig): TargetCheck[] {
  const top = Math.max(...config.connectionLevels);
  const low = Math.min(...config.connectionLevels);
  const sy = byPath.get('switchyard');
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
  const syTop = level(sy, top);
  const nginxTop = level(byPath.get('nginx'), top);
  const share = HttpTargets.rpsShareOfNginx;
  if (syTop === undefined || nginxTop === undefined) {
    checks.push({
      target: `Switchyard RPS >= ${share * 100}% of nginx (${top} conns)`,
      value: '-',
      verdict: 'n/a',
      gap: '-',
    });
  } else {
    const floor = nginxTop.rps * share;
    const gap = syTop.rps - floor;
    checks.push({
      target: `Switchyard RPS >= ${share * 100}% of nginx (${top} conns)`,
      value: `${fmt(syTop.rps)} vs ${fmt(floor)} RPS (${fmt((100 * syTop.rps) / nginxTop.rps, 1)}% of nginx)`,
      verdict: gap >= 0 ? 'PASS' : 'MISS',
      gap: `${gap >= 0 ? '+' : ''}${fmt(gap)} RPS`,
    });
  }
  const syLow = level(sy, low);
  const directLow = level(byPath.get('direct'), low);
  atMost(
    `added p50 over direct <= ${HttpTargets.addedP50MsAtOneConnection} ms (${low} conn)`,
    syLow && directLow ? syLow.p50Ms - directLow.p50Ms : undefined,
    HttpTargets.addedP50MsAtOneConnection,
    'ms',
    3,
  );
  const cpu = syTop?.cpuUsPerRequest;
  atMost(
    `invocation + worker CPU <= ${HttpTargets.invocationPlusWorkerCpuUsPerRequest} us/request (${top} conns)`,
    cpu?.invocation !== undefined && cpu.worker !== undefined ? cpu.invocation + cpu.worker : undefined,
    HttpTargets.invocationPlusWorkerCpuUsPerRequest,
    'us',
    1,
  );
  // The whole per-event latency through Switchyard (container write to client read) bounds what
  // Switchyard adds; subtracting direct's tail would let loopback noise hide a slow relay.
  const sySse = sy?.sse;
  atMost(
    `SSE per-event latency through Switchyard p99 < ${HttpTargets.sseAddedP99Ms} ms (bounds the added latency)`,
    sySse && sySse.incompleteStreams === 0 ? sySse.p99Ms : undefined,
    HttpTargets.sseAddedP99Ms,
    'ms',
    3,
  );
  return checks;
}

function cpuCells(values: LoadResult['cpuUsPerRequest'] | undefined): string[] {
  const present = PROCESS_NAMES.map((n) => values?.[n]).filter((v): v is number => v !== undefined);
  const sum = present.length === 0 ? undefined : present.reduce((a, b) => a + b, 0);
  const iw =
    values?.invocation !== undefined && values.worker !== undefined ? values.invocation + values.worker : undefined;
  return [...PROCESS_NAMES.map((n) => fmt(values?.[n], 1)), fmt(sum, 1), fmt(iw, 1)];
}

/** The stdout report: load table, SSE table, ratios, targets, profiles. */
export function renderHttpReport(results: HttpPathResult[], checks: TargetCheck[], config: HttpBenchConfig): string {
  const byPath = new Map(results.map((r) => [r.path, r]));
  const out: string[] = [];
  out.push(
    `### HTTP echo (wrk, HTTP/1.1 keep-alive, 1 thread; POST /echo with a ${config.bodyBytes} B JSON body; ${config.durationS} s per level after ${config.warmupS} s warm-up)`,
    '',
    markdownTable(
      [
        'path',
        'conns',
        'RPS',
        'p50 ms',
        'p90 ms',
        'p99 ms',
        ...PROCESS_NAMES.map((n) => `${n} us/req`),
        'sum us/req',
        'inv+worker us/req',
        'machine busy cores',
        'status check',
      ],
      results.flatMap((r) =>
        r.load.length === 0
          ? [[r.path, r.skipped ? `skipped: ${r.skipped}` : `error: ${r.error ?? '?'}`]]
          : r.load.map((l) => [
              r.path,
              String(l.connections),
              fmt(l.rps),
              fmt(l.p50Ms, 3),
              fmt(l.p90Ms, 3),
              fmt(l.p99Ms, 3),
              ...cpuCells(l.cpuUsPerRequest),
              `${fmt(l.machineBusyCores, 2)} / ${cpus().length}`,
              l.statusCheck === 'ok' ? `ok (${fmt(l.wrk.ok)} req)` : `MISMATCH: ${l.statusCheck}`,
            ]),
      ),
    ),
    '',
    `### SSE chat completion: per-event latency (arrival at the client minus the container's created_ms; ${config.sseStreams} concurrent streams x ${config.sseTokens} tokens, ${config.sseDelayMs} ms apart)`,
    '',
    markdownTable(
      ['path', 'events', 'incomplete streams', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'p99 added vs direct'],
      results.map((r) => {
        if (!r.sse) return [r.path, r.skipped ? `skipped: ${r.skipped}` : `error: ${r.error ?? '?'}`];
        const direct = byPath.get('direct')?.sse;
        return [
          r.path,
          fmt(r.sse.events),
          String(r.sse.incompleteStreams),
          fmt(r.sse.p50Ms, 3),
          fmt(r.sse.p90Ms, 3),
          fmt(r.sse.p99Ms, 3),
          fmt(r.sse.maxMs, 3),
          direct && r.path !== 'direct' ? `${fmt(r.sse.p99Ms - direct.p99Ms, 3)} ms` : '-',
        ];
      }),
    ),
    '',
    '### Ratios (p50 ratio > 1 means slower)',
    '',
    markdownTable(['load', 'ratio', 'RPS', 'p50', 'added p50'], ratioRows(byPath, config)),
    '',
    '### CPU per request against the floor of two Node hops (issue 12: invocation + worker <= 5x nginx)',
    '',
    markdownTable(
      [
        'conns',
        'nginx us/req',
        'node-proxy us/req',
        '2 x node-proxy / nginx',
        'invocation + worker us/req',
        '(invocation + worker) / nginx',
        '(invocation + worker) / (2 x node-proxy)',
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
    .map((r) => `${r.path} ${r.verify?.ok}/${r.verify?.requests}`)
    .join(', ');
  out.push(
    '',
    `verification pass (status 200, echoed method/path/query/body; on Switchyard nvcf-reqid, nvcf-status fulfilled, NVCF-REQID at the container, no Authorization): ${verified || 'none'}`,
  );
  for (const r of results) out.push(...renderProfileReports(r.profiles ?? []));
  if (config.profile)
    out.push('', 'Note: --profile runs invocation and worker under the CPU profiler; their figures are inflated.');
  return out.join('\n');
}

/**
 * Runs the HTTP bench with command-line arguments `argv` (after `http`); prints the report and writes
 * bench/out/http-<timestamp>.json. Resolves with the process exit code (1 when a path failed or a
 * status check did not hold; a MISSed target alone does not fail the run).
 */
export async function runHttpBench(argv: string[]): Promise<number> {
  const config = parseOrExit(parseHttpArgs, argv, USAGE);
  if (typeof config === 'number') return config;
  ensureTools(config.paths.includes('nginx') ? ['wrk', 'nginx'] : ['wrk']);
  const startedAt = new Date();
  const container = await spawnChild('container', nodeBinary(), [
    'packages/sample-functions/src/main.ts',
    'http',
    '--port',
    '0',
    '--instance-id',
    CONTAINER_INSTANCE_ID,
  ]);
  const containerPort = container.ready.port as number;
  const results: HttpPathResult[] = [];
  const sink = config.telemetry === 'traces' ? await startOtlpSink() : undefined;
  const serviceEnv = telemetryEnv(config.telemetry, sink?.url);
  try {
    for (const path of config.paths) results.push(await runPath(path, container, containerPort, config, serviceEnv));
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
  const checks = checkHttpTargets(byPath, config);
  process.stdout.write(`${renderHttpReport(results, checks, config)}\n`);
  const file = writeResultFile(
    'http',
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
  const failed = results.some(
    (r) => r.error !== undefined || r.load.some((l) => l.statusCheck !== 'ok') || (r.sse?.incompleteStreams ?? 0) > 0,
  );
  return failed ? 1 : 0;
}
