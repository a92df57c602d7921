// Issue 12 item 3: SWITCHYARD_PROCESSES=2 on the gRPC proxy and the invocation service, every part a
// process (nats-server, the front ends as node:cluster primaries with two children each, an echo and
// an HTTP container, a worker per function). Fresh client connections are served by both children
// (each child's own metrics port counts its calls); pinned calls on one connection stay on one
// session; a resume by nvcf-reqid on connections the other child accepted reaches the session; a
// child killed with SIGKILL is replaced (and its replacement serves); process 0's /readyz fails its
// `processes` check naming a child that is stopped (SIGSTOP) or killed, and passes again once it
// answers (SIGCONT) or its replacement is ready; a child that gives no answer for the liveness timeout is
// killed and replaced; SIGTERM to a primary drains both children and exits 0.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type LaunchedChild, metricsUrls, scrapeTargets } from '@switchyard/region-launcher';
import { parseExposition, sampleValue, scrapeMetrics, waitFor } from '@switchyard/testkit';
import { request } from 'undici';
import { echoClient, unary } from '../services/worker/test/helpers.ts';
import { launchProcessRegion, type ProcessRegion } from './process-region.ts';

const REGION = 'procs';
/** SWITCHYARD_PROCESS_LIVENESS_TIMEOUT_MS of the gRPC proxy (the invocation service keeps the default, 30 s). */
const PROXY_LIVENESS_MS = 4_000;
let region: ProcessRegion;

before(async () => {
  region = await launchProcessRegion({
    region: REGION,
    redis: true,
    services: ['grpc-proxy', 'invocation'],
    serviceEnv: {
      'grpc-proxy': { SWITCHYARD_PROCESSES: '2', SWITCHYARD_PROCESS_LIVENESS_TIMEOUT_MS: String(PROXY_LIVENESS_MS) },
      invocation: { SWITCHYARD_PROCESSES: '2' },
    },
    functions: [
      { name: 'echo', kind: 'grpc', sample: 'echo' },
      { name: 'http', kind: 'http', sample: 'http', inferenceUrl: '/echo' },
    ],
    concurrency: 64,
  });
});

after(() => region?.stop());

interface ChildLine {
  index: number;
  pid: number;
  metrics: string;
}

const primary = (kind: 'grpc-proxy' | 'invocation') => region.launch.regions[REGION].services[kind] as LaunchedChild;
const children = (kind: 'grpc-proxy' | 'invocation') => primary(kind).readyLine?.children as ChildLine[];

/** Sum of `switchyard_calls_total` on one child's metrics port. */
async function callsOf(metricsUrl: string): Promise<number> {
  return sampleValue(await scrapeMetrics(metricsUrl), 'switchyard_calls_total') ?? 0;
}
const callsPerChild = (kind: 'grpc-proxy' | 'invocation') => Promise.all(children(kind).map((c) => callsOf(c.metrics)));

/** Child PIDs of `pid` (Linux /proc). */
const childPids = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

const md = () => ({ authorization: `Bearer ${region.apiKey}`, 'function-id': region.fns.echo.functionId });

/** One call on a fresh connection (its own client), closed after; resolves with nvcf-reqid. */
async function freshCall(extra: Record<string, string> = {}): Promise<string> {
  const client = echoClient(region.launch.regions[REGION].endpoints.grpc);
  try {
    return (await unary(client, {}, { ...md(), ...extra })).reqId;
  } finally {
    client.close();
  }
}

test('the ready line lists two children with their own PIDs, proxy IDs, callback and metrics ports', () => {
  for (const kind of ['grpc-proxy', 'invocation'] as const) {
    const line = primary(kind).readyLine as Record<string, unknown>;
    assert.equal(line.processes, 2);
    const kids = children(kind);
    assert.equal(kids.length, 2);
    assert.notEqual(kids[0].pid, kids[1].pid);
    assert.notEqual(kids[0].metrics, kids[1].metrics);
    assert.deepEqual(childPids(primary(kind).pid).sort(), kids.map((k) => k.pid).sort());
  }
  // dev.json's `metrics` lists every process (process i > 0 as `<service>/<i>`): one scrape target each.
  const metrics = metricsUrls({ 'grpc-proxy': primary('grpc-proxy'), invocation: primary('invocation') });
  assert.deepEqual(metrics, {
    'grpc-proxy': children('grpc-proxy')[0].metrics,
    'grpc-proxy/1': children('grpc-proxy')[1].metrics,
    invocation: children('invocation')[0].metrics,
    'invocation/1': children('invocation')[1].metrics,
  });
  assert.deepEqual(
    scrapeTargets({ [REGION]: metrics }).map((g) => [g.labels.switchyard_service, g.targets.length]),
    [
      ['grpc-proxy', 2],
      ['invocation', 2],
    ],
  );
  const proxies = children('grpc-proxy') as unknown as { proxyId: string; callbackPort: number }[];
  assert.notEqual(proxies[0].proxyId, proxies[1].proxyId);
  assert.notEqual(proxies[0].callbackPort, proxies[1].callbackPort);
});

