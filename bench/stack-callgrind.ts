// `npm run bench -- stack-callgrind`: instructions per relayed gRPC call of the whole Switchyard path,
// per process: the gRPC proxy and the worker both run under valgrind's callgrind (the preload of
// bench/lib/overhead-preload.ts), in a real region (bench/lib/bench-region.ts: nats-server, proxy, one
// worker in front of the sample echo container, which runs natively). This process is the client: a
// grpc-js channel (one pinned session) makes `--warmup` unary Echo calls of 100 bytes, `--concurrency`
// in flight; both counters are zeroed, then `--repeats` pairs of windows of `--n1` and `--n2` calls,
// each ended by `callgrind_control --dump` of both processes. Per process: pooled Ir per call (every
// window's Ir / every call; one-offs amortised, time-driven work included) and the median pair
// estimate ((Ir2 - Ir1) / (n2 - n1)). Metrics on, as deployed; `--trace-ratio 0.01` samples traces.
//   node bench/run.ts stack-callgrind [--warmup 1000] [--n1 200] [--n2 1000] [--repeats 3]
//     [--concurrency 16] [--trace-ratio R]

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseOrExit } from './lib/args.ts';
import { launchBenchRegion } from './lib/bench-region.ts';
import { callgrindDump, callgrindZero, drive, parseWindows, perCall, WINDOW_OPTIONS } from './lib/callgrind.ts';
import { nodeBinary, spawnChild } from './lib/child.ts';
import { markdownTable, writeResultFile } from './lib/report.ts';
import { grpcCaller } from './overhead.ts';

const PRELOAD = fileURLToPath(new URL('./lib/overhead-preload.ts', import.meta.url));
/** Ready timeout of a service under callgrind (start-up is ~50x slower). */
const READY_TIMEOUT_MS = 600_000;

const USAGE = `usage: npm run bench -- stack-callgrind [options]
  --warmup N        calls before the measured windows (default 1000)
  --n1 N            calls of window 1 (default 200)
  --n2 N            calls of window 2 (default 1000)
  --repeats N       window pairs (default 3)
  --concurrency N   calls in flight on the one channel (default 16)
  --trace-ratio R   sample traces at R (parentbased_traceidratio, no exporter); default none sampled
  -h, --help`;

/** Resolved options of one run. */
export interface StackCallgrindConfig {
  warmup: number;
  n1: number;
  n2: number;
  repeats: number;
  concurrency: number;
  traceRatio: number | undefined;
}

/** One process's windows and estimates. */
export interface StackProcessResult {
  windows: [number, number][];
  pooled: number;
  pair: number;
}

/** Parses the command line; undefined for --help; throws TypeError on bad input. */
export function parseStackCallgrindArgs(argv: string[]): StackCallgrindConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...WINDOW_OPTIONS,
      'trace-ratio': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const ratio = values['trace-ratio'] === undefined ? undefined : Number(values['trace-ratio']);
  if (ratio !== undefined && !(ratio >= 0 && ratio <= 1)) throw new TypeError('--trace-ratio must be in 0..1');
  return {
    ...parseWindows(values, { warmup: 1000, n1: 200, n2: 1000, repeats: 3, concurrency: 16 }),
    traceRatio: ratio,
  };
}

/** Entry of `npm run bench -- stack-callgrind`. */
export async function runStackCallgrindBench(argv: string[]): Promise<number> {
  const options = parseOrExit(parseStackCallgrindArgs, argv, USAGE);
  if (typeof options === 'number') return options;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-stack-callgrind-'));
  const base = { proxy: 'proxy.callgrind.out', worker: 'worker.callgrind.out' };
  const tracing: Record<string, string> =
    options.traceRatio === undefined
      ? {}
      : { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: String(options.traceRatio) };
  const envOf = (file: string) => ({ SWITCHYARD_OVERHEAD_CALLGRIND_OUT: join(dir, file), ...tracing });
  const container = await spawnChild('container', nodeBinary(), [
    'packages/sample-functions/src/main.ts',
    'echo',
    '--port',
    '0',
  ]);
  const pids: number[] = [];
  try {
    const bench = await launchBenchRegion({
      stateDirPrefix: 'switchyard-bench-stack-',
      redis: false,
      services: ['grpc-proxy'],
      fn: { name: 'echo', kind: 'grpc' },
      nodeFlags: { 'grpc-proxy': ['--import', PRELOAD] },
      serviceEnv: { 'grpc-proxy': envOf(base.proxy) },
      workerNodeFlags: ['--import', PRELOAD],
      workerEnv: envOf(base.worker),
      upstream: `grpc://127.0.0.1:${container.ready.port as number}`,
      concurrency: 256,
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    const proxyPid = Number(readFileSync(join(dir, `${base.proxy}.pid`), 'utf8'));
    const workerPid = Number(readFileSync(join(dir, `${base.worker}.pid`), 'utf8'));
    pids.push(proxyPid, workerPid);
    const caller = grpcCaller(bench.region.ports.grpc, {
      authorization: `Bearer ${bench.apiKey}`,
      'function-id': bench.functionId,
    });
    const windows = { proxy: [] as [number, number][], worker: [] as [number, number][] };
    try {
      await drive(options.warmup, options.concurrency, caller.one);
      callgrindZero(proxyPid);
      callgrindZero(workerPid);
      for (let i = 0; i < options.repeats; i++) {
        await drive(options.n1, options.concurrency, caller.one);
        const p1 = callgrindDump(proxyPid, dir, base.proxy);
        const w1 = callgrindDump(workerPid, dir, base.worker);
        await drive(options.n2, options.concurrency, caller.one);
        windows.proxy.push([p1, callgrindDump(proxyPid, dir, base.proxy)]);
        windows.worker.push([w1, callgrindDump(workerPid, dir, base.worker)]);
      }
    } finally {
      caller.close();
      await bench.stop();
    }
    const proxy: StackProcessResult = { windows: windows.proxy, ...perCall(windows.proxy, options.n1, options.n2) };
    const worker: StackProcessResult = { windows: windows.worker, ...perCall(windows.worker, options.n1, options.n2) };
    const M = (ir: number) => `${(ir / 1e6).toFixed(3)} M`;
    const table = markdownTable(
      ['estimate', 'proxy Ir/call', 'worker Ir/call', 'proxy + worker'],
      (['pooled', 'pair'] as const).map((k) => [
        k === 'pooled' ? 'pooled' : 'median pair',
        M(proxy[k]),
        M(worker[k]),
        M(proxy[k] + worker[k]),
      ]),
    );
    const file = writeResultFile('stack-callgrind', { options, proxy, worker });
    process.stdout.write(
      `${JSON.stringify({ proxy, worker })}\n\nwarm-up ${options.warmup}, ${options.repeats} x windows of ${options.n1} and ${options.n2} calls, ${options.concurrency} in flight, tracing ${options.traceRatio ?? 'unsampled'}\n\n${table}\n\n(${file})\n`,
    );
    return 0;
  } finally {
    await container.stop();
    // The launcher stops the thin parents; make sure the valgrind children they forwarded to are gone.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
