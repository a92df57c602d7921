// `npm run bench -- http-relay-ir`: instructions per HTTP request of the worker's relay to an HTTP
// container and of the invocation service (issue 12, the HTTP path), counted by valgrind's callgrind,
// so that a change of a few percent shows above the machine's noise (CPU time on this shared 2-core
// machine moves by +-10% between runs of the same code).
//
// One region (bench/lib/bench-region.ts: nats-server, redis-server, the invocation service, one worker
// in front of the sample HTTP container, `packages/sample-functions/src/main.ts http`), with the
// worker and/or the invocation service under callgrind (bench/lib/overhead-preload.ts), metrics on and
// tracing unsampled (the services' defaults, configuration b of the overhead bench). This process is
// the client: keep-alive HTTP/1.1 `POST /echo` of 100 bytes, `--concurrency` in flight, `--warmup`
// requests (JIT, the warm path; first one request at a time until one succeeded), `callgrind_control --zero`, then `--repeats` pairs of windows of
// `--n1` and `--n2` requests, each ended by `callgrind_control --dump` of every measured process.
// Estimates per process, as in overhead.ts: *median pair* = median over pairs of (Ir(n2 window) -
// Ir(n1 window)) / (n2 - n1) (cancels what a window costs regardless of its requests), and *pooled* =
// all windows' Ir / all their requests (one-offs such as a GC cycle amortised; the steadier figure).
//
// One command: node bench/run.ts http-relay-ir [--targets worker,invocation] [--warmup 500] [--n1 100]
//   [--n2 500] [--repeats 3] [--concurrency 4]. Needs valgrind (callgrind_control). Prints a markdown table.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listOf, parseOrExit } from './lib/args.ts';
import { launchBenchRegion } from './lib/bench-region.ts';
import { callgrindDump, callgrindZero, drive, parseWindows, WINDOW_OPTIONS } from './lib/callgrind.ts';
import { nodeBinary, spawnChild } from './lib/child.ts';
import { markdownTable } from './lib/report.ts';
import { httpCaller } from './overhead.ts';

const PRELOAD = fileURLToPath(new URL('./lib/overhead-preload.ts', import.meta.url));
/** Sequential first requests tried until one succeeds (see measure()). */
const PRIME_ATTEMPTS = 5;
/** Ready timeout of a service under callgrind (start-up is ~50x slower). */
const READY_TIMEOUT_MS = 600_000;

/** Processes the bench can count. */
export const RelayIrTargets = ['worker', 'invocation'] as const;
/** One of {@link RelayIrTargets}. */
export type RelayIrTarget = (typeof RelayIrTargets)[number];

/** Resolved options of one run. */
export interface RelayIrConfig {
  targets: RelayIrTarget[];
  /** Requests before the first measured window. */
  warmup: number;
  /** Requests of the first and second window of each pair (n2 > n1). */
  n1: number;
  n2: number;
  /** Pairs of windows. */
  repeats: number;
  /** Requests in flight at once. */
  concurrency: number;
}

/** What one process executed. */
export interface RelayIrResult {
  target: RelayIrTarget;
  /** Ir of window 1 and window 2 of each pair. */
  windows: [number, number][];
  /** (ir2 - ir1) / (n2 - n1) of each pair. */
  estimates: number[];
  /** Median, smallest and largest of {@link RelayIrResult.estimates}. */
  median: number;
  min: number;
  max: number;
  /** Every window's Ir over every measured request. */
  pooled: number;
}

const USAGE = `usage: npm run bench -- http-relay-ir [options]
  --targets LIST    worker,invocation (default both): the processes run under callgrind
  --warmup N        requests before the measured windows (default 500)
  --n1 N            requests of window 1 (default 100)
  --n2 N            requests of window 2 (default 500)
  --repeats N       window pairs (default 3)
  --concurrency N   requests in flight (default 4)
  -h, --help`;

/** Parses the command line of `bench http-relay-ir`; undefined for --help; throws TypeError on bad input. */
export function parseRelayIrArgs(argv: string[]): RelayIrConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      targets: { type: 'string' },
      ...WINDOW_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  return {
    targets: listOf('target', values.targets, RelayIrTargets),
    ...parseWindows(values, { warmup: 500, n1: 100, n2: 500, repeats: 3, concurrency: 4 }),
  };
}

/** Summary of one process's windows. */
export function relayIrResult(
  target: RelayIrTarget,
  windows: [number, number][],
  n1: number,
  n2: number,
): RelayIrResult {
  const estimates = windows.map(([w1, w2]) => (w2 - w1) / (n2 - n1));
  const sorted = [...estimates].sort((x, y) => x - y);
  const ir = windows.reduce((sum, [w1, w2]) => sum + w1 + w2, 0);
  return {
    target,
    windows,
    estimates,
    median: sorted[Math.floor(sorted.length / 2)] as number,
    min: sorted[0] as number,
    max: sorted[sorted.length - 1] as number,
    pooled: ir / (windows.length * (n1 + n2)),
  };
}