test('gRPC: fresh connections are served by both processes; pinned calls on one connection stay on one session', async () => {
  for (let i = 0; i < 8; i++) await freshCall();
  const calls = await callsPerChild('grpc-proxy');
  assert.ok(
    calls.every((n) => n > 0),
    `calls per process: ${calls}`,
  );
  // Each process's series carry its own instance label (`<id>-<index>`): scraped side by side (the Helm
  // chart's ServiceMonitor has an endpoint per process), they add up instead of clashing.
  const instances = await Promise.all(
    children('grpc-proxy').map(async (c) => {
      const ids = new Set(
        parseExposition(await scrapeMetrics(c.metrics))
          .filter((s) => s.name === 'switchyard_calls_total')
          .map((s) => s.labels.service_instance_id),
      );
      assert.equal(ids.size, 1, `one service_instance_id on ${c.metrics}: ${[...ids]}`);
      return [...ids][0];
    }),
  );
  assert.match(instances[0] ?? '', /-0$/);
  assert.match(instances[1] ?? '', /-1$/);
  const client = echoClient(region.launch.regions[REGION].endpoints.grpc);
  try {
    const reqIds = new Set<string>();
    for (let i = 0; i < 6; i++) reqIds.add((await unary(client, {}, md())).reqId);
    assert.equal(reqIds.size, 1, 'one session for the connection');
  } finally {
    client.close();
  }
});

test('gRPC: a resume by nvcf-reqid on connections the other process accepted reaches the session', async () => {
  const client = echoClient(region.launch.regions[REGION].endpoints.grpc);
  try {
    const reqId = (await unary(client, {}, md())).reqId;
    const before = await callsPerChild('grpc-proxy');
    // Round-robin over two processes: of four fresh connections, some land on the other process.
    for (let i = 0; i < 4; i++) assert.equal(await freshCall({ 'nvcf-reqid': reqId }), reqId);
    const after = await callsPerChild('grpc-proxy');
    assert.ok(
      after.every((n, i) => n > before[i]),
      `resumes served by both processes: ${before} -> ${after}`,
    );
  } finally {
    client.close();
  }
});

test('HTTP: requests on fresh connections are served by both processes', async () => {
  const base = new URL(region.launch.regions[REGION].endpoints.http);
  for (let i = 0; i < 8; i++) {
    const res = await request(`${base.origin}/echo`, {
      method: 'POST',
      body: 'hi',
      reset: true, // Connection: close, so the next request is a fresh connection
      headers: {
        host: `${region.fns.http.functionId}.invocation.${base.host}`,
        authorization: `Bearer ${region.apiKey}`,
      },
    });
    assert.equal(res.statusCode, 200);
    await res.body.text();
  }
  const calls = await callsPerChild('invocation');
  assert.ok(
    calls.every((n) => n > 0),
    `requests per process: ${calls}`,
  );
});

/** `GET /readyz` of process 0 of `kind` (the instance's metrics port): status and body. */
async function readyzOf(kind: 'grpc-proxy' | 'invocation') {
  const res = await fetch(children(kind)[0].metrics.replace(/\/metrics$/, '/readyz'));
  return {
    status: res.status,
    body: (await res.json()) as {
      ready: boolean;
      checks: Record<string, boolean>;
      reasons: { check: string; message: string }[];
    },
  };
}

/** Waits until process 0's /readyz answers `status` (15 s at most); returns the body. */
async function readyzBecomes(kind: 'grpc-proxy' | 'invocation', status: number, what: string) {
  let last: Awaited<ReturnType<typeof readyzOf>> | undefined;
  try {
    await waitFor(
      async () => {
        last = await readyzOf(kind);
        return last.status === status;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: `${kind} process 0 /readyz ${status} (${what})` },
    );
  } catch (err) {
    assert.fail(`${(err as Error).message}; last answer: ${JSON.stringify(last)}`);
  }
  return (last as Awaited<ReturnType<typeof readyzOf>>).body;
}

test('process 0 /readyz: 200 with an empty reasons list and a passing processes check while every process is ready', async () => {
  for (const kind of ['grpc-proxy', 'invocation'] as const) {
    const { status, body } = await readyzOf(kind);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.checks.processes, true);
    assert.deepEqual(body.reasons, []);
  }
  // Process 1 has no `processes` check (only process 0 speaks for the instance).
  const other = await fetch(children('invocation')[1].metrics.replace(/\/metrics$/, '/readyz'));
  assert.equal(other.status, 200);
  assert.equal(((await other.json()) as { checks: Record<string, boolean> }).checks.processes, undefined);
});

