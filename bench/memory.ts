// `npm run bench -- memory`: memory of an idle client connection in the proxy, of an idle session in
// the proxy and in the worker, and the number of tunnels 1,000 sessions between one worker and one
// proxy use. Memory is the RSS (and JS heap) delta after a forced GC, divided by the count.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, stopAll } from '@switchyard/testkit';
import { parseOrExit } from './lib/args.ts';
import { type BenchChild, nodeBinary, REPO_ROOT, spawnChild } from './lib/child.ts';
import { gcAndHeapUsage } from './lib/inspector.ts';
import { rssBytes } from './lib/proc-stat.ts';
import { fmt, markdownTable, type TargetCheck, targetTable, writeResultFile } from './lib/report.ts';
import { nodeCommand, SERVICE_ENTRIES, type SwitchyardStack, startSwitchyard } from './lib/switchyard-stack.ts';

/** Targets of the issue, in bytes (and tunnels). */
export const MemoryTargets = {
  idleConnectionProxyBytes: 24 * 1024,
  idleSessionProxyBytes: 2 * 1024,
  idleSessionWorkerBytes: 4 * 1024,
  tunnelsFor1000Sessions: 1,
} as const;

const CONN_HOLDER = new URL('./lib/conn-holder.ts', import.meta.url).pathname;

/** Resolved options of one memory run. */
export interface MemoryBenchConfig {
  /** Idle connections and sessions measured (each). */
  count: number;
  /** Sessions after which tunnels are counted. */
  tunnelCheckSessions: number;
  /** Calls / connection opens in flight at once. */
  parallel: number;
  /** Wait before each reading, ms (lets timers and sockets settle). */
  settleMs: number;
}

const USAGE = `usage: npm run bench -- memory [options]
  --count N         idle connections, and idle sessions, to hold (default 10000)
  --tunnel-check N  sessions after which worker->proxy tunnels are counted (default 1000)
  --parallel N      connection opens / first calls in flight at once (default 200)
  --settle-ms N     wait before each reading (default 2000)
  -h, --help`;

/** A memory reading of one process: RSS and, after a forced GC, JS heap used. */
interface MemoryReading {
  rssBytes: number;
  heapUsedBytes: number;
}

async function readMemory(pid: number, inspectPort: number): Promise<MemoryReading> {
  const heap = await gcAndHeapUsage(inspectPort);
  return { rssBytes: rssBytes(pid), heapUsedBytes: heap.usedBytes };
}

function perUnit(before: MemoryReading, after: MemoryReading, count: number): MemoryReading {
  return {
    rssBytes: (after.rssBytes - before.rssBytes) / count,
    heapUsedBytes: (after.heapUsedBytes - before.heapUsedBytes) / count,
  };
}

/** Established TCP connections from `pid` to 127.0.0.1:`port` (`ss -tnp`). */
export function countConnections(pid: number, port: number): number {
  const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.includes(`pid=${pid},`)).length;
}

async function command(
  holder: BenchChild,
  value: Record<string, unknown>,
  key: string,
): Promise<Record<string, unknown>> {
  const answer = holder.nextJson((v) => key in v || 'error' in v, 600_000);
  holder.child.stdin?.write(`${JSON.stringify(value)}\n`);
  const result = await answer;
  if (typeof result.error === 'string') throw new Error(`conn-holder: ${result.error}`);
  return result;
}

