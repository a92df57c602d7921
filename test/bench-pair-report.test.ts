// The report of `bench telemetry-pair` (bench/lib/pair-report.ts) and its command line: ratios of the
// totals, the summary over `--runs`, the median it takes, and which profile areas count as telemetry.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PairPathResult, PairWindow } from '../bench/lib/pair-report.ts';
import { ratioOfTotals, renderPairPath, renderPairRuns } from '../bench/lib/pair-report.ts';
import { isTelemetryArea } from '../bench/lib/profile-diff.ts';
import { median } from '../bench/lib/report.ts';
import { parseTelemetryPairArgs } from '../bench/telemetry-pair.ts';

/** A window where A spends `a` us per call on the front end and B `b`, the workers 100 each. */
function win(a: number, b: number, calls = 1000): PairWindow {
  const side = (fe: number) => ({
    calls,
    rps: calls / 10,
    usPerCall: { 'front end': fe, worker: 100, sum: fe + 100 },
    threadUsPerCall: { 'front end': { main: fe, v8: 0, other: 0 }, worker: { main: 100, v8: 0, other: 0 } },
  });
  return { a: side(a), b: side(b) };
}

const config = { modes: ['none', 'traces'] as const, bEnv: {}, rate: 300, runs: 3 };

describe('bench telemetry-pair report', () => {
  test('median takes the middle of an odd count and the mean of the two middles of an even one', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  test('ratioOfTotals weights each window by its calls', () => {
    // B/A: (110*1000 + 300*3000) / 4000 over (100*1000 + 100*3000) / 4000 = 1010/400.
    const windows = [win(100, 110, 1000), win(100, 300, 3000)];
    assert.equal(ratioOfTotals(windows, 'front end'), (110 * 1000 + 300 * 3000) / (100 * 1000 + 100 * 3000));
    assert.equal(ratioOfTotals(windows, 'worker'), 1);
    assert.ok(Number.isNaN(ratioOfTotals([], 'sum')));
  });

  test('renderPairRuns lists each measured run and the median, leaving out failed ones', () => {
    const runs: PairPathResult[] = [
      { path: 'http', run: 1, windows: [win(100, 105)] },
      { path: 'http', run: 2, windows: [], error: 'wrk errors' },
      { path: 'http', run: 3, windows: [win(100, 120)] },
      { path: 'http', run: 4, windows: [win(100, 110)] },
    ];
    const text = renderPairRuns('http', runs);
    const lines = text.split('\n');
    assert.match(text, /^### http: B\/A of the totals by run/);
    assert.ok(lines.some((l) => /^\| 1 +\| 1\.050 +\|/.test(l)));
    assert.ok(!lines.some((l) => /^\| 2 /.test(l)));
    // Front end median of 1.05, 1.20, 1.10; sum median of 205/200, 220/200, 210/200.
    assert.ok(
      lines.some((l) => /^\| median of 3 \| 1\.100 +\| 1\.000 +\| 1\.050 +\|/.test(l)),
      text,
    );
  });

  test('renderPairPath names the run when there are several', () => {
    const text = renderPairPath({ path: 'grpc', run: 2, windows: [win(100, 110)] }, config);
    assert.match(text, /^### grpc: none \(A\) and traces \(B\) at the same time, 300\/s each \(run 2 of 3\)/);
    const single = renderPairPath({ path: 'grpc', run: 1, windows: [win(100, 110)] }, { ...config, runs: 1 });
    assert.doesNotMatch(single, /run 1/);
  });

  test('the telemetry areas of a profile are packages/telemetry and @opentelemetry/*', () => {
    assert.ok(isTelemetryArea('packages/telemetry'));
    assert.ok(isTelemetryArea('@opentelemetry/sdk-trace'));
    assert.ok(!isTelemetryArea('packages/tunnel'));
    assert.ok(!isTelemetryArea('(garbage collector)'));
  });
});

describe('bench telemetry-pair command line', () => {
  test('defaults to one run after a 60 s warm-up', () => {
    const parsed = parseTelemetryPairArgs([]);
    assert.equal(parsed?.runs, 1);
    assert.equal(parsed?.warmupS, 60);
  });

  test('takes --runs and rejects a run count below one', () => {
    assert.equal(parseTelemetryPairArgs(['--runs', '5'])?.runs, 5);
    assert.throws(() => parseTelemetryPairArgs(['--runs', '0']), /--runs/);
  });
});
