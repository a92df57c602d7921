// Preload (`node --import bench/lib/overhead-preload.ts <service entry>`) of the front end under test
// in `npm run bench -- overhead` (bench/overhead.ts). Two switches, both from the environment:
//   SWITCHYARD_OVERHEAD_CALLGRIND_OUT=<file>  re-run this same command under
//     `valgrind --tool=callgrind --callgrind-out-file=<file>` and stay as a thin parent that forwards
//     SIGTERM/SIGINT and exits with the child's code (the launcher keeps this parent's pid; the
//     valgrind pid, for `callgrind_control`, is written to `<file>.pid`).
//   SWITCHYARD_OVERHEAD_NOOP_METRICS=1  resolve `@switchyard/telemetry` to bench/lib/noop-telemetry.ts,
//     which builds FrontEndMetrics and the tunnel/dependency recorders on a no-op meter: configuration
//     (a) of the overhead bench, without a product switch.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const UNDER_VALGRIND = 'SWITCHYARD_OVERHEAD_UNDER_VALGRIND';
const outFile = process.env.SWITCHYARD_OVERHEAD_CALLGRIND_OUT;

if (outFile && process.env[UNDER_VALGRIND] !== '1') {
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${outFile}`,
      '--dump-instr=no',
      '--dump-line=no',
      process.execPath,
      ...process.execArgv,
      ...process.argv.slice(1),
    ],
    { stdio: 'inherit', env: { ...process.env, [UNDER_VALGRIND]: '1' } },
  );
  if (child.pid !== undefined) writeFileSync(`${outFile}.pid`, String(child.pid));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  child.once('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  // Hold the service entry back for good: only the child under valgrind runs it.
  await new Promise(() => {});
}

if (outFile && process.env[UNDER_VALGRIND] === '1') {
  // The thin parent may be SIGKILLed (the launcher's last resort): do not outlive it.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 2_000).unref();
}

if (process.env.SWITCHYARD_OVERHEAD_NOOP_METRICS === '1') {
  const shim = new URL('./noop-telemetry.ts', import.meta.url).href;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === '@switchyard/telemetry' && context.parentURL !== shim) return { url: shim, shortCircuit: true };
      return nextResolve(specifier, context);
    },
  });
}
