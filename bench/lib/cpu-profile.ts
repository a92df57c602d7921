// Reads V8 .cpuprofile files (written by `node --cpu-prof`) and ranks functions by self time, so a
// missed CPU target can be reported with where the time went.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_ROOT } from './child.ts';
import { markdownTable } from './report.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One function's self time in a profile. */
export interface SelfTimeEntry {
  function: string;
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) sampled time, percent. */
  percent: number;
}

/**
 * A span of a profile's clock (V8's, CLOCK_MONOTONIC: the same as `process.hrtime`), us: only samples
 * taken in it count.
 */
export interface ProfileSpan {
  fromUs: number;
  toUs: number;
}

/** Whether sample `i` (at `at` us on the profile's clock) counts in `span` (every sample without one). */
function inSpan(at: number, span: ProfileSpan | undefined): boolean {
  return span === undefined || (at >= span.fromUs && at <= span.toUs);
}

/**
 * Self time of every function of a profile, by `function@location`, us; idle left out; only samples
 * within `span` when given.
 */
export function selfMicrosByFunction(
  file: string,
  span?: ProfileSpan,
): {
  busyUs: number;
  functions: Map<string, { fn: string; location: string; us: number }>;
} {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, { fn: string; location: string; us: number }>();
  let all = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    // timeDeltas[i] is the time before sample i; charge it to that sample's node.
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (node === undefined || node.callFrame.functionName === '(idle)' || !inSpan(at, span)) continue;
    all += us;
    const frame = node.callFrame;
    const url = frame.url.startsWith('file://') ? relative(REPO_ROOT, new URL(frame.url).pathname) : frame.url;
    const location = url === '' ? '' : `${url}:${frame.lineNumber + 1}`;
    const fn = frame.functionName || '(anonymous)';
    const key = `${fn}@${location}`;
    const entry = totals.get(key) ?? { fn, location, us: 0 };
    entry.us += us;
    totals.set(key, entry);
  }
  return { busyUs: all, functions: totals };
}

/**
 * The `limit` functions with the most self time in a .cpuprofile, over the whole life of the process
 * (start-up included); idle time is left out, `(garbage collector)` and `(program)` stay in.
 */
export function topSelfTime(file: string, limit = 15): SelfTimeEntry[] {
  const { busyUs: all, functions } = selfMicrosByFunction(file);
  return [...functions.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({
      function: e.fn,
      location: e.location,
      selfMs: e.us / 1000,
      percent: all > 0 ? (100 * e.us) / all : 0,
    }));
}

/** The busy time of one area of a profile (a package, a service, a Node.js internal module, GC). */
export interface AreaTimeEntry {
  /** `packages/tunnel`, `services/worker`, `undici`, `@opentelemetry/sdk-trace`, `node:http2`, `(garbage collector)`, ... */
  area: string;
  /** Self time spent in the area's own functions, percent of busy time. */
  selfPercent: number;
  /**
   * Time charged to the area as the nearest JavaScript file on the stack (what it does itself plus the
   * Node.js internals and native code it calls), percent of busy time; `(program)` and GC stay apart.
   */
  attributedPercent: number;
}

/** The area of a frame: package or service of a file, Node.js internal module, or the pseudo-frame's name. */
function areaOf(frame: ProfileNode['callFrame']): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const pkg = url.match(/node_modules\/(@[^/]+\/[^/]+|[^/]+)/);
  if (pkg) return pkg[1];
  const own = url.match(/(packages|services|bench)\/[^/]+/);
  if (own) return own[0];
  const internal = url.match(/^node:(?:internal\/)?([^/]+)/);
  if (internal) return `node:${internal[1]}`;
  return url;
}

/** Busy time of each area of a profile, microseconds: its own (self) and charged to it (attributed). */
export interface AreaMicros {
  /** Busy (non-idle) sampled time of the whole profile, us. */
  busyUs: number;
  /** Self time by area, us. */
  self: Map<string, number>;
  /** Attributed time by area (see {@link AreaTimeEntry.attributedPercent}), us. */
  attributed: Map<string, number>;
}

/**
 * Busy time (idle left out) of a .cpuprofile by area in microseconds, over the whole life of the process
 * (start-up included) or only `span`: for comparing two processes that did the same work (bench
 * telemetry-pair).
 */
export function busyMicrosByArea(file: string, span?: ProfileSpan): AreaMicros {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile & {
    nodes: (ProfileNode & { children?: number[] })[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const attributed = new Map<string, number>();
  let busy = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (node === undefined || node.callFrame.functionName === '(idle)' || !inSpan(at, span)) continue;
    busy += us;
    const area = areaOf(node.callFrame);
    self.set(area, (self.get(area) ?? 0) + us);
    let charged = area.startsWith('(') ? area : '(no JavaScript file on the stack)';
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = (byId.get(id) as ProfileNode).callFrame;
      if (frame.url.startsWith('file:')) {
        charged = areaOf(frame);
        break;
      }
    }
    attributed.set(charged, (attributed.get(charged) ?? 0) + us);
  }
  return { busyUs: busy, self, attributed };
}

/**
 * Busy time (idle left out) of a .cpuprofile by area, over the whole life of the process (start-up
 * included), the `limit` areas with the most self or attributed time first: where the CPU goes once no
 * single function stands out (a flat profile).
 */
export function busyTimeByArea(file: string, limit = 15): AreaTimeEntry[] {
  const { busyUs: busy, self, attributed } = busyMicrosByArea(file);
  const pct = (us: number | undefined) => (busy > 0 ? (100 * (us ?? 0)) / busy : 0);
  return [...new Set([...self.keys(), ...attributed.keys()])]
    .map((area) => ({ area, selfPercent: pct(self.get(area)), attributedPercent: pct(attributed.get(area)) }))
    .sort((a, b) => Math.max(b.attributedPercent, b.selfPercent) - Math.max(a.attributedPercent, a.selfPercent))
    .slice(0, limit);
}

/** One process's profile as a grpc or http run reports it. */
export interface ProfileReport {
  process: string;
  file: string;
  top: SelfTimeEntry[];
  areas: AreaTimeEntry[];
}

/** The {@link ProfileReport} of `process`'s .cpuprofile `file`. */
export function profileReport(process: string, file: string): ProfileReport {
  return { process, file, top: topSelfTime(file), areas: busyTimeByArea(file) };
}

/** Markdown sections of `reports`: the top 15 functions by self time, then the busy time by area. */
export function renderProfileReports(reports: readonly ProfileReport[]): string[] {
  const pct = (v: number) => v.toFixed(1);
  const out: string[] = [];
  for (const p of reports) {
    out.push(
      '',
      `### CPU profile, ${p.process} (top 15 self time): ${p.file}`,
      '',
      markdownTable(
        ['self ms', '%', 'function', 'location'],
        p.top.map((e) => [e.selfMs.toFixed(1), pct(e.percent), e.function, e.location]),
      ),
      '',
      `### CPU profile, ${p.process}: busy time by area (self: in the area's own functions; attributed: to the nearest JavaScript file on the stack, with the Node.js internals and native code it calls)`,
      '',
      markdownTable(
        ['area', 'self %', 'attributed %'],
        (p.areas ?? []).map((a) => [a.area, pct(a.selfPercent), pct(a.attributedPercent)]),
      ),
    );
  }
  return out;
}
