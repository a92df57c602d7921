// `npm test`'s own runs (scripts/test-runs.ts): a filter names a path prefix or a file name fragment,
// and a test that passes only on its second attempt is listed as FLAKY while a file that leaks a
// handle still ends. Real node:test runs over fixture files in a temp dir.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { lingeringFiles, matchesFilter, selectTestFiles } from '../scripts/test-runs.ts';

const runsModule = new URL('../scripts/test-runs.ts', import.meta.url).href;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('test file filters', () => {
  const files = [
    'packages/testkit/test/testkit.test.ts',
    'packages/tunnel/test/tunnel-liveness.test.ts',
    'services/grpc-proxy/test/smoke.test.ts',
    'test/e2e-regions-http.test.ts',
    'test/e2e-regions.test.ts',
    'test/house-rules.test.ts',
  ];

  test('should read a filter with a slash as a path prefix from the root: test/ is the top-level folder only', () => {
    assert.deepEqual(selectTestFiles(files, ['test/']), [
      'test/e2e-regions-http.test.ts',
      'test/e2e-regions.test.ts',
      'test/house-rules.test.ts',
    ]);
    assert.deepEqual(selectTestFiles(files, ['./services/grpc-proxy']), ['services/grpc-proxy/test/smoke.test.ts']);
    assert.deepEqual(selectTestFiles(files, ['test/e2e-regions']), [
      'test/e2e-regions-http.test.ts',
      'test/e2e-regions.test.ts',
    ]);
    assert.equal(matchesFilter('packages/testkit/test/testkit.test.ts', 'testkit/test/'), false);
  });

  test('should read a filter without a slash as a fragment of the file name', () => {
    assert.deepEqual(selectTestFiles(files, ['tunnel-liveness', 'smoke']), [
      'packages/tunnel/test/tunnel-liveness.test.ts',
      'services/grpc-proxy/test/smoke.test.ts',
    ]);
    assert.deepEqual(selectTestFiles(files, ['grpc-proxy']), [], 'a folder name is not a file name fragment');
    assert.deepEqual(selectTestFiles(files, []), [...files].sort());
  });
});

describe('attempts', () => {
  function fixture(sources: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-test-runs-'));
    dirs.push(dir);
    for (const [name, source] of Object.entries(sources)) writeFileSync(join(dir, name), source);
    return dir;
  }
  /**
   * Runs `runTestAttempts` in a child process (node:test's run() skips its files when called inside
   * a test file) and returns whether it passed, the attempts begun and the reporter's output.
   */
  async function attemptsOf(root: string, files: string[], attempts = 2) {
    const driver = join(root, 'driver.ts');
    writeFileSync(
      driver,
      `import { flakyTests, runTestAttempts } from ${JSON.stringify(runsModule)};
let output = '';
const attempts = [];
const passed = await runTestAttempts({
  files: ${JSON.stringify(files)}, root: ${JSON.stringify(root)}, attempts: ${attempts}, concurrency: 2, timeoutMs: 30_000,
  statePath: ${JSON.stringify(join(root, 'state.json'))},
  write: (chunk) => { output += chunk; }, onAttempt: (i) => attempts.push(i),
});
// Read at once, as scripts/test.ts does (it removes the state right after).
const flaky = flakyTests(${JSON.stringify(join(root, 'state.json'))});
console.log(JSON.stringify({ passed, attempts, output, flaky }));
`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SWITCHYARD_TEST_LINGER_MS: '2000',
      SWITCHYARD_TEST_LINGER_LOG: join(root, 'lingered.log'),
    };
    delete env.NODE_TEST_CONTEXT;
    const { stdout } = await promisify(execFile)(process.execPath, [driver], { env, timeout: 50_000 });
    return JSON.parse(stdout) as { passed: boolean; attempts: number[]; output: string; flaky: string[] };
  }
  const header = [
    "import { appendFileSync, existsSync, writeFileSync } from 'node:fs';",
    "import { describe, test } from 'node:test';",
    "const mark = (name) => appendFileSync(new URL('./runs.log', import.meta.url), name + '\\n');",
  ].join('\n');

  test('should list a test that passes only on its second attempt as FLAKY, and rerun only what failed', {
    timeout: 60_000,
  }, async () => {
    const root = fixture({
      'a.test.ts': `${header}
test('stable', () => mark('stable'));
describe('group', () => {
  test('fails once', () => {
    mark('fails once');
    const first = new URL('./first-done', import.meta.url);
    if (!existsSync(first)) { writeFileSync(first, ''); throw new Error('first attempt'); }
  });
});
`,
      // A handle left open must not keep the run waiting (scripts/test-exit-guard.ts ends this file).
      'leak.test.ts': `${header}\ntest('leaks a timer', () => { mark('leak'); setInterval(() => {}, 1_000); });\n`,
    });
    const started = Date.now();
    const { passed, attempts, output, flaky } = await attemptsOf(root, ['a.test.ts', 'leak.test.ts']);
    assert.equal(passed, true, output);
    assert.deepEqual(attempts, [1, 2]);
    assert.ok(Date.now() - started < 30_000, 'a leaked timer kept a file running');
    assert.deepEqual(flaky, ['fails once (a.test.ts:6:3)']);
    const runs = readFileSync(join(root, 'runs.log'), 'utf8').trim().split('\n').sort();
    assert.deepEqual(runs, ['fails once', 'fails once', 'leak', 'stable'], 'the second attempt ran only what failed');
    assert.deepEqual(lingeringFiles(join(root, 'lingered.log'), root), ['leak.test.ts']);
  });

  test('should report every test of every file, the end of a long report included', { timeout: 60_000 }, async () => {
    // With node:test's forceExit a file's process ended before its report was flushed: of three
    // 300-test files, one or more lost the end of its report in most runs.
    const cases = (file: string) =>
      Array.from(
        { length: 300 },
        (_, i) => `test('${file} case ${i} with a name long enough to fill the pipe', () => {});`,
      );
    const sources: Record<string, string> = {};
    for (const file of ['x.test.ts', 'y.test.ts', 'z.test.ts']) {
      sources[file] = `import { test } from 'node:test';\n${cases(file).join('\n')}\n`;
    }
    const root = fixture(sources);
    const { passed, output } = await attemptsOf(root, Object.keys(sources), 1);
    assert.equal(passed, true, output);
    for (const file of Object.keys(sources)) {
      const reported = output.split('\n').filter((line) => line.includes(`${file} case `)).length;
      assert.equal(reported, 300, `${file}: ${reported} of 300 tests reported`);
    }
    assert.deepEqual(lingeringFiles(join(root, 'lingered.log'), root), [], 'no file left a handle open');
  });

  test('should fail when a test fails on every attempt, and list nothing as FLAKY', { timeout: 60_000 }, async () => {
    const root = fixture({ 'b.test.ts': `${header}\ntest('always fails', () => { throw new Error('no'); });\n` });
    const { passed, attempts, flaky } = await attemptsOf(root, ['b.test.ts']);
    assert.equal(passed, false);
    assert.deepEqual(attempts, [1, 2]);
    assert.deepEqual(flaky, []);
  });
});
