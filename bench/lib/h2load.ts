// Runs Debian's h2load against one URL and turns its summary and per-request log into numbers:
// requests, RPS, bytes, and latency percentiles from the --log-file (h2load prints only mean/sd).

import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Options of {@link runH2load}. */
export interface H2loadOptions {
  url: string;
  /** Connections (`-c`). */
  connections: number;
  /** Concurrent streams per connection (`-m`). */
  streamsPerConnection: number;
  /** Measured duration (`-D`), seconds. */
  durationS: number;
  /** Request body file (`-d`; makes the request a POST). */
  bodyFile: string;
  /** Extra request headers, `name: value`. */
  headers: string[];
  /** Per-request log (`--log-file`), for percentiles; omitted for warm-ups. */
  logFile?: string;
  /**
   * Offered load, requests per second over all connections (`--rps` per client, rounded up); unset:
   * as fast as the streams allow.
   */
  rps?: number;
}

/** What one h2load run measured. */
export interface H2loadResult {
  connections: number;
  streams: number;
  elapsedS: number;
  requests: { total: number; started: number; done: number; succeeded: number; failed: number; errored: number };
  status2xx: number;
  /** Response bytes h2load received (headers + data + framing). */
  trafficBytes: number;
  /** Response DATA bytes (gRPC messages; trailers are headers). */
  dataBytes: number;
  rps: number;
  /** Response megabytes (10^6) per second, all traffic. */
  mbPerS: number;
  latencyMs?: { p50: number; p90: number; p99: number; mean: number; max: number; samples: number };
}

function num(text: string, re: RegExp, what: string): number {
  const match = re.exec(text);
  if (!match) throw new Error(`h2load output has no ${what}:\n${text}`);
  return Number(match[1]);
}

function elapsedSeconds(text: string): number {
  const match = /finished in ([\d.]+)(ms|s|us)/.exec(text);
  if (!match) throw new Error(`h2load output has no "finished in":\n${text}`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value / 1000 : match[2] === 'us' ? value / 1e6 : value;
}

/** Percentile (nearest rank) of a sorted array. */
export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Latency summary (ms) of an h2load --log-file: `start_us \t status \t duration_us` per line. */
export function latencyFromLog(file: string): NonNullable<H2loadResult['latencyMs']> {
  const lines = readFileSync(file, 'utf8').split('\n');
  const values = new Float64Array(lines.length);
  let n = 0;
  let sum = 0;
  for (const line of lines) {
    const tab = line.lastIndexOf('\t');
    if (tab < 0) continue;
    const us = Number(line.slice(tab + 1));
    if (!Number.isFinite(us)) continue;
    values[n++] = us;
    sum += us;
  }
  const sorted = values.subarray(0, n).sort();
  return {
    p50: percentile(sorted, 50) / 1000,
    p90: percentile(sorted, 90) / 1000,
    p99: percentile(sorted, 99) / 1000,
    mean: n === 0 ? Number.NaN : sum / n / 1000,
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number) / 1000,
    samples: n,
  };
}

/** Parses h2load's summary text. */
export function parseH2loadSummary(text: string, connections: number, streams: number): H2loadResult {
  const elapsedS = elapsedSeconds(text);
  const requests = {
    total: num(text, /requests: (\d+) total/, 'requests total'),
    started: num(text, /(\d+) started/, 'started'),
    done: num(text, /(\d+) done/, 'done'),
    succeeded: num(text, /(\d+) succeeded/, 'succeeded'),
    failed: num(text, /(\d+) failed/, 'failed'),
    errored: num(text, /(\d+) errored/, 'errored'),
  };
  const trafficBytes = num(text, /traffic: [\d.]+\w*B \((\d+)\) total/, 'traffic total');
  const dataBytes = num(text, /\((\d+)\) data/, 'traffic data');
  return {
    connections,
    streams,
    elapsedS,
    requests,
    status2xx: num(text, /status codes: (\d+) 2xx/, '2xx count'),
    trafficBytes,
    dataBytes,
    rps: requests.succeeded / elapsedS,
    mbPerS: trafficBytes / elapsedS / 1e6,
  };
}

/** Runs h2load once (one thread) and parses its output; rejects if h2load fails to run. */
export async function runH2load(options: H2loadOptions): Promise<H2loadResult> {
  const args = [
    '-t',
    '1',
    '-c',
    String(options.connections),
    '-m',
    String(options.streamsPerConnection),
    '-D',
    String(options.durationS),
    '-d',
    options.bodyFile,
  ];
  if (options.rps !== undefined) args.push(`--rps=${Math.ceil(options.rps / options.connections)}`);
  for (const header of options.headers) args.push('-H', header);
  if (options.logFile) {
    rmSync(options.logFile, { force: true });
    args.push('--log-file', options.logFile);
  }
  args.push(options.url);
  const { stdout } = await run('h2load', args, { maxBuffer: 16 * 1024 * 1024 });
  const result = parseH2loadSummary(stdout, options.connections, options.connections * options.streamsPerConnection);
  if (options.logFile) result.latencyMs = latencyFromLog(options.logFile);
  return result;
}
