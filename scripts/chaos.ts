// Chaos soak (issue 11, item 7): starts a region of real processes (3 NATS servers, 2 gRPC proxies,
// 2 invocation instances, 3 workers, Redis, the API) and runs mixed load (gRPC sessions with resumes,
// bidi streams, HTTP calls, 202s with status polls, SSE) while every --interval-s one process of
// {NATS server, proxy, invocation instance, worker} is SIGKILLed and restarted, and Redis once.
// Prints every answer counted by outcome, the kills, and each process's RSS per minute.
//
//   node_modules/node/bin/node scripts/chaos.ts [--minutes 10] [--interval-s 20] [--seed 1] [--keep]
//
// Exit code 0 when every answer was right or a documented error; 1 otherwise (the failures are listed).
// `npm test` runs the same soak for 2 minutes (test/chaos.test.ts).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ChaosRegion } from '../test/chaos/chaos-region.ts';
import { runChaos } from '../test/chaos/chaos-soak.ts';

const USAGE = `usage: node scripts/chaos.ts [--minutes N] [--interval-s N] [--seed N] [--keep]
  --minutes N      how long the load runs (default 10)
  --interval-s N   seconds between two kills (default 20)
  --seed N         seed of which instance of a kind is killed (default 1)
  --keep           keep the state directory (NATS stores, logs) afterwards`;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'interval-s': { type: 'string', default: '20' },
    seed: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const minutes = Number(values.minutes);
const intervalS = Number(values['interval-s']);
const seed = Number(values.seed);
if (!(minutes > 0) || !(intervalS > 0) || !Number.isInteger(seed)) {
  console.error(`bad arguments\n${USAGE}`);
  process.exit(2);
}

const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-chaos-'));
const log = (line: string) => console.error(`[chaos] ${line}`);
log(`starting the region in ${stateDir} ...`);
const region = await ChaosRegion.start(stateDir);
let failed = true;
try {
  log(`running ${minutes} min, a kill every ${intervalS} s (seed ${seed})`);
  const report = await runChaos(region, {
    durationMs: minutes * 60_000,
    intervalMs: intervalS * 1000,
    seed,
    rssIntervalMs: 60_000,
    log,
  });
  const { counts, failures } = report.ledger;
  console.log('\n## Answers\n\n| lane | outcome | count |\n| --- | --- | ---: |');
  for (const [key, n] of Object.entries(counts).sort()) {
    const [lane, ...outcome] = key.split(' ');
    console.log(`| ${lane} | ${outcome.join(' ')} | ${n} |`);
  }
  console.log('\n## Kills\n\n| at (s) | process | back after (s) |\n| ---: | --- | ---: |');
  for (const k of report.kills) console.log(`| ${k.atS} | ${k.name} | ${k.downS.toFixed(1)} |`);
  const names = [...new Set(report.rss.flatMap((s) => Object.keys(s.bytes)))].sort();
  console.log(
    `\n## RSS (MiB) per minute\n\n| process | ${report.rss.map((s) => `${Math.round(s.atS)} s`).join(' | ')} |`,
  );
  console.log(`| --- | ${report.rss.map(() => '---:').join(' | ')} |`);
  for (const name of names)
    console.log(
      `| ${name} | ${report.rss.map((s) => (s.bytes[name] === undefined ? '-' : (s.bytes[name] / 2 ** 20).toFixed(0))).join(' | ')} |`,
    );
  console.log(`\n## Failures: ${failures.length}\n`);
  for (const f of failures) console.log(`- ${f}`);
  failed = failures.length > 0;
} finally {
  await region.stop();
  if (!values.keep) rmSync(stateDir, { recursive: true, force: true });
  else log(`state kept in ${stateDir}`);
}
process.exit(failed ? 1 : 0);
