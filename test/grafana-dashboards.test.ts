// The Grafana dashboards (infra/grafana): the committed JSON is what the code generates, every panel
// queries Prometheus through the `datasource` variable and filters by the `region` variable, and the
// six dashboards of issue 9 item 4 exist. Metric names are checked in metric-names.test.ts; the queries
// run against a real Prometheus in prometheus-e2e.test.ts.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderDashboards } from '../infra/grafana/src/dashboards.ts';
import { DATASOURCE } from '../infra/grafana/src/panels.ts';
import { DASHBOARDS_DIR, staleDashboards } from '../scripts/grafana-dashboards.ts';
import { dashboardQueries } from './observability-queries.ts';

interface Model {
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query?: string; includeAll?: boolean; multi?: boolean }[] };
  panels: {
    id: number;
    type: string;
    title: string;
    datasource?: { uid: string };
    targets?: { expr: string; datasource?: { uid: string } }[];
    gridPos: { x: number; y: number; w: number; h: number };
  }[];
}

const models = Object.values(renderDashboards()).map((text) => JSON.parse(text) as Model);

test('infra/grafana/dashboards should be in step with infra/grafana/src (run node scripts/grafana-dashboards.ts)', () => {
  assert.deepEqual(staleDashboards(), []);
  for (const [file, text] of Object.entries(renderDashboards()))
    assert.equal(readFileSync(join(DASHBOARDS_DIR, file), 'utf8'), text, file);
});

test('should have the six dashboards of issue 9, each with unique stable UIDs and panel IDs', () => {
  assert.deepEqual(models.map((m) => m.uid).sort(), [
    'switchyard-dependencies',
    'switchyard-geodns',
    'switchyard-grpc-sessions',
    'switchyard-http-invocation',
    'switchyard-region-overview',
    'switchyard-workers-tunnels',
  ]);
  for (const m of models) {
    const ids = m.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${m.uid}: duplicate panel IDs`);
    for (const p of m.panels) assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${m.uid}/${p.title} is wider than the grid`);
  }
});

test('should offer a Prometheus datasource variable and a multi-value region variable with All', () => {
  for (const m of models) {
    const ds = m.templating.list.find((v) => v.name === 'datasource');
    const region = m.templating.list.find((v) => v.name === 'region');
    assert.equal(ds?.type, 'datasource', m.uid);
    assert.equal(ds?.query, 'prometheus', m.uid);
    assert.equal(region?.type, 'query', m.uid);
    assert.ok(region?.multi && region.includeAll, m.uid);
  }
});

test('should query through the datasource variable and filter every Switchyard panel by region', () => {
  for (const m of models)
    for (const p of m.panels.filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, DATASOURCE.uid, `${m.uid}/${p.title}`);
      assert.ok((p.targets ?? []).length > 0, `${m.uid}/${p.title} has no query`);
    }
  for (const q of dashboardQueries()) {
    const regional = q.expr.includes('switchyard_region=~"$region"') || q.expr.includes('dns_answer_region=~"$region"');
    // geodns serves every region: its readiness panel is the one unfiltered query.
    assert.ok(regional || q.expr.includes('service_name="geodns"'), `${q.dashboard}/${q.panel}: ${q.expr}`);
  }
});
