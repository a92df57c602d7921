// `npm run bench -- regions`: resume latency of a session through its own region's proxy (local) vs
// through another region's proxy (cross-region, G15), with a delaying TCP relay on every gateway link
// (one-way delay in each direction, default 40 ms). Targets (issue 4): a cross-region resume costs at
// most one inter-region round trip more than a local one; a local resume p99 <= 3 ms.
//
// One OS process per service (lib/regions-bench-stack.ts): the proxies, the worker and the echo
// container run from their main.ts; only the supercluster, its relays and the client live here.
// `--in-process` runs the services in this process instead (the first version of this bench).
//
// A resume is timed on an already-open HTTP/2 connection, from the request with `nvcf-reqid` to the
// end of the answer: the proxy's lookup, attach and one echo call. Each sample resumes a different
// session (held by the worker, no client connection), so no proxy answers from its own memory. A
// plain echo call on a connection pinned to its session (local proxy, G6) is timed in the same loop
// as the baseline the resumes are compared with, and so is a call straight to the echo container (no
// Switchyard: what one HTTP/2 hop between two processes costs on this machine at that moment).

import { readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '@nats-io/transport-node';
import { stopAll } from '@switchyard/testkit';
import { echoRequestFrame, RawGrpcConnection } from '../services/worker/test/helpers.ts';
import { type SelfTimeEntry, topSelfTime } from './lib/cpu-profile.ts';
import { type CpuSubject, cpuDelta, machineBusyMicros, readCpu } from './lib/proc-stat.ts';
import { type RegionsBenchStack, startRegionsBenchStack } from './lib/regions-bench-stack.ts';
import {
  fileTimestamp,
  fmt,
  markdownTable,
  OUT_DIR,
  type TargetCheck,
  targetTable,
  writeResultFile,
} from './lib/report.ts';
import type { ResumeTimes } from './lib/resume-stages.ts';

const USAGE = `usage: npm run bench -- regions [options]
  --samples N      resumes measured per path (default 200)
  --delay-ms MS    one-way delay injected on the gateway links, each direction (default 40)
  --in-process     run proxies, worker and container in the bench's own process (the old mode)
  --stages         time the stages of each resume inside the proxies (bench/lib/resume-stages.ts preload)
  --profile        run proxies and worker with --cpu-prof into bench/out/profiles; print top 15 self time`;

const EAST = 'us-east';
const WEST = 'eu-west';

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function openConnection(address: string): Promise<RawGrpcConnection> {
  const conn = new RawGrpcConnection(address);
  await new Promise<void>((resolve, reject) => {
    conn.session.once('connect', () => resolve());
    conn.session.once('error', reject);
  });
  return conn;
}

/** One timed echo call on `conn`, ms; throws unless it ends with grpc-status 0. */
async function timedCall(conn: RawGrpcConnection, md: Record<string, string>, what: string): Promise<number> {
  const started = performance.now();
  const result = await conn.call('Unary', md, echoRequestFrame({ payload: Buffer.from('x') }));
  const elapsed = performance.now() - started;
  if (result.grpcStatus !== 0)
    throw new Error(`${what}: grpc-status ${result.grpcStatus} ${result.trailers?.['grpc-message'] ?? ''}`);
  return elapsed;
}

/** Times one resume of `reqId` through `address` on a fresh, already connected HTTP/2 connection, ms. */
async function timedResume(address: string, md: Record<string, string>, reqId: string): Promise<number> {
  const conn = await openConnection(address);
  try {
    return await timedCall(conn, { ...md, 'nvcf-reqid': reqId }, `resume of ${reqId} through ${address}`);
  } finally {
    conn.close();
  }
}

/** A new session through `address`; returns its request ID (the connection is closed at once). */
async function newSession(address: string, md: Record<string, string>): Promise<string> {
  const conn = await openConnection(address);
  try {
    const result = await conn.call('Unary', md, echoRequestFrame({ payload: Buffer.from('x') }));
    const reqId = result.headers['nvcf-reqid'];
    if (result.grpcStatus !== 0 || typeof reqId !== 'string')
      throw new Error(`new session: grpc-status ${result.grpcStatus}`);
    return reqId;
  } finally {
    conn.close();
  }
}

interface RegionsConfig {
  samples: number;
  delayMs: number;
  inProcess: boolean;
  stages: boolean;
  profile: boolean;
}

function parseConfig(argv: string[]): RegionsConfig | number {
  let values: {
    samples?: string;
    'delay-ms'?: string;
    'in-process'?: boolean;
    stages?: boolean;
    profile?: boolean;
    help?: boolean;
  };
  try {
    values = parseArgs({
      args: argv,
      options: {
        samples: { type: 'string' },
        'delay-ms': { type: 'string' },
        'in-process': { type: 'boolean' },
        stages: { type: 'boolean' },
        profile: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const samples = Number(values.samples ?? 200);
  const delayMs = Number(values['delay-ms'] ?? 40);
  if (!Number.isInteger(samples) || samples < 10 || !(delayMs >= 0)) {
    process.stderr.write(`--samples must be an integer >= 10 and --delay-ms >= 0\n${USAGE}\n`);
    return 2;
  }
  const inProcess = values['in-process'] ?? false;
  if (inProcess && (values.stages || values.profile)) {
    process.stderr.write(`--stages and --profile need the services in their own processes (not --in-process)\n`);
    return 2;
  }
  return { samples, delayMs, inProcess, stages: values.stages ?? false, profile: values.profile ?? false };
}

/** Stage durations of one resume, ms, from resume-stages.ts records. */
type StageName =
  | 'before lookup'
  | 'lookup (KV)'
  | 'lookup -> attach'
  | 'attach (tunnel)'
  | 'attach -> forward'
  | 'forward: worker + container'
  | 'answer relayed'
  | 'whole resume in proxy';
const STAGES: readonly StageName[] = [
  'before lookup',
  'lookup (KV)',
  'lookup -> attach',
  'attach (tunnel)',
  'attach -> forward',
  'forward: worker + container',
  'answer relayed',
  'whole resume in proxy',
];

function stageDurations(records: ResumeTimes[]): Record<StageName, number[]> {
  const out = Object.fromEntries(STAGES.map((s) => [s, [] as number[]])) as Record<StageName, number[]>;
  const push = (name: StageName, from: number | undefined, to: number | undefined) => {
    if (from !== undefined && to !== undefined) out[name].push(to - from);
  };
  for (const r of records) {
    push('before lookup', 0, r.lookupStart);
    push('lookup (KV)', r.lookupStart, r.lookupEnd);
    push('lookup -> attach', r.lookupEnd, r.attachStart);
    push('attach (tunnel)', r.attachStart, r.attachEnd);
    push('attach -> forward', r.attachEnd ?? r.lookupEnd, r.forwardStart);
    push('forward: worker + container', r.forwardStart, r.forwardHeaders);
    push('answer relayed', r.forwardHeaders, r.clientClose);
    push('whole resume in proxy', 0, r.clientClose);
  }
  for (const name of STAGES) out[name].sort((a, b) => a - b);
  return out;
}

/** Asks a proxy child for its resume stage records (and makes it forget them). */
async function collectStages(stack: RegionsBenchStack, region: string): Promise<ResumeTimes[]> {
  const child = stack.children.find((c) => c.name === `grpc-proxy-${region}`);
  if (!child) return [];
  const line = child.nextJson((v) => Array.isArray(v.resumeStages), 10_000);
  child.kill('SIGUSR2');
  return (await line).resumeStages as ResumeTimes[];
}

/** Runs the bench; resolves with the process exit code. */
export async function runRegionsBench(argv: string[]): Promise<number> {
  const config = parseConfig(argv);
  if (typeof config === 'number') return config;
  const { samples, delayMs } = config;
  const profileDir = join(OUT_DIR, 'profiles', `regions-${fileTimestamp()}`);
  const proxyNodeFlags = [
    ...(config.stages ? ['--import', './bench/lib/resume-stages.ts'] : []),
    ...(config.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
  ];
  const workerNodeFlags = config.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const startedAt = new Date();
  let stack: RegionsBenchStack | undefined;
  const ncs: { close(): Promise<void> }[] = [];
  let pinnedConn: RawGrpcConnection | undefined;
  let directConn: RawGrpcConnection | undefined;
  try {
    const mode = config.inProcess ? 'one process (--in-process)' : 'one process per service';
    process.stderr.write(
      `starting 2 regions (${mode}) with ${delayMs} ms one-way delay on the gateway links; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}...\n`,
    );
    stack = await startRegionsBenchStack({
      regions: [EAST, WEST],
      delayMs,
      concurrency: 4 * samples + 64,
      remoteLookupTimeoutMs: 5_000,
      inProcess: config.inProcess,
      proxyNodeFlags,
      workerNodeFlags,
    });
    const east = stack.proxyAddress(EAST);
    const west = stack.proxyAddress(WEST);
    const md = stack.metadata;

    // The inter-region round trip as NATS sees it: a core request from eu-west to a responder in us-east.
    const ncEast = await connect({ servers: stack.urls(EAST) });
    ncs.push(ncEast);
    const ncWest = await connect({ servers: stack.urls(WEST) });
    ncs.push(ncWest);
    ncEast.subscribe('bench.rtt', { callback: (_err, msg) => void msg.respond(msg.data) });
    await ncEast.flush();
    const rtts: number[] = [];
    for (let i = 0; i < 25; i++) {
      const t = performance.now();
      try {
        await ncWest.request('bench.rtt', new Uint8Array(8), { timeout: 5_000 });
      } catch {
        await new Promise((r) => setTimeout(r, 200)); // interest still crossing the gateway
        continue;
      }
      if (i >= 5) rtts.push(performance.now() - t);
    }
    rtts.sort((a, b) => a - b);
    const rttMs = percentile(rtts, 50);

    process.stderr.write(`creating ${2 * samples + 20} sessions in ${EAST}...\n`);
    const sessions: string[] = [];
    for (let i = 0; i < 2 * samples + 20; i++) sessions.push(await newSession(east, md));
    // The baseline's connection: one session, pinned to it (G6), kept open through the measurement.
    pinnedConn = await openConnection(east);
    await timedCall(pinnedConn, md, 'pinned session');
    directConn = await openConnection(stack.containerAddress);
    await timedCall(directConn, {}, 'direct call');
    await new Promise((r) => setTimeout(r, 300)); // every other client connection closed: nothing held in proxy memory

    // Warm-up: the first cross-region resume makes the us-east worker dial eu-west's proxy (one tunnel,
    // reused by every later session: W1). Timed separately as "cold".
    const coldCross = await timedResume(west, md, sessions.pop() as string);
    for (let i = 0; i < 9; i++) {
      await timedResume(west, md, sessions.pop() as string);
      await timedResume(east, md, sessions.pop() as string);
      await timedCall(pinnedConn, md, 'pinned call');
      await timedCall(directConn, {}, 'direct call');
    }
    if (config.stages) await Promise.all([collectStages(stack, EAST), collectStages(stack, WEST)]); // drop warm-up
    process.stderr.write(
      `measuring ${samples} local and ${samples} cross-region resumes ${samples} pinned and ${samples} direct calls...\n`,
    );
    const local: number[] = [];
    const cross: number[] = [];
    const pinned: number[] = [];
    const direct: number[] = [];
    const started = stack;
    const cpuSubjects: CpuSubject[] = [
      {
        name: config.inProcess ? 'bench (client, relays, services)' : 'bench (client, relays)',
        pids: () => [process.pid],
      },
      {
        name: 'nats-server x2',
        pids: () => started.natsPids(),
      },
      ...stack.children.map((c) => ({ name: c.name, pids: () => [c.pid] })),
    ];
    const loadBefore = loadavg();
    const cpuBefore = readCpu(cpuSubjects);
    const busyBefore = machineBusyMicros();
    const measureStarted = performance.now();
    for (let i = 0; i < samples; i++) {
      local.push(await timedResume(east, md, sessions.pop() as string));
      cross.push(await timedResume(west, md, sessions.pop() as string));
      pinned.push(await timedCall(pinnedConn, md, 'pinned call'));
      direct.push(await timedCall(directConn, {}, 'direct call'));
    }
    const measuredS = (performance.now() - measureStarted) / 1000;
    const busyCores = (machineBusyMicros() - busyBefore) / 1e6 / measuredS;
    const cpuCores = Object.fromEntries(
      Object.entries(cpuDelta(cpuBefore, readCpu(cpuSubjects))).map(([name, us]) => [name, us / 1e6 / measuredS]),
    );
    const othersCores = busyCores - Object.values(cpuCores).reduce((a, b) => a + b, 0);
    const loadAfter = loadavg();
    const stages = config.stages
      ? { local: await collectStages(stack, EAST), cross: await collectStages(stack, WEST) }
      : undefined;
    local.sort((a, b) => a - b);
    cross.sort((a, b) => a - b);
    pinned.sort((a, b) => a - b);
    direct.sort((a, b) => a - b);
    const row = (name: string, s: number[]) => [
      name,
      fmt(percentile(s, 50), 2),
      fmt(percentile(s, 90), 2),
      fmt(percentile(s, 99), 2),
      fmt(s[s.length - 1], 2),
    ];
    const table = markdownTable(
      ['path', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [
        row(`resume, local (${EAST} -> ${EAST})`, local),
        row(`resume, cross-region (${EAST} session via ${WEST})`, cross),
        row(`baseline: echo call on a pinned connection (${EAST})`, pinned),
        row('reference: echo call straight to the container (no Switchyard)', direct),
      ],
    );
    const ratio = (a: number[], b: number[], p: number) => fmt(percentile(a, p) / percentile(b, p), 1);
    const extraP50 = percentile(cross, 50) - percentile(local, 50);
    const extraP99 = percentile(cross, 99) - percentile(local, 99);
    const localP99 = percentile(local, 99);
    const checks: TargetCheck[] = [
      {
        target: `cross - local p50 <= 1 inter-region RTT (${fmt(rttMs, 2)} ms measured, ${2 * delayMs} ms injected)`,
        value: `${fmt(extraP50, 2)} ms`,
        verdict: extraP50 <= rttMs ? 'PASS' : 'MISS',
        gap: `${fmt(extraP50 - rttMs, 2)} ms`,
      },
      {
        target: `cross - local p99 <= 1 inter-region RTT (${fmt(rttMs, 2)} ms)`,
        value: `${fmt(extraP99, 2)} ms`,
        verdict: extraP99 <= rttMs ? 'PASS' : 'MISS',
        gap: `${fmt(extraP99 - rttMs, 2)} ms`,
      },
      {
        target: 'local resume p99 <= 3 ms',
        value: `${fmt(localP99, 2)} ms`,
        verdict: localP99 <= 3 ? 'PASS' : 'MISS',
        gap: `${fmt(localP99 - 3, 2)} ms`,
      },
    ];
    const out = [
      '',
      `## regions: resume latency, ${delayMs} ms one-way gateway delay, ${samples} samples per path, ${mode}`,
      '',
      `run ${startedAt.toISOString().replace(/\.\d+Z$/, 'Z')}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before, ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after; machine busy ${fmt(busyCores, 2)} of ${cpus().length} cores during the measurement (${fmt(measuredS, 1)} s)`,
      `CPU during the measurement, in cores: ${Object.entries(cpuCores)
        .map(([name, cores]) => `${name} ${fmt(cores, 2)}`)
        .join(', ')}; everything else on the machine ${fmt(othersCores, 2)}`,
      `inter-region round trip (core NATS request ${WEST} -> ${EAST}): p50 ${fmt(rttMs, 2)} ms, p99 ${fmt(percentile(rtts, 99), 2)} ms`,
      `cold cross-region resume (first one: the worker dials ${WEST}'s proxy): ${fmt(coldCross, 2)} ms`,
      '',
      table,
      '',
      `local resume / pinned call: p50 ${ratio(local, pinned, 50)}x, p99 ${ratio(local, pinned, 99)}x; cross-region resume / pinned call: p50 ${ratio(cross, pinned, 50)}x, p99 ${ratio(cross, pinned, 99)}x`,
      `pinned call / direct container call: p50 ${ratio(pinned, direct, 50)}x, p99 ${ratio(pinned, direct, 99)}x; local resume / direct container call: p50 ${ratio(local, direct, 50)}x, p99 ${ratio(local, direct, 99)}x`,
      '',
      targetTable(checks),
      '',
    ];
    if (stages) {
      const stageRows = (records: ResumeTimes[], path: string) => {
        const durations = stageDurations(records);
        return STAGES.filter((s) => durations[s].length > 0).map((s) => {
          const d = durations[s];
          return [
            path,
            s,
            String(d.length),
            fmt(percentile(d, 50), 3),
            fmt(percentile(d, 90), 3),
            fmt(percentile(d, 99), 3),
            fmt(d[d.length - 1], 3),
          ];
        });
      };
      out.push(
        '### resume stages inside the proxy (bench/lib/resume-stages.ts; ms)',
        '',
        markdownTable(
          ['path', 'stage', 'n', 'p50', 'p90', 'p99', 'max'],
          [...stageRows(stages.local, 'local'), ...stageRows(stages.cross, 'cross')],
        ),
        '',
        'Note: --stages adds a diagnostics-channel subscriber per HTTP/2 stream to the proxies.',
        '',
      );
    }
    process.stdout.write(out.join('\n'));
    pinnedConn.close();
    pinnedConn = undefined;
    directConn.close();
    directConn = undefined;

    let profiles: { process: string; file: string; top: SelfTimeEntry[] }[] | undefined;
    if (config.profile) {
      const children = [...stack.children];
      await stack.stop(); // profiles are written when the children exit
      profiles = [];
      for (const child of children) {
        const file = readdirSync(profileDir).find((f) => f.includes(`.${child.pid}.`) && f.endsWith('.cpuprofile'));
        if (file)
          profiles.push({
            process: child.name,
            file: join(profileDir, file),
            top: topSelfTime(join(profileDir, file)),
          });
      }
      for (const p of profiles)
        process.stdout.write(
          `\n### CPU profile, ${p.process} (top 15 self time, whole life): ${p.file}\n\n${markdownTable(
            ['function', 'location', 'self ms', '%'],
            p.top.map((e) => [e.function, e.location, fmt(e.selfMs, 1), fmt(e.percent, 1)]),
          )}\n`,
        );
    }
    const file = writeResultFile('regions', {
      mode: stack.mode,
      startedAt: startedAt.toISOString(),
      delayMs,
      samples,
      loadBefore,
      loadAfter,
      busyCores,
      cpuCores,
      othersCores,
      rttMs,
      rtts,
      coldCross,
      local,
      cross,
      pinned,
      direct,
      checks,
      stages,
      profiles,
    });
    process.stdout.write(`\nresult: ${file}\n`);
    return checks.every((c) => c.verdict === 'PASS') ? 0 : 1;
  } finally {
    pinnedConn?.close();
    directConn?.close();
    for (const nc of ncs) await nc.close().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    await stopAll().catch(() => undefined);
  }
}
