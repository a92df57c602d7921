// ProcessReadiness (the primary's poll of its children's /readyz) against real HTTP servers standing in
// for children 1..3: one ready, one answering 503 with reasons, one that accepts and never answers; the
// reports child 0 is sent name each child that is not ready, and a lifecycle event (exit) wins over a
// poll answer that arrives after it.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ProcessesReportMessage, ProcessReadiness } from '../src/index.ts';

/** Polls `check` every 20 ms until true; fails after 10 s naming `what`. */
async function waitFor(check: () => boolean, { what }: { what: string }): Promise<void> {
  for (let waited = 0; !check(); waited += 20) {
    if (waited > 10_000) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const servers: Server[] = [];
after(() => {
  for (const s of servers) s.closeAllConnections();
  return Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A stand-in child serving `/readyz` with `answer` (undefined: accept and never answer); its metrics URL. */
async function child(answer: (() => { status: number; body: unknown }) | undefined): Promise<string> {
  const server = createServer((req, res) => {
    if (answer === undefined) return; // a stopped process: the connection is accepted, nothing comes back
    assert.equal(req.url, '/readyz');
    const { status, body } = answer();
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`;
}

test('should report each child that is not ready or not answering, and an empty list once all are ready', async () => {
  let secondReady = false;
  const urls = [
    await child(() => ({ status: 200, body: { ready: true } })),
    await child(() =>
      secondReady
        ? { status: 200, body: { ready: true, reasons: [] } }
        : { status: 503, body: { ready: false, reasons: [{ check: 'nats', message: 'nats: not connected' }] } },
    ),
    await child(undefined),
  ];
  const sent: ProcessesReportMessage[] = [];
  const readiness = new ProcessReadiness({ count: 4, send: (m) => sent.push(m), intervalMs: 50, timeoutMs: 200 });
  const last = () => sent.at(-1)?.switchyardProcesses.notReady.map((p) => `${p.index}: ${p.message}`);
  try {
    for (let i = 0; i < 4; i++) readiness.forked(i, 100 + i);
    assert.deepEqual(last(), [
      '1: process 1 (pid 101) is starting',
      '2: process 2 (pid 102) is starting',
      '3: process 3 (pid 103) is starting',
    ]);
    readiness.ready(0, 100, 'http://127.0.0.1:1/metrics');
    for (let i = 1; i < 4; i++) readiness.ready(i, 100 + i, urls[i - 1]);
    assert.deepEqual(last(), [], 'ready lines alone: every child ready');
    readiness.start();
    await waitFor(() => last()?.length === 2, { what: 'two children reported' });
    assert.deepEqual(last(), [
      '2: process 2 (pid 102) is not ready: nats: not connected',
      '3: process 3 (pid 103) is not answering /readyz within 200 ms',
    ]);
    secondReady = true;
    await waitFor(() => last()?.length === 1, { what: 'child 2 ready again' });
    readiness.exited(3, null, 'SIGKILL', 500);
    assert.deepEqual(last(), ['3: process 3 (pid 103) exited (signal SIGKILL); restarting in 500 ms']);
    // The poll that was in flight when child 3 exited times out later: it must not replace the exit.
    await sleep(300);
    assert.deepEqual(last(), ['3: process 3 (pid 103) exited (signal SIGKILL); restarting in 500 ms']);
    readiness.forked(3, 203);
    readiness.ready(3, 203, urls[0]);
    assert.deepEqual(last(), []);
    // Child 0 (re)started is sent the report even when nothing changed.
    const before = sent.length;
    readiness.ready(0, 300, 'http://127.0.0.1:1/metrics');
    assert.equal(sent.length, before + 1);
    assert.deepEqual(last(), []);
  } finally {
    readiness.stop();
  }
});

test('should report a child unresponsive once after livenessTimeoutMs without any answer, never one that answers 503', async () => {
  const urls = [
    await child(() => ({
      status: 503,
      body: { ready: false, reasons: [{ check: 'nats', message: 'nats: not connected' }] },
    })),
    await child(undefined),
  ];
  const unresponsive: { index: number; pid: number; message: string }[] = [];
  const readiness = new ProcessReadiness({
    count: 3,
    send: () => {},
    intervalMs: 50,
    timeoutMs: 100,
    livenessTimeoutMs: 400,
    onUnresponsive: (index, pid, message) => unresponsive.push({ index, pid, message }),
  });
  try {
    for (let i = 0; i < 3; i++) readiness.forked(i, 200 + i);
    readiness.ready(0, 200, 'http://127.0.0.1:1/metrics');
    readiness.ready(1, 201, urls[0]);
    readiness.ready(2, 202, urls[1]);
    const started = Date.now();
    readiness.start();
    await waitFor(() => unresponsive.length > 0, { what: 'child 2 reported unresponsive' });
    assert.ok(Date.now() - started >= 400, 'not before livenessTimeoutMs');
    await sleep(600); // more polls: still reported once, and the 503 child never
    assert.equal(unresponsive.length, 1, JSON.stringify(unresponsive));
    assert.equal(unresponsive[0].index, 2);
    assert.equal(unresponsive[0].pid, 202);
    assert.match(unresponsive[0].message, /^process 2 \(pid 202\) is not answering \/readyz within 100 ms for \d+ ms$/);
    // Its replacement is watched afresh: it answers, so it is never reported.
    readiness.exited(2, null, 'SIGKILL', 500);
    readiness.forked(2, 302);
    readiness.ready(2, 302, urls[0]);
    await sleep(600);
    assert.equal(unresponsive.length, 1);
  } finally {
    readiness.stop();
  }
});
