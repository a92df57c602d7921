// Writes the metrics endpoints of a running dev stack (`.switchyard/dev.json`, `metrics`) as a
// Prometheus file_sd target file: one group per region and service, one target per process, with the
// `switchyard_region` / `switchyard_service` labels the alerts read (infra/prometheus/scrape-config.example.yaml,
// job `switchyard-files`). Usage:
//   node scripts/prometheus-targets.ts [.switchyard/dev.json] > infra/prometheus/targets/dev.json
// A missing or unreadable file, bad JSON or a state without `metrics` is one line on stderr and exit 1.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { scrapeTargets } from '@switchyard/region-launcher';

const USAGE = 'usage: node scripts/prometheus-targets.ts [.switchyard/dev.json] > targets.json\n';

function fail(message: string): never {
  process.stderr.write(`prometheus-targets: ${message}\n`);
  process.exit(1);
}

let parsed: ReturnType<
  typeof parseArgs<{ options: { help: { type: 'boolean'; short: 'h' } }; allowPositionals: true }>
>;
try {
  parsed = parseArgs({ options: { help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`);
}
if (parsed.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (parsed.positionals.length > 1) fail(`one dev state file at most, got ${parsed.positionals.length}\n${USAGE}`);
const path = parsed.positionals[0] ?? '.switchyard/dev.json';
let state: { metrics?: Record<string, Record<string, string>> };
try {
  state = JSON.parse(readFileSync(path, 'utf8'));
} catch (err) {
  fail(`cannot read ${path}: ${(err as Error).message} (is a dev stack running? npm start writes it)`);
}
if (state?.metrics === undefined) fail(`${path} lists no metrics endpoints (metrics off?)`);
process.stdout.write(`${JSON.stringify(scrapeTargets(state.metrics), null, 2)}\n`);
