// `npm test`: typecheck (tsc -b), lint (biome), then every test file with node:test against real
// nats-server and redis-server processes started by @switchyard/testkit. Arguments narrow the run
// (scripts/test-runs.ts `matchesFilter`): `npm test -- services/grpc-proxy` runs the test files under
// that folder, `test/` the top-level ones only, `tunnel-liveness` the files whose name contains it.
import { spawnSync } from 'node:child_process';
import { globSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flakyTests, lingeringFiles, runTestAttempts, selectTestFiles } from './test-runs.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => join(root, 'node_modules/.bin', name);

function step(title: string, cmd: string, args: string[]): void {
  console.error(`\n== ${title}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`== ${title} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

const filters = process.argv.slice(2);
step('typecheck (tsc -b)', bin('tsc'), ['-b']);
step('lint (biome check)', bin('biome'), ['check', '.']);

const files = selectTestFiles(
  globSync(['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'], { cwd: root }),
  filters,
);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// A failed test gets one more attempt (only what failed runs again). A test that passes only then is
// printed as FLAKY, so it is seen and fixed, while a real fault fails both attempts and fails the
// run. SWITCHYARD_TEST_ATTEMPTS=1 turns this off.
const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
const statePath = join(stateDir, 'rerun-state.json');
const lingerLog = join(stateDir, 'lingered.log');
process.env.SWITCHYARD_TEST_LINGER_LOG = lingerLog;
const passed = await runTestAttempts({
  files,
  root,
  attempts: Math.max(1, Number(process.env.SWITCHYARD_TEST_ATTEMPTS ?? '2') || 1),
  concurrency: Math.max(1, Number(process.env.SWITCHYARD_TEST_CONCURRENCY ?? '2') || 1),
  timeoutMs: 180_000,
  statePath,
  write: (chunk) => process.stdout.write(chunk),
  onAttempt: (i) =>
    console.error(i === 1 ? `\n== tests (${files.length} files)` : `\n== tests: attempt ${i}, only what failed`),
});
const flaky = flakyTests(statePath);
if (flaky.length > 0) {
  console.error(`\n== FLAKY: ${flaky.length} test(s) failed, then passed on a later attempt:`);
  for (const name of flaky) console.error(`   FLAKY ${name}`);
}
const lingered = lingeringFiles(lingerLog, root);
if (lingered.length > 0) {
  console.error(`\n== LINGERED: ${lingered.length} file(s) left a handle open after their tests (ended by the guard):`);
  for (const file of lingered) console.error(`   LINGERED ${file}`);
}
rmSync(stateDir, { recursive: true, force: true });
if (!passed) {
  console.error('== tests failed');
  process.exit(1);
}
