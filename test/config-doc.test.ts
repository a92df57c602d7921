import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigDoc } from '../scripts/config-doc.ts';

test("docs/configuration.md should match the services' config schemas (run node scripts/config-doc.ts)", async () => {
  const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(doc, await renderConfigDoc());
});
