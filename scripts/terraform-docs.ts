// Writes the inputs/outputs tables of every README under infra/terraform (between the
// BEGIN_TF_DOCS/END_TF_DOCS marks), or with --check exits 1 when one is out of date.
//   node scripts/terraform-docs.ts [--check]

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readTfDir, renderDocs, TERRAFORM_DIRS, withDocs } from './terraform-hcl.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'infra', 'terraform');
const check = process.argv.includes('--check');
let stale = 0;
for (const rel of TERRAFORM_DIRS) {
  const dir = join(root, rel);
  const readmePath = join(dir, 'README.md');
  const readme = existsSync(readmePath) ? readFileSync(readmePath, 'utf8') : `# ${rel}\n`;
  const next = withDocs(readme, renderDocs(await readTfDir(dir)));
  if (next === readme) continue;
  stale++;
  if (check) console.error(`${rel}/README.md is out of date: run node scripts/terraform-docs.ts`);
  else writeFileSync(readmePath, next);
}
if (check && stale > 0) process.exit(1);
