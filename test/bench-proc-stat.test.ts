// The bench's CPU by thread group (bench/lib/proc-stat.ts): a Node child's JavaScript work is charged
// to its main thread, a worker thread's to `other`, and the groups add up to the process's CPU.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { cpuMicros, cpuMicrosByThreadGroup } from '../bench/lib/proc-stat.ts';

/**
 * Spins the main thread, then a worker thread, ~400 ms each, printing `main` and `worker` when each is
 * done. The worker thread stays alive after its spin: a thread that has exited is gone from
 * /proc/<pid>/task (its time is only in the process's total), so reading it then would find nothing.
 */
const SCRIPT = `
  const { Worker } = require('node:worker_threads');
  const spin = (ms) => { const end = Date.now() + ms; while (Date.now() < end); };
  spin(400);
  console.log('main');
  new Worker("const end = Date.now() + 400; while (Date.now() < end); require('node:worker_threads').parentPort.postMessage(1); setTimeout(() => {}, 60000)", { eval: true })
    .once('message', () => { console.log('worker'); setTimeout(() => {}, 60000); });`;

test('cpuMicrosByThreadGroup charges JavaScript to the main thread and a worker thread to other', async () => {
  const child = spawn(process.execPath, ['-e', SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const lines: string[] = [];
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
    const pid = child.pid as number;
    const waitFor = async (line: string) => {
      while (!lines.includes(line)) await once(child.stdout, 'data');
    };
    await waitFor('main');
    const afterMain = cpuMicrosByThreadGroup(pid);
    assert.ok(afterMain.main >= 300_000, `main thread ${afterMain.main} us after a 400 ms spin`);
    await waitFor('worker');
    const afterWorker = cpuMicrosByThreadGroup(pid);
    assert.ok(afterWorker.other - afterMain.other >= 300_000, `worker thread: ${JSON.stringify(afterWorker)}`);
    assert.ok(afterWorker.main - afterMain.main < 200_000, 'the worker thread was not charged to main');
    const total = afterWorker.main + afterWorker.v8 + afterWorker.other;
    // The thread times add up to the process's (clock ticks: a few ms either way).
    assert.ok(Math.abs(total - cpuMicros(pid)) < 50_000, `groups ${total} us, process ${cpuMicros(pid)} us`);
  } finally {
    child.kill();
  }
  await once(child, 'exit');
  assert.deepEqual(cpuMicrosByThreadGroup(child.pid as number), { main: 0, v8: 0, other: 0 });
});
