// Writes the Grafana dashboards (infra/grafana/dashboards/*.json) from their code in infra/grafana/src
// (run: node scripts/grafana-dashboards.ts). `--check` writes nothing and exits 1 when a committed file
// differs from the code, is missing, or is left over; test/grafana-dashboards.test.ts does the same.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDashboards } from '../infra/grafana/src/dashboards.ts';

/** Directory of the generated dashboard JSON files. */
export const DASHBOARDS_DIR = fileURLToPath(new URL('../infra/grafana/dashboards/', import.meta.url));

/**
 * Compares the committed files with the code.
 * @returns file names that differ, are missing, or exist without a dashboard (empty when in step).
 */
export function staleDashboards(): string[] {
  const want = renderDashboards();
  const have = existsSync(DASHBOARDS_DIR) ? readdirSync(DASHBOARDS_DIR).filter((f) => f.endsWith('.json')) : [];
  const stale = Object.entries(want)
    .filter(
      ([file, text]) =>
        !existsSync(join(DASHBOARDS_DIR, file)) || readFileSync(join(DASHBOARDS_DIR, file), 'utf8') !== text,
    )
    .map(([file]) => file);
  return [...stale, ...have.filter((f) => !(f in want))].sort();
}

if (import.meta.main) {
  if (process.argv.includes('--check')) {
    const stale = staleDashboards();
    if (stale.length > 0) {
      console.error(
        `infra/grafana/dashboards is out of step with infra/grafana/src: ${stale.join(', ')} (run node scripts/grafana-dashboards.ts)`,
      );
      process.exit(1);
    }
    console.log('infra/grafana/dashboards is in step');
  } else {
    mkdirSync(DASHBOARDS_DIR, { recursive: true });
    const want = renderDashboards();
    for (const f of readdirSync(DASHBOARDS_DIR))
      if (f.endsWith('.json') && !(f in want)) rmSync(join(DASHBOARDS_DIR, f));
    for (const [file, text] of Object.entries(want)) writeFileSync(join(DASHBOARDS_DIR, file), text);
    console.log(`wrote ${Object.keys(want).length} dashboards to infra/grafana/dashboards/`);
  }
}
