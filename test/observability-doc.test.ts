import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderObservabilityDoc } from '../scripts/observability-doc.ts';

test('docs/observability.md should match the telemetry specs (run node scripts/observability-doc.ts)', () => {
  const doc = readFileSync(new URL('../docs/observability.md', import.meta.url), 'utf8');
  assert.equal(doc, renderObservabilityDoc());
});
