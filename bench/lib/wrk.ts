// Runs Debian's wrk (HTTP/1.1) against one URL with a generated Lua script that sets method, body
// and headers and prints the summary as one JSON line from done(): requests, errors by kind, and
// latency percentiles from wrk's own HdrHistogram (microsecond resolution).

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Options of {@link runWrk}. */
export interface WrkOptions {
  url: string;
  /** Open connections (`-c`); wrk runs one thread, so the load generator stays on one core. */
  connections: number;
  /** Measured duration (`-d`), seconds. */
  durationS: number;
  method: string;
  /** Request body (sent on every request). */
  body?: string;
  /** Request headers; `Host` replaces the URL's host. */
  headers: Record<string, string>;
  /** Per-request timeout (`--timeout`), seconds. @default 10 */
  timeoutS?: number;
  /**
   * Offered load, requests per second over all connections: each connection waits
   * `connections / rps` s before each request (wrk's `delay()`), so the rate is a little under `rps`
   * by the response time. Unset: as fast as the connections go.
   */
  rps?: number;
}

/** What one wrk run measured. */
export interface WrkResult {
  connections: number;
  elapsedS: number;
  /** Responses wrk completed (any status). */
  requests: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  /** Responses with a 2xx or 3xx status. */
  ok: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
}

function luaString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

/** The Lua script of one run: request shape, then a JSON summary line on stdout. */
export function renderWrkScript(
  options: Pick<WrkOptions, 'method' | 'body' | 'headers' | 'rps' | 'connections'>,
): string {
  const lines = [`wrk.method = ${luaString(options.method)}`];
  if (options.rps !== undefined)
    lines.push(`delay = function() return ${((options.connections * 1000) / options.rps).toFixed(3)} end`);
  if (options.body !== undefined) lines.push(`wrk.body = ${luaString(options.body)}`);
  for (const [name, value] of Object.entries(options.headers))
    lines.push(`wrk.headers[${luaString(name)}] = ${luaString(value)}`);
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format(\'\\n{"wrk":true,"duration_us":%d,"requests":%d,"bytes":%d,' +
      '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' +
      '"p50":%d,"p90":%d,"p99":%d,"mean":%f,"max":%d}\\n\',',
    '    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,',
    '    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))',
    'end',
  );
  return `${lines.join('\n')}\n`;
}

/** Runs wrk once (one thread) and parses the JSON line its done() prints; rejects when wrk fails. */
export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-wrk-'));
  const script = join(dir, 'request.lua');
  writeFileSync(script, renderWrkScript(options));
  try {
    const args = [
      '-t',
      '1',
      '-c',
      String(options.connections),
      '-d',
      `${options.durationS}s`,
      '--timeout',
      `${options.timeoutS ?? 10}s`,
      '-s',
      script,
      options.url,
    ];
    const { stdout } = await run('wrk', args, { maxBuffer: 16 * 1024 * 1024 });
    const line = stdout.split('\n').find((l) => l.startsWith('{"wrk":true'));
    if (line === undefined) throw new Error(`wrk printed no summary:\n${stdout}`);
    const v = JSON.parse(line) as Record<string, number>;
    const n = (k: string) => v[k] ?? 0;
    const elapsedS = n('duration_us') / 1e6;
    const errors = {
      connect: n('connect'),
      read: n('read'),
      write: n('write'),
      status: n('status'),
      timeout: n('timeout'),
    };
    // summary.requests counts completed responses; errors.status those that were not 2xx/3xx.
    const ok = n('requests') - errors.status;
    return {
      connections: options.connections,
      elapsedS,
      requests: n('requests'),
      bytes: n('bytes'),
      errors,
      ok,
      rps: elapsedS > 0 ? ok / elapsedS : Number.NaN,
      latencyMs: {
        p50: n('p50') / 1000,
        p90: n('p90') / 1000,
        p99: n('p99') / 1000,
        mean: n('mean') / 1000,
        max: n('max') / 1000,
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
