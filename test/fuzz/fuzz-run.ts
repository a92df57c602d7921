// The black-box fuzz loop shared by `npm test` (test/fuzz-region.test.ts, a few thousand cases) and
// `scripts/fuzz.ts --cases N [--seed S]`: case i is generated from (S, i) alone, so any case is
// reproduced from the seed and its index, whatever ran before it. Cases run on parallel lanes;
// every `checkEvery` cases and at the end the region is checked (PIDs alive, valid calls succeed).

import { echoServiceDefinition } from '@switchyard/sample-functions';
import fc from 'fast-check';
import { type FuzzCase, fuzzCase } from './fuzz-cases.ts';
import { H2Pool, type Outcome, runCase } from './fuzz-exec.ts';
import { judge, knownApiGap, slowEchoCall } from './fuzz-oracle.ts';
import { FUZZ_MAX_HEADER_LIST_BYTES, type FuzzRegion } from './fuzz-region.ts';

/** Options of {@link runFuzz}. */
export interface FuzzRunOptions {
  seed: number;
  cases: number;
  /** First case index (to replay one case: `first: i, cases: 1`). @default 0 */
  first?: number;
  /** Cases in flight at once. @default 8 */
  lanes?: number;
  /** Check the region every this many cases. @default 500 */
  checkEvery?: number;
  /** Called after every `checkEvery` cases with the counts so far. */
  onProgress?: (done: number, report: FuzzReport) => void;
}

/** One case the oracle rejected. */
export interface FuzzFinding {
  index: number;
  problem: string;
  fuzzCase: FuzzCase;
  outcome: Outcome;
}

/** What a run did. */
export interface FuzzReport {
  seed: number;
  first: number;
  cases: number;
  durationMs: number;
  /** Cases per kind and outcome, e.g. `h2/response`. */
  counts: Record<string, number>;
  findings: FuzzFinding[];
  /** Problems of the region checks (dead process, failing valid call), with the case count then. */
  liveness: string[];
}

/** The fast-check seed of case `index` of a run: a 32-bit mix, so two runs' seeds never overlap. */
function caseSeed(seed: number, index: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x27d4eb2d) ^ Math.imul(index + 1, 0x165667b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

const ARBITRARY = fuzzCase(FUZZ_MAX_HEADER_LIST_BYTES, echoServiceDefinition().Unary.path);

/** Case `index` of the run with `seed` (depends on nothing else). */
export function caseAt(seed: number, index: number): FuzzCase {
  return fc.sample(ARBITRARY, { seed: caseSeed(seed, index), numRuns: 1 })[0];
}

/** Runs the cases against `region`; never throws for a finding (they are in the report). */
export async function runFuzz(region: FuzzRegion, options: FuzzRunOptions): Promise<FuzzReport> {
  const first = options.first ?? 0;
  const lanes = options.lanes ?? 8;
  const checkEvery = options.checkEvery ?? 500;
  const report: FuzzReport = {
    seed: options.seed,
    first,
    cases: 0,
    durationMs: 0,
    counts: {},
    findings: [],
    liveness: [],
  };
  const pool = new H2Pool(region);
  const started = Date.now();
  let next = first;
  const end = first + options.cases;
  let checking: Promise<void> = Promise.resolve();
  const check = (done: number) => {
    checking = checking.then(async () => {
      for (const p of await region.check()) report.liveness.push(`after ${done} cases: ${p}`);
      report.durationMs = Date.now() - started;
      options.onProgress?.(done, report);
    });
  };
  const lane = async (id: number) => {
    while (next < end) {
      const index = next++;
      const c = caseAt(options.seed, index);
      const outcome = await runCase(region, pool, id, c);
      const timeoutKind = knownApiGap(region, c)
        ? 'api-unbounded'
        : slowEchoCall(region, c)
          ? 'slow-function'
          : 'timeout';
      const key = `${c.kind}/${outcome.kind === 'timeout' ? timeoutKind : outcome.kind}`;
      report.counts[key] = (report.counts[key] ?? 0) + 1;
      const problem = judge(region, c, outcome);
      if (problem !== undefined) report.findings.push({ index, problem, fuzzCase: c, outcome });
      report.cases++;
      if (report.cases % checkEvery === 0) check(report.cases);
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, (_, i) => lane(i)));
  } finally {
    pool.close();
  }
  check(report.cases);
  await checking;
  report.durationMs = Date.now() - started;
  return report;
}

/** A finding as printed: seed, index (to replay), problem, the case and what came back. */
export function describeFinding(seed: number, f: FuzzFinding): string {
  const outcome = JSON.stringify(f.outcome, (_k, v) =>
    typeof v === 'string' && v.length > 300 ? `${v.slice(0, 300)}…` : v,
  );
  return `seed ${seed} case ${f.index}: ${f.problem}\n  case: ${JSON.stringify(f.fuzzCase)}\n  got: ${outcome}`;
}
