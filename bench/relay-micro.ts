// `npm run bench -- relay-micro`: instructions per call of one relay hop (`relayStream` of
// @switchyard/tunnel), counted by valgrind's callgrind so the figure does not depend on the machine's
// load. Two processes under callgrind (bench/lib/relay-micro-child.ts), each one in-process loopback
// setup: `direct` = HTTP/2 client -> gRPC echo server; `relay` = client -> relay (h2c server +
// relayStream over one upstream session) -> echo server. Each makes `--warmup` unary calls
// (`--concurrency` in flight), then the counters are zeroed and `--repeats` pairs of windows of `--n1`
// and `--n2` calls are dumped. Per mode: pooled Ir per call (all windows' Ir / all calls) and the
// median pair estimate ((Ir2 - Ir1) / (n2 - n1)); the relay hop's cost is relay minus direct (the
// client and the echo server cost the same in both).
// `--mux` (issue 12) measures two relay hops instead, the proxy and the worker in one process: client ->
// front (relayStream) -> tunnel -> worker (relayStream) -> echo, with the tunnel carrying an HTTP/2
// stream per call (`tunnel`, today) or every call framed on one HTTP/2 stream (`mux`), and `direct`;
// the ratio (mux - direct) / (tunnel - direct) is what the framed tunnel saves of the hops' own cost.
//   node bench/run.ts relay-micro [--mux] [--warmup 2000] [--n1 500] [--n2 2500] [--repeats 3] [--concurrency 4]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseOrExit, positiveInt } from './lib/args.ts';
import { callgrindDump, callgrindZero, parseWindows, perCall, WINDOW_OPTIONS } from './lib/callgrind.ts';
import { nodeBinary, spawnChild } from './lib/child.ts';
import { markdownTable, writeResultFile } from './lib/report.ts';

const CHILD = fileURLToPath(new URL('./lib/relay-micro-child.ts', import.meta.url));
/** Time for a child to start or run a window under callgrind (~50x slower than native). */
const STEP_TIMEOUT_MS = 600_000;

const USAGE = `usage: npm run bench -- relay-micro [options]
  --warmup N        calls before the measured windows (default 2000)
  --n1 N            calls of window 1 (default 500)
  --n2 N            calls of window 2 (default 2500)
  --repeats N       window pairs per mode (default 3)
  --concurrency N   calls in flight (default 4)
  --payload-bytes N EchoRequest payload (default 100)
  --mux             two relay hops over a tunnel: an HTTP/2 stream per call vs the framed tunnel (mux)
  -h, --help`;

/** Resolved options of one run. */
export interface RelayMicroConfig {
  warmup: number;
  n1: number;
  n2: number;
  repeats: number;
  concurrency: number;
  payloadBytes: number;
  /** Measure two hops, tunnel vs mux, instead of direct vs one relay hop. */
  mux: boolean;
}

/** The measurement of one mode: each pair's window Ir, and the two estimates. */
export interface RelayMicroResult {
  mode: 'direct' | 'relay' | 'tunnel' | 'mux';
  windows: [number, number][];
  pooled: number;
  pair: number;
}

/** Parses the command line; undefined for --help; throws TypeError on bad input. */
export function parseRelayMicroArgs(argv: string[]): RelayMicroConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...WINDOW_OPTIONS,
      'payload-bytes': { type: 'string' },
      mux: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  return {
    ...parseWindows(values, { warmup: 2000, n1: 500, n2: 2500, repeats: 3, concurrency: 4 }),
    payloadBytes: positiveInt('--payload-bytes', values['payload-bytes'], 100),
    mux: values.mux === true,
  };
}

