// Reads V8 .cpuprofile files (written by `node --cpu-prof`) and ranks functions by self time, so a
// missed CPU target can be reported with where the time went.

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { REPO_ROOT } from './child.ts';

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
 * The `limit` functions with the most self time in a .cpuprofile, over the whole life of the process
 * (start-up included); idle time is left out, `(garbage collector)` and `(program)` stay in.
 */
export function topSelfTime(file: string, limit = 15): SelfTimeEntry[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, { fn: string; location: string; us: number }>();
  let all = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i] as number);
    // timeDeltas[i] is the time before sample i; charge it to that sample's node.
    const us = profile.timeDeltas[i] ?? 0;
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
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
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map((e) => ({
      function: e.fn,
      location: e.location,
      selfMs: e.us / 1000,
      percent: all > 0 ? (100 * e.us) / all : 0,
    }));
}