test('process 0 /readyz: a stopped child (SIGSTOP) fails the processes check naming it; SIGCONT makes it ready again', async () => {
  const stopped = children('invocation')[1].pid;
  process.kill(stopped, 'SIGSTOP');
  try {
    const body = await readyzBecomes('invocation', 503, 'child 1 stopped');
    assert.equal(body.ready, false);
    assert.equal(body.checks.processes, false);
    assert.deepEqual(body.reasons, [
      { check: 'processes', message: `process 1 (pid ${stopped}) is not answering /readyz within 1000 ms` },
    ]);
  } finally {
    process.kill(stopped, 'SIGCONT');
  }
  const body = await readyzBecomes('invocation', 200, 'child 1 continued');
  assert.deepEqual(body.reasons, []);
});

test('process 0 /readyz: a killed child (SIGKILL) fails the processes check naming it until its replacement is ready', async () => {
  const killed = children('invocation')[1].pid;
  const replaced = primary('invocation').nextJson((l) => l.msg === 'process restarted and ready', 30_000, {
    stderr: true,
  });
  process.kill(killed, 'SIGKILL');
  const body = await readyzBecomes('invocation', 503, 'child 1 killed');
  const [reason] = body.reasons;
  assert.equal(body.reasons.length, 1, JSON.stringify(body.reasons));
  assert.equal(reason.check, 'processes');
  // Seen while it is down (exited, restarting) or while its replacement starts; either names process 1.
  assert.match(
    reason.message,
    new RegExp(
      `^process 1 \\(pid (${killed}\\) exited \\(signal SIGKILL\\); restarting in \\d+ ms|\\d+\\) is starting)$`,
    ),
  );
  const line = await replaced;
  assert.equal(line.index, 1);
  assert.deepEqual((await readyzBecomes('invocation', 200, 'child 1 replaced')).reasons, []);
});

test('a child killed with SIGKILL is replaced and the replacement serves', async () => {
  const proxy = primary('grpc-proxy');
  const killed = children('grpc-proxy')[0].pid;
  const replaced = proxy.nextJson((l) => l.msg === 'process restarted and ready', 30_000, { stderr: true });
  process.kill(killed, 'SIGKILL');
  const line = await replaced;
  assert.equal(line.index, 0);
  assert.notEqual(line.pid, killed);
  // The replacement binds its predecessor's (ephemeral) metrics port: the primary's ready line, which
  // dev.json and the Prometheus targets were written from, still names it.
  assert.equal(line.metrics, children('grpc-proxy')[0].metrics);
  assert.deepEqual(childPids(proxy.pid).sort(), [line.pid as number, children('grpc-proxy')[1].pid].sort());
  // The replacement takes connections: fresh connections until its own metrics port counts a call.
  let served = 0;
  for (let i = 0; i < 8 && served === 0; i++) {
    await freshCall();
    served = await callsOf(line.metrics as string);
  }
  assert.ok(served > 0, 'the replacement served calls');
});

test('a child that gives no answer for SWITCHYARD_PROCESS_LIVENESS_TIMEOUT_MS (SIGSTOP) is killed and replaced', async () => {
  const proxy = primary('grpc-proxy');
  // Process 1 (the primary polls processes 1..N-1; process 0 is the orchestrator's to probe): the
  // earlier test replaced process 0, so the ready line's PID of process 1 is still current.
  const stopped = children('grpc-proxy')[1].pid;
  const first = childPids(proxy.pid).find((pid) => pid !== stopped) as number;
  const killing = proxy.nextJson((l) => typeof l.msg === 'string' && l.msg.endsWith('killing it (SIGKILL)'), 30_000, {
    stderr: true,
  });
  const replaced = proxy.nextJson((l) => l.msg === 'process restarted and ready', 30_000, { stderr: true });
  const stoppedAt = Date.now();
  process.kill(stopped, 'SIGSTOP');
  try {
    const kill = await killing;
    assert.equal(kill.pid, stopped);
    assert.ok(Date.now() - stoppedAt >= PROXY_LIVENESS_MS, 'not before the liveness timeout');
    assert.match(kill.msg as string, /is not answering \/readyz .* for \d+ ms: killing it \(SIGKILL\)$/);
    const line = await replaced;
    assert.equal(line.index, 1);
    assert.equal(kill.index, 1);
    assert.notEqual(line.pid, stopped);
    assert.deepEqual(childPids(proxy.pid).sort(), [first, line.pid as number].sort());
  } finally {
    try {
      process.kill(stopped, 'SIGCONT'); // only if the primary did not kill it
    } catch {}
  }
  assert.deepEqual((await readyzBecomes('grpc-proxy', 200, 'wedged child replaced')).reasons, []);
});

test('SIGTERM to a primary drains both children and exits 0', async () => {
  for (const kind of ['grpc-proxy', 'invocation'] as const) {
    const p = primary(kind);
    const kids = childPids(p.pid);
    p.kill('SIGTERM');
    const exit = await p.exited;
    assert.deepEqual(exit, { code: 0, signal: null }, `${kind}:\n${p.tail(40).join('\n')}`);
    for (const pid of kids) assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `${kind} child ${pid} gone`);
  }
});
