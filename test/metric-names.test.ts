// Every metric a dashboard panel, a Prometheus rule or a runbook's PromQL reads is one the services
// export: a name of the telemetry spec table (packages/telemetry/src/names.ts MetricSpecs, in Prometheus
// spelling), a Node runtime series, `up`, or a recording rule of infra/prometheus/rules; and every label a
// query groups by or matches on is one the series carry.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dashboardQueries,
  labelNamesOf,
  metricNamesOf,
  OTHER_LABELS,
  promqlOf,
  RUNTIME_SERIES,
  rules,
  runbookQueries,
  specLabelNames,
  specSeriesNames,
} from './observability-queries.ts';

const recorded = new Set(rules().flatMap((r) => (r.record !== undefined ? [r.record] : [])));
const uses = [
  ...dashboardQueries().map((q) => ({ where: `${q.dashboard}/${q.panel}`, expr: q.expr })),
  ...rules().map((r) => ({ where: `${r.file}:${r.record ?? r.alert}`, expr: r.expr })),
];
const used = new Map<string, string>();
for (const u of uses) for (const name of metricNamesOf(u.expr)) if (!used.has(name)) used.set(name, u.where);
const spec = specSeriesNames();
const labelsUsed = new Map<string, string>();
for (const u of uses) for (const name of labelNamesOf(u.expr)) if (!labelsUsed.has(name)) labelsUsed.set(name, u.where);
const specLabels = specLabelNames();

test('metricNamesOf should find the metric names of a PromQL expression and nothing else', () => {
  assert.deepEqual(
    metricNamesOf(
      'histogram_quantile(0.95, sum by (le, switchyard_region) (rate(a_b_bucket{x="y", service_name=~"p|q"}[$__rate_interval]))) / on (z) group_left (w) c:d:rate5m > bool 2 or vector(0) unless up offset 5m and 1e3',
    ),
    ['a_b_bucket', 'c:d:rate5m', 'up'],
  );
});

test('should read only metrics the services export, runtime series, up, or recording rules', () => {
  const unknown = [...used.entries()]
    .filter(([name]) => (name.includes(':') ? !recorded.has(name) : !spec.has(name) && !RUNTIME_SERIES.has(name)))
    .map(([name, where]) => `${name} (${where})`);
  assert.deepEqual(unknown, []);
  assert.ok(used.size > 20, `only ${used.size} names found`);
});

test('labelNamesOf should find grouping and matcher label names', () => {
  assert.deepEqual(
    labelNamesOf('sum by (le, a_b) (rate(x{c="}{", d=~"$region", e!="1"}[5m])) / on (f) group_left () y{g!~"x"}'),
    ['a_b', 'c', 'd', 'e', 'f', 'g', 'le'],
  );
});

test('should group and match only on labels the services, the scrape or the runtime series carry', () => {
  const unknown = [...labelsUsed.entries()]
    .filter(([name]) => !specLabels.has(name) && !OTHER_LABELS.has(name))
    .map(([name, where]) => `${name} (${where})`);
  assert.deepEqual(unknown, []);
});

test('promqlOf should find the PromQL quoted in a runbook and leave paths, subjects and label values out', () => {
  const text = [
    'Check `/readyz`, `health.<region>.<kind>.<id>` and `ping_timeout`; the ratio `a:b:rate5m` (and `:rate1h`).',
    'Ask `curl http://HOST:METRICS_PORT/readyz`; it says `nats: not connected`.',
    'Then `sum by (switchyard_x) (rate(switchyard_nope_total{switchyard_region="R"}[5m]))` and `up{job="j"} == 0`.',
    '```promql',
    'switchyard_fenced_total > 0',
    '```',
    '```sh',
    'curl `switchyard_in_shell`',
    '```',
  ].join('\n');
  assert.deepEqual(promqlOf(text), [
    'switchyard_fenced_total > 0',
    'a:b:rate5m',
    'sum by (switchyard_x) (rate(switchyard_nope_total{switchyard_region="R"}[5m]))',
    'up{job="j"} == 0',
  ]);
});

test('should quote in the runbooks only metrics the services export, runtime series, up or recording rules, and labels they carry', () => {
  const queries = runbookQueries();
  assert.ok(queries.length > 15, `only ${queries.length} runbook expressions found`);
  const unknown: string[] = [];
  for (const { runbook, expr } of queries) {
    const names = metricNamesOf(expr);
    // A bare name in backticks may be a label the text talks about (`switchyard_function_version_id`).
    const bareLabel = names.length === 1 && names[0] === expr && (specLabels.has(expr) || OTHER_LABELS.has(expr));
    if (bareLabel) continue;
    for (const name of names) {
      const known = name.includes(':') ? recorded.has(name) : spec.has(name) || RUNTIME_SERIES.has(name);
      if (!known) unknown.push(`${runbook}: metric ${name} in \`${expr}\``);
    }
    for (const label of labelNamesOf(expr))
      if (!specLabels.has(label) && !OTHER_LABELS.has(label)) unknown.push(`${runbook}: label ${label} in \`${expr}\``);
  }
  assert.deepEqual(unknown, []);
});
