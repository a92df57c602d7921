// `npm start` stopped the way a supervisor stops it: one signal to one process (npm's, or the
// bootstrap's), not to the process group. Every process of the dev stack must go away (issue 11:
// npm's SIGTERM used to leave the bootstrap, scripts/dev.ts and every service running).

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const stateRoot = mkdtempSync(join(tmpdir(), 'switchyard-npm-start-'));
const started = new Set<ChildProcess>();

after(() => {
  for (const child of started) child.kill('SIGKILL');
  rmSync(stateRoot, { recursive: true, force: true });
});

/** Every descendant of `pid` (from /proc), depth first. */
function descendants(pid: number): number[] {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  } catch {
    return [];
  }
  const children = text === '' ? [] : text.split(/\s+/).map(Number);
  return children.flatMap((c) => [c, ...descendants(c)]);
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Starts `npm start` on free ports and resolves once the dev stack says it is ready. */
async function startNpm(name: string): Promise<{ npm: ChildProcess; tree: number[] }> {
  const args = ['start', '--', '--state-dir', join(stateRoot, name)];
  for (const flag of ['--grpc-port', '--callback-port', '--api-port', '--http-port', '--http-callback-port'])
    args.push(flag, '0');
  const npm = spawn('npm', args, {
    cwd: REPO,
    env: { ...process.env, SWITCHYARD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(npm);
  let out = '';
  let err = '';
  npm.stderr?.on('data', (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not ready in 120 s:\n${err}`)), 120_000);
    npm.stdout?.on('data', (d) => {
      out += d;
      if (/is ready \(/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    npm.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited ${code} before ready:\n${err}`));
    });
  });
  return { npm, tree: descendants(npm.pid as number) };
}

/** Resolves once none of `pids` is alive; rejects after `timeoutMs` naming the survivors. */
async function allGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(
      (p) => existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z '),
    );
    if (alive.length === 0) return;
    if (Date.now() > deadline)
      throw new Error(
        `still running ${timeoutMs} ms after the signal:\n${alive.map((p) => `${p} ${commandOf(p)}`).join('\n')}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

for (const [target, signal] of [
  ['npm', 'SIGTERM'],
  ['npm', 'SIGINT'],
  ['bootstrap', 'SIGINT'],
] as const) {
  test(`${signal} to the ${target} process alone stops every process of the dev stack`, {
    timeout: 180_000,
  }, async () => {
    const { npm, tree } = await startNpm(`${target}-${signal}`);
    const services = tree.filter((p) => /services\/[a-z-]+\/src\/main\.ts/.test(commandOf(p)));
    assert.ok(services.length >= 4, `the dev stack's services run under npm: ${tree.map(commandOf).join('\n')}`);
    const pid =
      target === 'npm' ? (npm.pid as number) : tree.find((p) => commandOf(p).includes('scripts/bootstrap.mjs'));
    assert.ok(pid, 'the bootstrap process is found');
    process.kill(pid, signal);
    await allGone([npm.pid as number, ...tree], 30_000);
  });
}
