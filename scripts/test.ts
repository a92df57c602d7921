// `npm test`: typecheck (tsc -b), lint (biome), then every test file with node:test against real
// nats-server and redis-server processes started by @switchyard/testkit. Arguments narrow the run:
// `npm test -- services/grpc-proxy` runs only the test files under that folder.
import { spawnSync } from 'node:child_process';
import { existsSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

const files = globSync(['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'], {
  cwd: root,
})
  .filter((f) => filters.length === 0 || filters.some((x) => f.startsWith(x) || f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
// A failed test gets one more attempt (node:test --test-rerun-failures reruns only what failed, with
// its file's hooks). A test that passes only then is printed as FLAKY, so it is seen and fixed, while
// a real fault fails both attempts and fails the run. SWITCHYARD_TEST_ATTEMPTS=1 turns this off.
const attempts = Math.max(1, Number(process.env.SWITCHYARD_TEST_ATTEMPTS ?? '2') || 1);
const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-test-'));
const statePath = join(stateDir, 'rerun-state.json');
const testArgs = [
  '--test',
  `--test-concurrency=${process.env.SWITCHYARD_TEST_CONCURRENCY ?? '2'}`,
  '--test-timeout=180000',
  // A file whose tests are done exits even if a handle leaked (a leak must not hang CI).
  '--test-force-exit',
  `--test-rerun-failures=${statePath}`,
  ...files,
];
let status = 1;
for (let attempt = 1; attempt <= attempts; attempt++) {
  const title = attempt === 1 ? `tests (${files.length} files)` : `tests: attempt ${attempt}, only what failed`;
  console.error(`\n== ${title}`);
  status = spawnSync(process.execPath, testArgs, { stdio: 'inherit', cwd: root }).status ?? 1;
  if (status === 0) break;
  if (attempt < attempts) console.error(`== ${title} failed (exit ${status}); running the failed tests again`);
}
const flaky = flakyTests(statePath);
if (flaky.length > 0) {
  console.error(`\n== FLAKY: ${flaky.length} test(s) failed, then passed on a later attempt:`);
  for (const name of flaky) console.error(`   FLAKY ${name}`);
}
rmSync(stateDir, { recursive: true, force: true });
if (status !== 0) {
  console.error(`== tests failed (exit ${status})`);
  process.exit(status);
}

/** Leaf tests in node's rerun state file that passed on an attempt after the first, as `name (file:line)`. */
function flakyTests(path: string): string[] {
  if (!existsSync(path)) return [];
  type Entry = { name: string; children: unknown[]; passed_on_attempt?: number };
  const runs = JSON.parse(readFileSync(path, 'utf8')) as Record<string, Entry>[];
  const last = runs.at(-1) ?? {};
  return Object.entries(last)
    .filter(([, e]) => (e.passed_on_attempt ?? 0) > 0 && e.children.length === 0)
    .map(([where, e]) => `${e.name} (${where})`);
}
