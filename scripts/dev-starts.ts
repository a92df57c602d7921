// Dependable start-up (issue 11, item 5): starts `switchyard dev` (one region, or `--regions a,b,c`)
// --times times in a row, each in a fresh state directory on free ports, the way a developer would:
// waits for its "ready" line, then stops it the way a supervisor does (SIGTERM to that process alone,
// not its group) and checks that every child listed in dev.json is gone. Prints one line per start
// and a summary; exit code 1 when any start or stop failed.
//
//   node_modules/node/bin/node scripts/dev-starts.ts [--times 20] [--regions us-east,eu-west,ap-south]

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    times: { type: 'string', default: '20' },
    regions: { type: 'string' },
    'ready-timeout-s': { type: 'string', default: '180' },
  },
});
const times = Number(values.times);
const readyTimeoutMs = Number(values['ready-timeout-s']) * 1000;
const root = join(import.meta.dirname, '..');
const cli = join(root, 'services/cli/src/main.ts');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One start and stop; resolves with its timings or the reason it failed. */
async function once(): Promise<{ ok: boolean; readyS: number; stopS: number; detail: string }> {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-dev-starts-'));
  const ports = ['--grpc-port', '--callback-port', '--api-port', '--http-port', '--http-callback-port'].flatMap((f) => [
    f,
    '0',
  ]);
  const args = [
    cli,
    'dev',
    '--state-dir',
    stateDir,
    ...ports,
    ...(values.regions ? ['--regions', values.regions] : []),
  ];
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let ok = false;
  try {
    const ready = await Promise.race([
      (async () => {
        while (!/ (is|are) ready \(/.test(output)) await sleep(100);
        return true;
      })(),
      exited.then(() => false),
      sleep(readyTimeoutMs).then(() => false),
    ]);
    const readyS = (Date.now() - started) / 1000;
    if (!ready) {
      child.kill('SIGKILL');
      return { ok: false, readyS, stopS: 0, detail: `not ready: ${output.trim().split('\n').slice(-8).join(' | ')}` };
    }
    const pids = Object.values(
      (JSON.parse(readFileSync(join(stateDir, 'dev.json'), 'utf8')) as { pids: Record<string, number> }).pids,
    );
    const stopping = Date.now();
    child.kill('SIGTERM'); // that process alone, as a supervisor does
    const code = await Promise.race([exited, sleep(60_000).then(() => 'timeout' as const)]);
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(100);
    const left = pids.filter(alive);
    const stopS = (Date.now() - stopping) / 1000;
    for (const pid of left) process.kill(pid, 'SIGKILL');
    if (code !== 0 || left.length > 0) {
      const last = output.trim().split('\n').slice(-6).join(' | ');
      return {
        ok: false,
        readyS,
        stopS,
        detail: `stop: exit ${code}, ${left.length} child(ren) left running: ${last}`,
      };
    }
    ok = true;
    return { ok: true, readyS, stopS, detail: '' };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    // A failed start keeps its logs for a look; a clean one leaves nothing behind.
    if (ok) rmSync(stateDir, { recursive: true, force: true });
    else console.log(`  (logs kept in ${join(stateDir, 'logs')})`);
  }
}

const results = [];
for (let i = 1; i <= times; i++) {
  const r = await once();
  results.push(r);
  console.log(
    `start ${String(i).padStart(2)}: ${r.ok ? 'ok    ' : 'FAILED'} ready in ${r.readyS.toFixed(1)} s, stopped in ${r.stopS.toFixed(1)} s ${r.detail}`,
  );
}
const ok = results.filter((r) => r.ok);
const readies = ok.map((r) => r.readyS).sort((a, b) => a - b);
console.log(
  `\n${ok.length} of ${times} starts of switchyard dev${values.regions ? ` --regions ${values.regions}` : ''} were ready and stopped cleanly` +
    (readies.length > 0
      ? `; ready in ${readies[0].toFixed(1)}..${readies.at(-1)?.toFixed(1)} s (median ${readies[Math.floor(readies.length / 2)].toFixed(1)} s)`
      : ''),
);
process.exit(ok.length === times ? 0 : 1);
