// `npm run bench -- overhead`: instructions per call of the front end (gRPC proxy, invocation
// service) with metrics off/on and tracing off/1%/100%, counted by valgrind's callgrind, so the figure
// does not depend on the machine's load (issue 9, "Figures for the note").
//
// For each service and configuration the real region starts (bench/lib/bench-region.ts: nats-server,
// redis-server for HTTP, the front end and one worker in front of the sample echo container); the front
// end runs under callgrind (bench/lib/overhead-preload.ts). This process is the client: `--warmup`
// calls (JIT, connections, first span export), `callgrind_control --zero`, then `--repeats` pairs of
// windows: `--n1` calls, `callgrind_control --dump`, `--n2` calls, `--dump`. Each pair estimates
// instructions per call = (Ir of the n2 window - Ir of the n1 window) / (n2 - n1), which cancels what a
// window costs regardless of its calls (the control requests themselves); the median of the pairs is
// reported with the smallest and largest, since a one-off (a GC cycle, a late JIT compile, a span
// export) landing in one window moves that pair's estimate. Time-driven background work (heartbeats,
// KV watches, span export every OTEL_BSP_SCHEDULE_DELAY) is not cancelled: the n2 window lasts longer,
// so it is charged to calls, and callgrind stretches wall time ~50x, so that work is overcharged ~50x.
// Hence an idle window (`--idle-s`, no calls) after the pairs: the "pooled - idle" figure is every
// window's Ir less idle Ir/s x the windows' wall time, over every measured call.
//
// Configurations (only the front end's environment differs; worker and container are the same):
//   a  metrics on a no-op meter (SWITCHYARD_OVERHEAD_NOOP_METRICS=1, bench/lib/noop-telemetry.ts), no tracing
//   b  metrics on (the default), no tracing (no OTEL_* set: roots unsampled, context still propagated)
//   c  metrics on, OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01, OTLP/HTTP
//      export to a sink in this process that answers 200
//   d  as c with OTEL_TRACES_SAMPLER=parentbased_always_on (every call traced), for scale
//
// `--warmup-sampled N` prepends N warm-up calls whose client `traceparent` is sampled, in every
// configuration (a and b record those spans and drop them; c and d export them): at 1%, the recording
// and export path runs ~5 times in a 500-call warm-up and stays in the interpreter and baseline tiers
// for the measured windows, whereas a front end that has served 10^5 calls has run it 10^3 times.
//
// One command: node bench/run.ts overhead [--services grpc,http] [--configs a,b,c,d] [--warmup 500]
//   [--warmup-sampled 0] [--n1 100] [--n2 500] [--repeats 5] [--idle-s 10] [--concurrency 4] [--keep-dumps DIR]. Needs valgrind (callgrind_control). Prints a markdown table.

import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { listOf, parseOrExit, positiveInt } from './lib/args.ts';
import { launchBenchRegion } from './lib/bench-region.ts';
import { callgrindZero, drive, callgrindDump as dump, parseWindows, WINDOW_OPTIONS } from './lib/callgrind.ts';
import { nodeBinary, spawnChild } from './lib/child.ts';
import { echoResponsePayload, encodeEchoRequest, patternPayload } from './lib/grpc-frame.ts';
import { markdownTable } from './lib/report.ts';
import { startOtlpSink, tracesEnv } from './lib/telemetry-modes.ts';

const PRELOAD = fileURLToPath(new URL('./lib/overhead-preload.ts', import.meta.url));
const UNARY_PATH = '/switchyard.echo.v1.Echo/Unary';
const CONTAINER_INSTANCE_ID = 'bench-overhead-container';
/** Ready timeout of the front end under callgrind (start-up is ~50x slower). */
const READY_TIMEOUT_MS = 600_000;

/** Front ends the bench measures. */
export const OverheadServices = ['grpc', 'http'] as const;
/** One of {@link OverheadServices}. */
export type OverheadService = (typeof OverheadServices)[number];
/** Configurations, see the file comment. */
export const OverheadConfigs = ['a', 'b', 'c', 'd'] as const;
/** One of {@link OverheadConfigs}. */
export type OverheadConfig = (typeof OverheadConfigs)[number];

/** Resolved options of one run. */
export interface OverheadBenchConfig {
  services: OverheadService[];
  configs: OverheadConfig[];
  /** Calls before the first measured window. */
  warmup: number;
  /**
   * Calls before `warmup` that carry a sampled client `traceparent`, so every configuration records
   * (and c, d export) their spans: the JIT compiles the recording path as a long run at 1% would.
   */
  warmupSampled: number;
  /** Calls of the first and second measured window (n2 > n1). */
  n1: number;
  n2: number;
  /** Calls in flight at once. */
  concurrency: number;
  /** Window pairs (n1 calls, n2 calls) measured one after the other; the median estimate is reported. */
  repeats: number;
  /** Seconds of the idle window measured after the calls. */
  idleS: number;
  /**
   * Directory that keeps each configuration's callgrind dumps (`<dir>/<service>-<config>/callgrind.out.N`,
   * for `callgrind_annotate`); undefined deletes them when the configuration ends.
   */
  keepDumps?: string;
}