/** Starts the region with `targets` under callgrind, measures, stops everything. */
async function measure(options: RelayIrConfig, containerPort: number): Promise<RelayIrResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-relay-ir-'));
  const outOf = (t: RelayIrTarget) => join(dir, `callgrind.${t}`);
  const under = (t: RelayIrTarget) => options.targets.includes(t);
  const bench = await launchBenchRegion({
    stateDirPrefix: 'switchyard-bench-relay-ir-',
    redis: true,
    services: ['invocation'],
    fn: { name: 'echo', kind: 'http', inferenceUrl: '/echo' },
    nodeFlags: under('invocation') ? { invocation: ['--import', PRELOAD] } : undefined,
    serviceEnv: {
      invocation: {
        // Under callgrind (~50x slower, more on a loaded machine) the control copy's freshness probes can
        // fall behind the default 10 s bound, and every request would be 503 SY_CONTROL_UNAVAILABLE.
        SWITCHYARD_CONTROL_MAX_STALENESS_MS: '600000',
        ...(under('invocation') ? { SWITCHYARD_OVERHEAD_CALLGRIND_OUT: outOf('invocation') } : {}),
      },
    },
    workerNodeFlags: under('worker') ? ['--import', PRELOAD] : undefined,
    workerEnv: under('worker') ? { SWITCHYARD_OVERHEAD_CALLGRIND_OUT: outOf('worker') } : undefined,
    upstream: `http://127.0.0.1:${containerPort}`,
    concurrency: 64,
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
  const pids = options.targets.map((t) => Number(readFileSync(`${outOf(t)}.pid`, 'utf8')));
  const caller = httpCaller(bench.region.ports.http, {
    Authorization: `Bearer ${bench.apiKey}`,
    Host: `${bench.functionId}.invocation.localhost`,
  });
  try {
    // The first requests take the ticket path; under callgrind on a loaded machine a ticketed request
    // can outwait the worker's hold (HTTP_STREAM_WAIT_MS) and fail. One success opens the warm path.
    for (let attempt = 1; ; attempt++) {
      const ok = await caller.one().then(
        () => true,
        (err: Error) => {
          if (attempt >= PRIME_ATTEMPTS) throw err;
          return false;
        },
      );
      if (ok) break;
    }
    await drive(options.warmup, options.concurrency, caller.one);
    for (const pid of pids) callgrindZero(pid);
    const windows: [number, number][][] = options.targets.map(() => []);
    const dumpAll = () => options.targets.map((t, i) => callgrindDump(pids[i] as number, dir, `callgrind.${t}`));
    for (let r = 0; r < options.repeats; r++) {
      await drive(options.n1, options.concurrency, caller.one);
      const ir1 = dumpAll();
      await drive(options.n2, options.concurrency, caller.one);
      const ir2 = dumpAll();
      options.targets.forEach((_, i) => {
        windows[i]?.push([ir1[i] as number, ir2[i] as number]);
      });
    }
    return options.targets.map((t, i) => relayIrResult(t, windows[i] ?? [], options.n1, options.n2));
  } finally {
    caller.close();
    await bench.stop();
    // The launcher stops the thin parents; make sure the valgrind children they forwarded to are gone.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Markdown table of the results: one row per process, median pair (min-max) and pooled Ir per request. */
export function relayIrTable(results: RelayIrResult[]): string {
  const M = (ir: number) => `${(ir / 1e6).toFixed(3)} M`;
  return markdownTable(
    ['process', 'median pair Ir/request (min-max)', 'pooled Ir/request'],
    results.map((r) => [r.target, `${M(r.median)} (${M(r.min)}-${M(r.max)})`, M(r.pooled)]),
  );
}

/** Entry of `npm run bench -- http-relay-ir`. */
export async function runRelayIrBench(argv: string[]): Promise<number> {
  const options = parseOrExit(parseRelayIrArgs, argv, USAGE);
  if (typeof options === 'number') return options;
  const container = await spawnChild('container', nodeBinary(), [
    'packages/sample-functions/src/main.ts',
    'http',
    '--port',
    '0',
    '--instance-id',
    'bench-relay-ir-container',
  ]);
  let results: RelayIrResult[];
  try {
    results = await measure(options, container.ready.port as number);
  } finally {
    await container.stop();
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
  process.stdout.write(
    `\nPOST /echo (100 bytes), warm-up ${options.warmup}, ${options.repeats} x windows of ${options.n1} and ${options.n2} requests, ${options.concurrency} in flight\n\n`,
  );
  process.stdout.write(`${relayIrTable(results)}\n`);
  return 0;
}