/** Parses the command line of `bench memory`; undefined for --help; throws TypeError on bad input. */
export function parseMemoryArgs(argv: string[]): MemoryBenchConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string' },
      'tunnel-check': { type: 'string' },
      parallel: { type: 'string' },
      'settle-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const int = (name: string, raw: string | undefined, fallback: number) => {
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${raw}`);
    return value;
  };
  const config = {
    count: int('--count', values.count, 10_000),
    tunnelCheckSessions: int('--tunnel-check', values['tunnel-check'], 1_000),
    parallel: int('--parallel', values.parallel, 200),
    settleMs: int('--settle-ms', values['settle-ms'], 2_000),
  };
  if (config.tunnelCheckSessions > config.count) throw new TypeError('--tunnel-check must not exceed --count');
  return config;
}

function kib(bytes: number): string {
  return `${fmt(bytes / 1024, 2)} KiB`;
}

function atMost(target: string, value: number, limit: number, render: (n: number) => string): TargetCheck {
  const gap = value - limit;
  return {
    target,
    value: render(value),
    verdict: gap <= 0 ? 'PASS' : 'MISS',
    gap: `${gap > 0 ? '+' : ''}${render(gap)}`,
  };
}

/**
 * Runs the memory bench with command-line arguments `argv` (after `memory`); prints the report and
 * writes bench/out/memory-<timestamp>.json. Resolves with the process exit code.
 */
export async function runMemoryBench(argv: string[]): Promise<number> {
  const config = parseOrExit(parseMemoryArgs, argv, USAGE);
  if (typeof config === 'number') return config;
  const missing = Object.values(SERVICE_ENTRIES).filter((f) => !existsSync(join(REPO_ROOT, f)));
  if (missing.length > 0) {
    process.stderr.write(`bench memory: needs the Switchyard services; not built yet: ${missing.join(', ')}\n`);
    return 1;
  }
  const startedAt = new Date();
  const settle = () => new Promise((r) => setTimeout(r, config.settleMs));
  // Each side holds `count` sockets plus its own; ask for headroom.
  const noFileLimit = config.count + 4096;
  const softLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  const hardLimit = Number(execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(hardLimit) && hardLimit < noFileLimit)
    process.stderr.write(
      `bench memory: hard open-files limit ${hardLimit} < ${noFileLimit}; lower --count or raise it\n`,
    );

  const container = await spawnChild('container', nodeBinary(), [
    'packages/sample-functions/src/main.ts',
    'echo',
    '--port',
    '0',
  ]);
  const [proxyInspect, workerInspect] = await Promise.all([freePort(), freePort()]);
  let holder: BenchChild | undefined;
  let stack: SwitchyardStack | undefined;
  let result: Record<string, unknown> | undefined;
  let checks: TargetCheck[] = [];
  try {
    process.stderr.write('bench memory: starting nats-server, proxy, worker\n');
    stack = await startSwitchyard({
      containerPort: container.ready.port as number,
      concurrency: config.count + 64,
      noFileLimit,
      proxyNodeFlags: [`--inspect=127.0.0.1:${proxyInspect}`],
      workerNodeFlags: [`--inspect=127.0.0.1:${workerInspect}`],
      // Idle connections must stay open for the whole run (the default idle timeout is 30 s).
      proxyEnv: { SWITCHYARD_IDLE_TIMEOUT_MS: '0', SWITCHYARD_MAX_QUEUE_PER_VERSION: String(config.count) },
    });
    holder = await spawnChild(
      'conn-holder',
      ...nodeCommand(
        [
          CONN_HOLDER,
          '--port',
          String(stack.port),
          '--headers',
          JSON.stringify(stack.headers),
          '--parallel',
          String(config.parallel),
        ],
        noFileLimit,
      ),
      { waitReady: false, stdin: true },
    );
    const proxyPid = stack.proxy.pid;
    const workerPid = stack.worker.pid;
    const proxyMem = () => readMemory(proxyPid, proxyInspect);
    const workerMem = () => readMemory(workerPid, workerInspect);

    // Warm-up: one session end to end, so code paths and pools exist before the baseline.
    await command(holder, { cmd: 'open', count: 1 }, 'opened');
    const warm = await command(holder, { cmd: 'call', from: 0, count: 1 }, 'called');
    if (warm.failed !== 0) throw new Error(`warm-up call failed: ${JSON.stringify(warm.errors)}`);
    await settle();
    const proxyBase = await proxyMem();
    const workerBase = await workerMem();

    process.stderr.write(`bench memory: opening ${config.count} idle connections\n`);
    await command(holder, { cmd: 'open', count: config.count }, 'opened');
    await settle();
    const proxyConns = await proxyMem();
    const workerConns = await workerMem();

    // One rejected call per connection (a wrong key of the same length): it grows what any first
    // call grows (HPACK tables, nghttp2 buffers) without allocating a session, so the session
    // figure below is the session's own state.
    process.stderr.write('bench memory: one rejected call per connection\n');
    const wrongKey = `Bearer sy_${'x'.repeat(stack.apiKey.length - 3)}`;
    const rejected = await command(
      holder,
      {
        cmd: 'call',
        from: 1,
        count: config.count,
        headers: { ...stack.headers, authorization: wrongKey },
        expect: 'nonzero',
      },
      'called',
    );
    if (rejected.failed !== 0) throw new Error(`rejected calls did not fail: ${JSON.stringify(rejected.errors)}`);
    await settle();
    const proxyRejected = await proxyMem();

    process.stderr.write(`bench memory: ${config.tunnelCheckSessions} sessions, counting tunnels\n`);
    const first = await command(holder, { cmd: 'call', from: 1, count: config.tunnelCheckSessions }, 'called');
    await settle();
    const tunnels = countConnections(workerPid, stack.callbackPort);

    process.stderr.write(`bench memory: ${config.count} sessions in total\n`);
    const rest = await command(
      holder,
      { cmd: 'call', from: 1 + config.tunnelCheckSessions, count: config.count - config.tunnelCheckSessions },
      'called',
    );
    const failedCalls = (first.failed as number) + (rest.failed as number);
    if (failedCalls > 0)
      throw new Error(
        `${failedCalls} first calls failed: ${JSON.stringify([...(first.errors as []), ...(rest.errors as [])])}`,
      );
    await settle();
    const proxySessions = await proxyMem();
    const workerSessions = await workerMem();
    const tunnelsAtEnd = countConnections(workerPid, stack.callbackPort);

    const connInProxy = perUnit(proxyBase, proxyConns, config.count);
    const sessionInProxy = perUnit(proxyRejected, proxySessions, config.count);
    const firstCallInProxy = perUnit(proxyConns, proxyRejected, config.count);
    const sessionInWorker = perUnit(workerConns, workerSessions, config.count);
    result = {
      idleConnection: {
        proxy: connInProxy,
        workerWhileConnectionsOpened: perUnit(workerBase, workerConns, config.count),
      },
      idleSession: { proxy: sessionInProxy, worker: sessionInWorker },
      firstCallBuffersInProxy: firstCallInProxy,
      tunnels: {
        [`after${config.tunnelCheckSessions}Sessions`]: tunnels,
        [`after${config.count}Sessions`]: tunnelsAtEnd,
      },
      readings: { proxyBase, proxyConns, proxyRejected, proxySessions, workerBase, workerConns, workerSessions },
    };
    checks = [
      atMost(
        `idle connection in proxy <= ${kib(MemoryTargets.idleConnectionProxyBytes)} (RSS)`,
        connInProxy.rssBytes,
        MemoryTargets.idleConnectionProxyBytes,
        kib,
      ),
      atMost(
        `idle session in proxy <= ${kib(MemoryTargets.idleSessionProxyBytes)} (RSS)`,
        sessionInProxy.rssBytes,
        MemoryTargets.idleSessionProxyBytes,
        kib,
      ),
      atMost(
        `idle session in worker <= ${kib(MemoryTargets.idleSessionWorkerBytes)} (RSS)`,
        sessionInWorker.rssBytes,
        MemoryTargets.idleSessionWorkerBytes,
        kib,
      ),
      atMost(
        `${config.tunnelCheckSessions} sessions, one worker and one proxy: tunnels`,
        tunnels,
        MemoryTargets.tunnelsFor1000Sessions,
        (n) => fmt(n),
      ),
    ];
    const rows = [
      ['idle connection', 'proxy', kib(connInProxy.rssBytes), kib(connInProxy.heapUsedBytes)],
      [
        'first (rejected) call on a connection',
        'proxy',
        kib(firstCallInProxy.rssBytes),
        kib(firstCallInProxy.heapUsedBytes),
      ],
      ['idle session', 'proxy', kib(sessionInProxy.rssBytes), kib(sessionInProxy.heapUsedBytes)],
      ['idle session', 'worker', kib(sessionInWorker.rssBytes), kib(sessionInWorker.heapUsedBytes)],
    ];
    process.stdout.write(
      [
        `### Memory (${fmt(config.count)} of each; deltas after a forced GC, divided by the count)`,
        '',
        markdownTable(['what', 'process', 'RSS per unit', 'JS heap per unit'], rows),
        '',
        `Tunnels (TCP connections worker -> proxy callback port): ${tunnels} after ${fmt(config.tunnelCheckSessions)} sessions, ${tunnelsAtEnd} after ${fmt(config.count)}.`,
        '',
        '### Targets',
        '',
        targetTable(checks),
        '',
      ].join('\n'),
    );
    await command(holder, { cmd: 'close' }, 'closed');
  } catch (err) {
    process.stderr.write(`bench memory: ${err instanceof Error ? err.message : String(err)}\n`);
    result = { error: err instanceof Error ? err.message : String(err) };
  } finally {
    await holder?.stop();
    await stack?.stop();
    await container.stop();
    await stopAll();
  }
  const file = writeResultFile(
    'memory',
    {
      startedAt: startedAt.toISOString(),
      machine: {
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model,
        node: process.version,
        openFilesSoftLimit: softLimit,
      },
      config,
      result,
      targets: checks,
    },
    startedAt,
  );
  process.stdout.write(`results: ${file}\n`);
  return 'error' in (result ?? {}) ? 1 : 0;
}
