// `npm test`: typecheck (tsc -b), lint (biome), then every test file with node:test against real
// nats-server and redis-server processes started by @switchyard/testkit. Arguments narrow the run:
// `npm test -- services/grpc-proxy` runs only the test files under that folder.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';
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
step(`tests (${files.length} files)`, process.execPath, [
  '--test',
  `--test-concurrency=${process.env.SWITCHYARD_TEST_CONCURRENCY ?? '2'}`,
  '--test-timeout=180000',
  ...files,
]);
