// Two CPU profiles of processes that did the same work at the same time (bench telemetry-pair: the
// same service in stack A and stack B), compared in microseconds of CPU per call: where B spends more
// than A, by area (package, Node.js module, GC) and by function.

import { busyMicrosByArea, type ProfileSpan, selfMicrosByFunction } from './cpu-profile.ts';
import { fmt, markdownTable } from './report.ts';

/** One side of a comparison: a .cpuprofile and the calls its process served in `span`. */
export interface ProfileSide {
  file: string;
  calls: number;
}

function rows<K>(
  keys: Iterable<K>,
  a: (k: K) => number,
  b: (k: K) => number,
  label: (k: K) => string[],
  callsA: number,
  callsB: number,
  limit: number,
): string[][] {
  return [...keys]
    .map((k) => ({ k, ua: a(k) / callsA, ub: b(k) / callsB }))
    .sort((x, y) => Math.abs(y.ub - y.ua) - Math.abs(x.ub - x.ua))
    .slice(0, limit)
    .map(({ k, ua, ub }) => [...label(k), fmt(ua, 2), fmt(ub, 2), fmt(ub - ua, 2)]);
}

/** Areas of Switchyard's telemetry: its own package and the OpenTelemetry packages it drives. */
export function isTelemetryArea(area: string): boolean {
  return area === 'packages/telemetry' || area.startsWith('@opentelemetry/');
}

/** Attributed time of the telemetry areas ({@link isTelemetryArea}), us. */
function telemetryMicros(attributed: ReadonlyMap<string, number>): number {
  let us = 0;
  for (const [area, t] of attributed) if (isTelemetryArea(area)) us += t;
  return us;
}

/** `x us/call (p% of busy)` of the telemetry areas of one profile. */
function telemetryLine(areas: { busyUs: number; attributed: ReadonlyMap<string, number> }, calls: number): string {
  const us = telemetryMicros(areas.attributed);
  return `${fmt(us / calls, 2)} us/call (${fmt(areas.busyUs > 0 ? (100 * us) / areas.busyUs : Number.NaN, 1)}% of busy)`;
}

/**
 * Markdown of `process` in A and B over `span` (the measured windows): busy us per call, then the `limit` areas (attributed time) and
 * functions (self time) whose us per call differ most between B and A.
 */
export function renderProfileDiff(
  process: string,
  a: ProfileSide,
  b: ProfileSide,
  span: ProfileSpan,
  limit = 12,
): string {
  const areasA = busyMicrosByArea(a.file, span);
  const areasB = busyMicrosByArea(b.file, span);
  const fnA = selfMicrosByFunction(a.file, span).functions;
  const fnB = selfMicrosByFunction(b.file, span).functions;
  const areaKeys = new Set([...areasA.attributed.keys(), ...areasB.attributed.keys()]);
  const fnKeys = new Set([...fnA.keys(), ...fnB.keys()]);
  const label = (key: string) => {
    const e = fnB.get(key) ?? fnA.get(key);
    return [e?.fn ?? key, e?.location ?? ''];
  };
  return [
    `#### ${process}: busy ${fmt(areasA.busyUs / a.calls, 1)} us/call in A, ${fmt(areasB.busyUs / b.calls, 1)} in B ` +
      `(samples of the measured windows only; ${a.calls} and ${b.calls} calls)`,
    '',
    `Telemetry code (packages/telemetry, @opentelemetry/*), attributed: ${telemetryLine(areasA, a.calls)} in A, ` +
      `${telemetryLine(areasB, b.calls)} in B.`,
    '',
    markdownTable(
      ['area (attributed)', 'A us/call', 'B us/call', 'B - A'],
      rows(
        areaKeys,
        (k) => areasA.attributed.get(k) ?? 0,
        (k) => areasB.attributed.get(k) ?? 0,
        (k) => [k],
        a.calls,
        b.calls,
        limit,
      ),
    ),
    '',
    markdownTable(
      ['function (self)', 'location', 'A us/call', 'B us/call', 'B - A'],
      rows(
        fnKeys,
        (k) => fnA.get(k)?.us ?? 0,
        (k) => fnB.get(k)?.us ?? 0,
        label,
        a.calls,
        b.calls,
        limit,
      ),
    ),
  ].join('\n');
}
