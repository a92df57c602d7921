import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallWindow, isServerErrorOutcome } from '@switchyard/region-health';
import fc from 'fast-check';

test('should count calls and errors of the last minute and forget older slices', () => {
  let now = 1_000_000;
  const window = new CallWindow({ now: () => now });
  assert.deepEqual(window.summary(), { windowMs: 60_000, count: 0, errors: 0 });
  for (let i = 0; i < 10; i++) window.record(10, i < 2);
  now += 30_000;
  window.record(100, true);
  let s = window.summary();
  assert.equal(s.count, 11);
  assert.equal(s.errors, 3);
  now += 35_000; // the first ten are now more than a minute old
  s = window.summary();
  assert.equal(s.count, 1);
  assert.equal(s.errors, 1);
  now += 60_000;
  assert.deepEqual(window.summary(), { windowMs: 60_000, count: 0, errors: 0 });
});

test('should report p50 and p95 within 10% above the exact percentile', () => {
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0.02, max: 1_800_000, noNaN: true }), { minLength: 1, maxLength: 300 }),
      (ds) => {
        const window = new CallWindow({ now: () => 5_000 });
        for (const d of ds) window.record(d, false);
        const sorted = [...ds].sort((a, b) => a - b);
        const exact = (q: number) => sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1];
        const s = window.summary();
        for (const [got, want] of [
          [s.p50Ms, exact(0.5)],
          [s.p95Ms, exact(0.95)],
        ] as const) {
          assert.ok(got !== undefined && got >= want * 0.999 && got <= want * 1.101, `${got} vs ${want}`);
        }
      },
    ),
  );
});

test('should call only server-side outcomes errors', () => {
  for (const o of ['5xx', '2', '4', '13', '14', '15']) assert.equal(isServerErrorOutcome(o), true, o);
  for (const o of ['0', '1', '3', '5', '7', '8', '16', '2xx', '4xx', 'cancelled'])
    assert.equal(isServerErrorOutcome(o), false, o);
});
