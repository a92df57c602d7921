// Entry of `npm start`, `npm test` and `npm run bench` on a fresh clone. Plain JavaScript so the
// system Node (possibly older than 24) can run it: it installs what is missing (npm dependencies,
// nats-server 2.10+, redis-server where apt can install it), then re-runs the real task on the
// Node 24 that the `node` devDependency provides.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [task, ...rest] = process.argv.slice(2);
const tasks = { dev: 'scripts/dev.ts', test: 'scripts/test.ts', bench: 'bench/run.ts' };
if (!tasks[task]) {
  console.error(`usage: node scripts/bootstrap.mjs ${Object.keys(tasks).join('|')} [args...]`);
  process.exit(2);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

// 1. npm dependencies (also after package-lock.json changed).
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules/.package-lock.json');
if (!existsSync(installed) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs + 1000)) {
  // `npm install` (not `npm ci`): it follows package-lock.json too, and tolerates a registry mirror
  // that lacks other platforms' optional binaries (biome, turbo), which `npm ci` refuses.
  console.error('switchyard: installing npm dependencies (npm install)...');
  if (run('npm', ['install', '--no-audit', '--no-fund']) !== 0) {
    console.error('switchyard: npm install failed; check network access to the npm registry.');
    process.exit(1);
  }
}

// 2. nats-server 2.10+ and redis-server (cached outside the clone); for `npm test` also Prometheus
// and Chromium, which only tests use.
const toolArgs = task === 'test' ? ['--test'] : [];
if (run('bash', [join(root, 'scripts/ensure-tools.sh'), ...toolArgs]) !== 0) process.exit(1);

// 3. The task, on Node 24, as a child that stops when this process is told to stop. A supervisor
// signals one process (npm's, or this one), not the group: SIGINT, SIGTERM and SIGHUP sent here are
// passed on, and when the parent (npm) goes away without passing its signal on (npm does not), the
// task gets SIGTERM too, so the dev stack drains and no service outlives `npm start`.
const node24 = join(root, 'node_modules/node/bin/node');
const node = existsSync(node24) ? node24 : process.execPath;
const child = spawn(node, [join(root, tasks[task]), ...rest], { stdio: 'inherit', cwd: root });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
const parent = process.ppid;
const parentWatch = setInterval(() => {
  if (process.ppid !== parent) {
    clearInterval(parentWatch);
    child.kill('SIGTERM');
  }
}, 250);
child.on('exit', (code, signal) => {
  clearInterval(parentWatch);
  process.exit(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
});
