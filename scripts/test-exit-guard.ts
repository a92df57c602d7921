// Loaded into every test file's process by `npm test` (scripts/test-runs.ts, `--import`). A file whose
// tests are done but which left a handle open (a timer, a socket) would keep its process, and so the
// whole run, waiting forever. node:test's own `forceExit` ends such a process, but it exits before the
// file's report is flushed to the runner, so the ends of some files' reports were lost (seen: 264 of
// 300 tests reported). This guard instead waits for the file's `after` hooks, then gives the process
// SWITCHYARD_TEST_LINGER_MS to end by itself; only a process still alive then is ended, its report
// long written, and its file is appended to SWITCHYARD_TEST_LINGER_LOG so the run can name it.
import { appendFileSync } from 'node:fs';
import { after } from 'node:test';

/** Time (ms) a test file's process may stay alive after its root `after` hooks begin. */
const lingerMs = Number(process.env.SWITCHYARD_TEST_LINGER_MS ?? '20000') || 20_000;

after(() => {
  setTimeout(() => {
    const log = process.env.SWITCHYARD_TEST_LINGER_LOG;
    if (log) appendFileSync(log, `${process.argv[1] ?? 'unknown file'}\n`);
    // process.exitCode (set by node:test when a test failed) is kept.
    process.exit();
  }, lingerMs).unref();
});