/** The measurement of one service in one configuration. */
export interface OverheadResult {
  service: OverheadService;
  config: OverheadConfig;
  /** Instructions (callgrind Ir) of window 1 and window 2 of each repeat. */
  windows: [number, number][];
  /** Wall milliseconds of each window (under callgrind, ~50x a normal run). */
  windowMs?: [number, number][];
  /** Ir per second of an idle window of `--idle-s` with no calls. */
  idleIrPerS?: number;
  /** (ir2 - ir1) / (n2 - n1) of each repeat. */
  estimates: number[];
  /** Median, smallest and largest of {@link OverheadResult.estimates}. */
  irPerCall: number;
  min: number;
  max: number;
  /** OTLP export requests the sink answered from the first measured window on. */
  exports: number;
}

const USAGE = `usage: npm run bench -- overhead [options]
  --services LIST   grpc,http (default both)
  --configs LIST    a,b,c,d (default all; a no-op metrics, b metrics, c +1% tracing, d +100% tracing)
  --warmup N        calls before the measured windows (default 500)
  --warmup-sampled N  calls with a sampled client traceparent before the warm-up (default 0)
  --n1 N            calls of window 1 (default 100)
  --n2 N            calls of window 2 (default 500)
  --concurrency N   calls in flight (default 4)
  --repeats N       window pairs per configuration; the median estimate is reported (default 5)
  --idle-s N        seconds of the idle window after the calls (default 10)
  --keep-dumps DIR  keep the callgrind dumps in DIR/<service>-<config>/ (default: deleted)
  -h, --help`;

/** Parses the command line of `bench overhead`; undefined for --help; throws TypeError on bad input. */
export function parseOverheadArgs(argv: string[]): OverheadBenchConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      services: { type: 'string' },
      configs: { type: 'string' },
      ...WINDOW_OPTIONS,
      'warmup-sampled': { type: 'string' },
      'idle-s': { type: 'string' },
      'keep-dumps': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  return {
    services: listOf('service', values.services, OverheadServices),
    configs: listOf('config', values.configs, OverheadConfigs),
    ...parseWindows(values, { warmup: 500, n1: 100, n2: 500, repeats: 5, concurrency: 4 }),
    warmupSampled: values['warmup-sampled'] === '0' ? 0 : positiveInt('--warmup-sampled', values['warmup-sampled'], 0),
    idleS: positiveInt('--idle-s', values['idle-s'], 10),
    keepDumps: values['keep-dumps'],
  };
}

/** Environment of the front end in one configuration. */
function frontEndEnv(config: OverheadConfig, sinkUrl: string, outFile: string): Record<string, string> {
  const env: Record<string, string> = { SWITCHYARD_OVERHEAD_CALLGRIND_OUT: outFile };
  if (config === 'a') env.SWITCHYARD_OVERHEAD_NOOP_METRICS = '1';
  if (config === 'c') Object.assign(env, tracesEnv(sinkUrl, 'parentbased_traceidratio', '0.01'));
  if (config === 'd') Object.assign(env, tracesEnv(sinkUrl, 'parentbased_always_on'));
  return env;
}

/** A client of one front end: one call, checked. */
export interface Caller {
  /** One call; `extra` headers are added to this call only. */
  one(extra?: Record<string, string>): Promise<void>;
  close(): void;
}

/**
 * A grpc-js client of the proxy at 127.0.0.1:`port` making unary Echo calls of 100 bytes with
 * `headers` as metadata; a call rejects unless grpc-status is 0 and the payload is echoed.
 */
export function grpcCaller(port: number, headers: Record<string, string>): Caller {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  const payload = patternPayload(100);
  const request = encodeEchoRequest(payload);
  const identity = (b: Buffer) => b;
  return {
    one: (extra) =>
      new Promise((resolve, reject) => {
        let md = metadata;
        if (extra !== undefined) {
          md = metadata.clone();
          for (const [k, v] of Object.entries(extra)) md.set(k, v);
        }
        client.makeUnaryRequest(UNARY_PATH, identity, identity, request, md, {}, (err, response) => {
          if (err) reject(new Error(`grpc-status ${err.code}: ${err.details}`));
          else if (!response || !echoResponsePayload(response)?.equals(payload))
            reject(new Error('payload not echoed'));
          else resolve();
        });
      }),
    close: () => client.close(),
  };
}

