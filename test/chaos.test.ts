// The chaos soak, short (issue 11, item 7; `scripts/chaos.ts --minutes N` runs it longer): a region of
// real processes (3 NATS servers, 2 proxies, 2 invocation instances, 3 workers) under mixed load
// while a NATS server, a proxy, an invocation instance and a worker are SIGKILLed and restarted in
// turn, and Redis once. Every answer must be correct or a documented error; none may hang.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ChaosRegion } from './chaos/chaos-region.ts';
import { runChaos } from './chaos/chaos-soak.ts';

const DURATION_MS = Number(process.env.SWITCHYARD_CHAOS_TEST_MS ?? '') || 120_000;

let region: ChaosRegion;
let stateDir: string;

before(async () => {
  stateDir = mkdtempSync(join(tmpdir(), 'switchyard-chaos-'));
  region = await ChaosRegion.start(stateDir);
});

after(async () => {
  await region?.stop();
  if (stateDir !== undefined) rmSync(stateDir, { recursive: true, force: true });
});

test('under SIGKILLs of NATS, proxies, invocation instances, workers and Redis, every answer is right or a documented error', {
  timeout: DURATION_MS + 240_000,
}, async () => {
  const lines: string[] = [];
  const report = await runChaos(region, {
    durationMs: DURATION_MS,
    intervalMs: 20_000,
    seed: 7,
    rssIntervalMs: 30_000,
    log: (line) => lines.push(line),
  });
  const { counts, failures } = report.ledger;
  const summary = JSON.stringify({ counts, kills: report.kills, failures: failures.slice(0, 20) }, null, 1);
  console.log(`chaos: ${summary}`);
  assert.deepEqual(failures, [], `${summary}\n${lines.join('\n')}`);
  const kinds = new Set(report.kills.map((k) => k.name.replace(/-.*$/, '')));
  for (const kind of ['nats', 'grpc', 'invocation', 'worker', 'redis'])
    assert.ok(kinds.has(kind), `a ${kind} process was killed: ${summary}`);
  for (const lane of ['grpc-session', 'grpc-bidi', 'http-echo', 'http-sse'])
    assert.ok((counts[`${lane} ok`] ?? 0) > 10, `${lane} kept answering: ${summary}`);
  assert.ok((counts['http-202 result'] ?? 0) > 3, `202s ended with their results: ${summary}`);
});