async function measure(mode: RelayMicroResult['mode'], options: RelayMicroConfig): Promise<RelayMicroResult> {
  const dir = mkdtempSync(join(tmpdir(), `switchyard-relay-micro-${mode}-`));
  const base = 'callgrind.out';
  const child = await spawnChild(
    `relay-micro ${mode}`,
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, base)}`,
      '--dump-instr=no',
      '--dump-line=no',
      nodeBinary(),
      CHILD,
      '--mode',
      mode,
      '--concurrency',
      String(options.concurrency),
      '--payload-bytes',
      String(options.payloadBytes),
    ],
    { stdin: true, readyTimeoutMs: STEP_TIMEOUT_MS },
  );
  const run = async (calls: number) => {
    const done = child.nextJson((v) => v.done === calls, STEP_TIMEOUT_MS);
    child.child.stdin?.write(`run ${calls}\n`);
    await done;
  };
  try {
    await run(options.warmup);
    callgrindZero(child.pid);
    const windows: [number, number][] = [];
    for (let i = 0; i < options.repeats; i++) {
      await run(options.n1);
      const ir1 = callgrindDump(child.pid, dir, base);
      await run(options.n2);
      windows.push([ir1, callgrindDump(child.pid, dir, base)]);
    }
    return { mode, windows, ...perCall(windows, options.n1, options.n2) };
  } finally {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Entry of `npm run bench -- relay-micro`. */
export async function runRelayMicroBench(argv: string[]): Promise<number> {
  const options = parseOrExit(parseRelayMicroArgs, argv, USAGE);
  if (typeof options === 'number') return options;
  const M = (ir: number) => `${(ir / 1e6).toFixed(3)} M`;
  if (options.mux) return runMuxComparison(options, M);
  const direct = await measure('direct', options);
  process.stdout.write(`${JSON.stringify(direct)}\n`);
  const relay = await measure('relay', options);
  process.stdout.write(`${JSON.stringify(relay)}\n`);
  const table = markdownTable(
    ['estimate', 'direct Ir/call', 'relay Ir/call', 'relay hop (relay - direct)'],
    (['pooled', 'pair'] as const).map((k) => [
      k === 'pooled' ? 'pooled' : 'median pair',
      M(direct[k]),
      M(relay[k]),
      M(relay[k] - direct[k]),
    ]),
  );
  const file = writeResultFile('relay-micro', { options, direct, relay });
  process.stdout.write(
    `\nwarm-up ${options.warmup}, ${options.repeats} x windows of ${options.n1} and ${options.n2} calls, ${options.concurrency} in flight, ${options.payloadBytes}-byte payload\n\n${table}\n\n(${file})\n`,
  );
  return 0;
}

/**
 * `--mux`: two hops over a tunnel, an HTTP/2 stream per call vs the framed tunnel; `direct` too, so the
 * hops' own cost (mode - direct: what the proxy and the worker spend) can be compared as well as the
 * whole process's (which also counts the client and the echo server).
 */
async function runMuxComparison(options: RelayMicroConfig, M: (ir: number) => string): Promise<number> {
  const mux = await measure('mux', options);
  process.stdout.write(`${JSON.stringify(mux)}\n`);
  const tunnel = await measure('tunnel', options);
  process.stdout.write(`${JSON.stringify(tunnel)}\n`);
  const direct = await measure('direct', options);
  process.stdout.write(`${JSON.stringify(direct)}\n`);
  const table = markdownTable(
    [
      'estimate',
      'direct Ir/call',
      'tunnel (h2 stream per call) Ir/call',
      'mux Ir/call',
      'mux / tunnel',
      'two hops, tunnel (- direct)',
      'two hops, mux (- direct)',
      'hops mux / tunnel',
    ],
    (['pooled', 'pair'] as const).map((k) => [
      k === 'pooled' ? 'pooled' : 'median pair',
      M(direct[k]),
      M(tunnel[k]),
      M(mux[k]),
      `${(mux[k] / tunnel[k]).toFixed(3)}x`,
      M(tunnel[k] - direct[k]),
      M(mux[k] - direct[k]),
      `${((mux[k] - direct[k]) / (tunnel[k] - direct[k])).toFixed(3)}x`,
    ]),
  );
  const file = writeResultFile('relay-micro-mux', { options, direct, tunnel, mux });
  process.stdout.write(
    `\ntwo relay hops (proxy + worker in one process); warm-up ${options.warmup}, ${options.repeats} x windows of ${options.n1} and ${options.n2} calls, ${options.concurrency} in flight, ${options.payloadBytes}-byte payload\n\n${table}\n\n(${file})\n`,
  );
  return 0;
}