/**
 * A keep-alive HTTP/1.1 client of the invocation service: each call is `POST /echo` with a 100-byte
 * body and `headers`, and must answer 200. Also used by http-relay-ir.ts.
 */
export function httpCaller(port: number, headers: Record<string, string>): Caller {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const body = 'x'.repeat(100);
  return {
    one: (extra) =>
      new Promise((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/echo',
            agent,
            headers: { ...headers, ...extra, 'content-type': 'text/plain' },
          },
          (res: IncomingMessage) => {
            // The body only matters when the status is not 200 (a problem document says why).
            let problem = '';
            res.on('data', (chunk: Buffer) => {
              if (res.statusCode !== 200 && problem.length < 1024) problem += chunk.toString();
            });
            res.once('end', () =>
              res.statusCode === 200
                ? resolve()
                : reject(new Error(`HTTP ${res.statusCode} from the invocation service: ${problem}`)),
            );
            res.once('error', reject);
          },
        );
        req.once('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** Starts the region of `service` with the front end under callgrind, measures, stops everything. */
async function measure(
  service: OverheadService,
  config: OverheadConfig,
  options: OverheadBenchConfig,
  containerPort: number,
  sinkUrl: string,
  exports: () => number,
): Promise<OverheadResult> {
  let dir: string;
  if (options.keepDumps === undefined) dir = mkdtempSync(join(tmpdir(), `switchyard-overhead-${service}-${config}-`));
  else {
    dir = join(options.keepDumps, `${service}-${config}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }
  const base = 'callgrind.out';
  const outFile = join(dir, base);
  const frontEnd = service === 'grpc' ? 'grpc-proxy' : 'invocation';
  const bench = await launchBenchRegion({
    stateDirPrefix: 'switchyard-bench-overhead-',
    redis: service === 'http',
    services: [frontEnd],
    fn: service === 'grpc' ? { name: 'echo', kind: 'grpc' } : { name: 'echo', kind: 'http', inferenceUrl: '/echo' },
    nodeFlags: { [frontEnd]: ['--import', PRELOAD] },
    serviceEnv: { [frontEnd]: frontEndEnv(config, sinkUrl, outFile) },
    upstream: `${service === 'grpc' ? 'grpc' : 'http'}://127.0.0.1:${containerPort}`,
    concurrency: 64,
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const pid = Number(readFileSync(`${outFile}.pid`, 'utf8'));
  const { region, functionId, apiKey } = bench;
  const caller =
    service === 'grpc'
      ? grpcCaller(region.ports.grpc, { authorization: `Bearer ${apiKey}`, 'function-id': functionId })
      : httpCaller(region.ports.http, {
          Authorization: `Bearer ${apiKey}`,
          Host: `${functionId}.invocation.localhost`,
        });
  let exportsAtStart = exports();
  try {
    const sampled = () =>
      caller.one({ traceparent: `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01` });
    await drive(options.warmupSampled, options.concurrency, sampled);
    await drive(options.warmup, options.concurrency, () => caller.one());
    callgrindZero(pid);
    exportsAtStart = exports();
    const estimates: number[] = [];
    const windows: [number, number][] = [];
    const windowMs: [number, number][] = [];
    let mark = performance.now();
    const lap = () => {
      const now = performance.now();
      const ms = now - mark;
      mark = now;
      return ms;
    };
    for (let i = 0; i < options.repeats; i++) {
      await drive(options.n1, options.concurrency, () => caller.one());
      const ir1 = dump(pid, dir, base);
      const ms1 = lap();
      await drive(options.n2, options.concurrency, () => caller.one());
      const ir2 = dump(pid, dir, base);
      windows.push([ir1, ir2]);
      windowMs.push([ms1, lap()]);
      estimates.push((ir2 - ir1) / (options.n2 - options.n1));
    }
    // Idle window: what the front end executes per second with no calls (timers, heartbeats, exports).
    await new Promise((resolve) => setTimeout(resolve, options.idleS * 1000));
    const idleIr = dump(pid, dir, base);
    const idleIrPerS = idleIr / (lap() / 1000);
    const sorted = [...estimates].sort((x, y) => x - y);
    return {
      service,
      config,
      windows,
      windowMs,
      idleIrPerS,
      estimates,
      irPerCall: sorted[Math.floor(sorted.length / 2)] as number,
      min: sorted[0] as number,
      max: sorted[sorted.length - 1] as number,
      exports: exports() - exportsAtStart,
    };
  } finally {
    caller.close();
    await bench.stop();
    // The launcher stops the thin parent; make sure the valgrind child it forwarded to is gone too.
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
    if (options.keepDumps === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** Pooled instructions per call: every measured window's Ir over every measured call (one-offs amortised, window overhead included). */
export function pooledIrPerCall(result: Pick<OverheadResult, 'windows'>, n1: number, n2: number): number {
  const ir = result.windows.reduce((sum, [w1, w2]) => sum + w1 + w2, 0);
  return ir / (result.windows.length * (n1 + n2));
}

/**
 * Pooled instructions per call less the idle rate times the windows' wall time: what calls cost once
 * time-driven work (stretched ~50x by callgrind, so charged ~50x too heavily per call) is taken out.
 * Undefined when the result has no idle measurement.
 */
export function idleCorrectedIrPerCall(
  result: Pick<OverheadResult, 'windows' | 'windowMs' | 'idleIrPerS'>,
  n1: number,
  n2: number,
): number | undefined {
  if (result.windowMs === undefined || result.idleIrPerS === undefined) return undefined;
  const ir = result.windows.reduce((sum, [w1, w2]) => sum + w1 + w2, 0);
  const ms = result.windowMs.reduce((sum, [m1, m2]) => sum + m1 + m2, 0);
  return (ir - (result.idleIrPerS * ms) / 1000) / (result.windows.length * (n1 + n2));
}

/**
 * Markdown table of the results, one row per service and estimator: the median pair estimate (with
 * min-max) and the pooled figure ({@link pooledIrPerCall}), each with its ratios to configuration a.
 */
export function overheadTable(
  results: OverheadResult[],
  services: OverheadService[],
  configs: OverheadConfig[],
  windowCalls: { n1: number; n2: number },
): string {
  const rows: string[][] = [];
  const M = (ir: number) => (ir / 1e6).toFixed(3);
  for (const service of services) {
    const of = (c: OverheadConfig) => results.find((r) => r.service === service && r.config === c);
    const label = service === 'grpc' ? 'gRPC proxy (unary)' : 'invocation (HTTP POST)';
    const estimators: [string, (r: OverheadResult) => number, (r: OverheadResult) => string][] = [
      ['median pair', (r) => r.irPerCall, (r) => `${M(r.irPerCall)} M (${M(r.min)}-${M(r.max)})`],
      [
        'pooled',
        (r) => pooledIrPerCall(r, windowCalls.n1, windowCalls.n2),
        (r) => `${M(pooledIrPerCall(r, windowCalls.n1, windowCalls.n2))} M`,
      ],
      [
        'pooled - idle',
        (r) => idleCorrectedIrPerCall(r, windowCalls.n1, windowCalls.n2) ?? Number.NaN,
        (r) =>
          `${M(idleCorrectedIrPerCall(r, windowCalls.n1, windowCalls.n2) ?? Number.NaN)} M (idle ${M(r.idleIrPerS ?? Number.NaN)} M/s)`,
      ],
    ];
    for (const [name, value, cell] of estimators) {
      const a = of('a');
      const cells = configs.map((c) => {
        const r = of(c);
        return r ? cell(r) : '-';
      });
      const ratios = (['b', 'c', 'd'] as const).map((c) => {
        const r = of(c);
        return r && a ? `${(value(r) / value(a)).toFixed(3)}x` : '-';
      });
      rows.push([label, name, ...cells, ...ratios]);
    }
  }
  return markdownTable(['front end', 'estimate', ...configs.map((c) => `${c}: Ir/call`), 'b/a', 'c/a', 'd/a'], rows);
}

/** Entry of `npm run bench -- overhead`. */
export async function runOverheadBench(argv: string[]): Promise<number> {
  const options = parseOrExit(parseOverheadArgs, argv, USAGE);
  if (typeof options === 'number') return options;
  const sink = await startOtlpSink();
  const sinkUrl = sink.url;
  const results: OverheadResult[] = [];
  try {
    for (const service of options.services) {
      const container = await spawnChild('container', nodeBinary(), [
        'packages/sample-functions/src/main.ts',
        service === 'grpc' ? 'echo' : 'http',
        '--port',
        '0',
        ...(service === 'http' ? ['--instance-id', CONTAINER_INSTANCE_ID] : []),
      ]);
      try {
        for (const config of options.configs) {
          const started = Date.now();
          const result = await measure(
            service,
            config,
            options,
            container.ready.port as number,
            sinkUrl,
            sink.traceRequests,
          );
          results.push(result);
          process.stdout.write(
            `${JSON.stringify({ ...result, seconds: Math.round((Date.now() - started) / 1000) })}\n`,
          );
        }
      } finally {
        await container.stop();
      }
    }
  } finally {
    await sink.close();
  }
  process.stdout.write(
    `\nwarm-up ${options.warmupSampled > 0 ? `${options.warmupSampled} sampled + ` : ''}${options.warmup}, ${options.repeats} x windows of ${options.n1} and ${options.n2} calls, ${options.concurrency} in flight; median (min-max) of the repeats\n\n`,
  );
  process.stdout.write(`${overheadTable(results, options.services, options.configs, options)}\n`);
  return 0;
}
