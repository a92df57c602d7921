// Black-box fuzz of a running region (issue 11, item 1): the generators and oracle of `npm test`'s
// bounded run (test/fuzz-region.test.ts), for longer. Case i is generated from seed + i alone: a
// finding is replayed with `--seed S --first i --cases 1`.
//
//   node_modules/node/bin/node scripts/fuzz.ts --cases 100000 [--seed S] [--lanes 8] [--first 0]
//
// Exit code 0 when every case was answered as the contract allows and every process stayed up and
// kept serving valid calls; 1 otherwise (each finding is printed with its seed, index and case).

import { parseArgs } from 'node:util';
import { startFuzzRegion } from '../test/fuzz/fuzz-region.ts';
import { describeFinding, runFuzz } from '../test/fuzz/fuzz-run.ts';

const USAGE = `usage: node scripts/fuzz.ts --cases N [--seed S] [--lanes L] [--first I]
  --cases N   how many cases (e.g. 100000)
  --seed S    seed (default: random, printed)
  --lanes L   cases in flight at once (default 8)
  --first I   index of the first case (replay: --seed S --first I --cases 1)`;

const { values } = parseArgs({
  options: {
    cases: { type: 'string' },
    seed: { type: 'string' },
    lanes: { type: 'string', default: '8' },
    first: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
const cases = Number(values.cases);
if (values.help || !Number.isInteger(cases) || cases < 1) {
  console.error(USAGE);
  process.exit(values.help ? 0 : 2);
}
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
console.log(`fuzz: seed ${seed}, ${cases} cases from ${values.first}, ${values.lanes} lanes; starting the region`);
const region = await startFuzzRegion();
let failed = false;
try {
  const report = await runFuzz(region, {
    seed,
    cases,
    first: Number(values.first),
    lanes: Number(values.lanes),
    checkEvery: 2_000,
    onProgress: (done, r) =>
      console.log(
        `fuzz: ${done} cases, ${(r.durationMs / 1000).toFixed(0)} s, ${r.findings.length} findings, ${r.liveness.length} liveness problems`,
      ),
  });
  for (const f of report.findings.slice(0, 50)) console.log(describeFinding(seed, f));
  for (const p of report.liveness) console.log(`liveness: ${p}`);
  console.log(`fuzz: counts ${JSON.stringify(report.counts)}`);
  console.log(
    `fuzz: done: seed ${seed}, ${report.cases} cases in ${(report.durationMs / 1000).toFixed(1)} s, ${report.findings.length} findings, ${report.liveness.length} liveness problems`,
  );
  failed = report.findings.length > 0 || report.liveness.length > 0;
} finally {
  await region.stop();
}
process.exit(failed ? 1 : 0);
