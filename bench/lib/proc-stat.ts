// Per-process CPU and memory readings from /proc, so the bench can charge each process of a path
// (container, nginx, proxy, worker, nats-server) for its own share of a measured window.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, normally 100). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * The command name and CPU time (user + system, microseconds) of a /proc `stat` line, of a process
 * (/proc/<pid>/stat) or one of its threads (/proc/<pid>/task/<tid>/stat).
 */
function parseStat(text: string): { name: string; cpuUs: number } {
  // The command name (field 2) may contain spaces; fields after the closing paren are fixed.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  const cpuUs = ((Number(fields[11]) + Number(fields[12])) * 1e6) / clockTicksPerSecond();
  return { name: text.slice(text.indexOf('(') + 1, close), cpuUs };
}

/**
 * CPU time (user + system) a process has used so far, in microseconds; 0 once it is gone.
 * Covers every thread of the process, not its children.
 */
export function cpuMicros(pid: number): number {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuUs;
  } catch {
    return 0;
  }
}

/**
 * Groups of a Node process's threads whose CPU the telemetry pair reports apart: `main` (the thread
 * running JavaScript: its tid is the pid), `v8` (the V8 platform's threads, named `V8Worker` and
 * `DelayedTaskSche...`: parallel scavenges, concurrent marking and sweeping, concurrent compilation),
 * `other` (libuv's pool, worker threads, the inspector).
 */
export const THREAD_GROUPS = ['main', 'v8', 'other'] as const;
/** One of {@link THREAD_GROUPS}. */
export type ThreadGroup = (typeof THREAD_GROUPS)[number];

/**
 * CPU time (user + system) each thread group of process `pid` has used so far, in microseconds,
 * read from /proc/<pid>/task/<tid>/stat (a thread that ended since takes its time with it); zeros once
 * the process is gone.
 */
export function cpuMicrosByThreadGroup(pid: number): Record<ThreadGroup, number> {
  const out: Record<ThreadGroup, number> = { main: 0, v8: 0, other: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    const { name, cpuUs } = parseStat(text);
    const group: ThreadGroup =
      Number(tid) === pid ? 'main' : name.startsWith('V8') || name.startsWith('DelayedTaskSche') ? 'v8' : 'other';
    out[group] += cpuUs;
  }
  return out;
}

/** Resident set size of a process, in bytes (VmRSS); 0 once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Direct children of a process (e.g. nginx's worker under its master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * `pid` and its direct children (Linux `/proc/<pid>/task/<pid>/children`): a front end run with
 * SWITCHYARD_PROCESSES > 1 is a node:cluster primary whose children do the work. [] when `pid` is gone.
 */
export function withChildren(pid: number): number[] {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return [pid, ...kids.map(Number)];
  } catch {
    return [];
  }
}

/** A named set of processes whose CPU is read together; `pids` is called at each reading. */
export interface CpuSubject {
  name: string;
  pids: () => number[];
}

/** CPU microseconds per subject, taken at one instant. */
export type CpuReading = Map<string, number>;

/** Reads the current CPU time of every subject (sum over its pids), in microseconds. */
export function readCpu(subjects: readonly CpuSubject[]): CpuReading {
  const reading: CpuReading = new Map();
  for (const subject of subjects) {
    let sum = 0;
    for (const pid of subject.pids()) sum += cpuMicros(pid);
    reading.set(subject.name, sum);
  }
  return reading;
}

/** Reads the current CPU time of every subject by thread group (sum over its pids), in microseconds. */
export function readThreadCpu(subjects: readonly CpuSubject[]): Map<string, Record<ThreadGroup, number>> {
  const out = new Map<string, Record<ThreadGroup, number>>();
  for (const subject of subjects) {
    const sum: Record<ThreadGroup, number> = { main: 0, v8: 0, other: 0 };
    for (const pid of subject.pids()) {
      const groups = cpuMicrosByThreadGroup(pid);
      for (const g of THREAD_GROUPS) sum[g] += groups[g];
    }
    out.set(subject.name, sum);
  }
  return out;
}

/** CPU microseconds each subject used between two readings. */
export function cpuDelta(before: CpuReading, after: CpuReading): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, end] of after) out[name] = end - (before.get(name) ?? 0);
  return out;
}

/** Busy CPU time of the whole machine so far (all cores; idle and iowait excluded), in microseconds. */
export function machineBusyMicros(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return ((total - idle) * 1e6) / clockTicksPerSecond();
}

/**
 * Pids of processes whose command line (arguments joined with spaces) satisfies `match`; for
 * children whose handle does not expose a pid (testkit's redis-server).
 */
export function pidsByCommandLine(match: (commandLine: string) => boolean): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (match(commandLine)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
