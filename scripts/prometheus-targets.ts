// Writes the metrics endpoints of a running dev stack (`.switchyard/dev.json`, `metrics`) as a
// Prometheus file_sd target file: one group per region and service, one target per process, with the
// `switchyard_region` / `switchyard_service` labels the alerts read (infra/prometheus/scrape-config.example.yaml,
// job `switchyard-files`). Usage:
//   node scripts/prometheus-targets.ts [.switchyard/dev.json] > infra/prometheus/targets/dev.json
import { readFileSync } from 'node:fs';
import { scrapeTargets } from '@switchyard/region-launcher';

const path = process.argv[2] ?? '.switchyard/dev.json';
const state = JSON.parse(readFileSync(path, 'utf8')) as { metrics?: Record<string, Record<string, string>> };
if (state.metrics === undefined) {
  process.stderr.write(`${path} lists no metrics endpoints (metrics off?)\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(scrapeTargets(state.metrics), null, 2)}\n`);
