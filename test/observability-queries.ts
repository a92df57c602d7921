// What the dashboards, Prometheus rules and runbooks ask of the metrics, for the tests that check them:
// every panel query of infra/grafana/dashboards, every rule of infra/prometheus/rules, the PromQL quoted
// in docs/runbooks, the metric names a PromQL expression reads, and the Prometheus names the telemetry
// spec table (MetricSpecs) produces.

import { globSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attr, CONSTANT_LABEL_ATTRS, MetricSpecs } from '@switchyard/telemetry';
import { parse as parseYaml } from 'yaml';

/** Repository root. */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The promtool binary (Debian's `prometheus` package), overridable for other layouts. */
export const PROMTOOL = process.env.SWITCHYARD_PROMTOOL ?? 'promtool';

/** One panel query of a committed dashboard. */
export interface PanelQuery {
  /** Dashboard file name. */
  dashboard: string;
  /** Panel title. */
  panel: string;
  /** Target refId. */
  refId: string;
  /** PromQL as committed (with `$region`, `$__rate_interval`). */
  expr: string;
}

/** Every panel query of every committed dashboard JSON. */
export function dashboardQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const file of globSync('infra/grafana/dashboards/*.json', { cwd: ROOT }).sort()) {
    const model = JSON.parse(readFileSync(join(ROOT, file), 'utf8')) as {
      panels: { title: string; type: string; targets?: { expr: string; refId: string }[] }[];
    };
    for (const panel of model.panels)
      for (const t of panel.targets ?? [])
        out.push({ dashboard: file.split('/').pop() ?? file, panel: panel.title, refId: t.refId, expr: t.expr });
  }
  return out;
}

/** A recording or alerting rule of a rule file. */
export interface Rule {
  file: string;
  group: string;
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Rule files under infra/prometheus/rules (repository-relative paths). */
export function ruleFiles(): string[] {
  return globSync('infra/prometheus/rules/*.yaml', { cwd: ROOT }).sort();
}

/** Every rule of every rule file, in file order. */
export function rules(): Rule[] {
  const out: Rule[] = [];
  for (const file of ruleFiles()) {
    const doc = parseYaml(readFileSync(join(ROOT, file), 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
    for (const g of doc.groups) for (const r of g.rules) out.push({ ...r, file, group: g.name });
  }
  return out;
}

/** Grafana's variables replaced by what a direct Prometheus query needs (all regions, a 1 min rate window). */
export function substituteVariables(expr: string, rateWindow = '1m'): string {
  return expr.replaceAll('$__rate_interval', rateWindow).replaceAll('$region', '.*');
}

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'inf',
  'nan',
]);

/**
 * Metric names a PromQL expression selects (recorded names with `:` included), without functions,
 * keywords, label names or values.
 */
export function metricNamesOf(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ');
  const names = new Set<string>();
  for (const m of stripped.matchAll(/(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*(\(?))/g)) {
    const [, name, paren] = m;
    if (paren === '(' || KEYWORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** Prometheus name of a MetricSpecs entry: dots to underscores, `_seconds` for unit `s`, `_total` on counters. */
export function promNameOf(name: string, spec: { type: string; unit: string }): string {
  let base = name.replaceAll('.', '_');
  if (spec.unit === 's' && !base.endsWith('_seconds')) base += '_seconds';
  return spec.type === 'counter' || spec.type === 'observableCounter' ? `${base}_total` : base;
}

/** Every series name a scrape of the spec table can show (histograms as `_bucket`, `_sum`, `_count`). */
export function specSeriesNames(): Set<string> {
  const out = new Set<string>();
  for (const [name, spec] of Object.entries(MetricSpecs)) {
    const prom = promNameOf(name, spec);
    if (spec.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(`${prom}${s}`);
    else out.add(prom);
  }
  return out;
}

/**
 * Series not in MetricSpecs that dashboards and rules may read: Prometheus's own `up`, and the Node
 * runtime series of @opentelemetry/instrumentation-runtime-node (no unit suffix from the exporter).
 */
export const RUNTIME_SERIES = new Set([
  'up',
  'nodejs_eventloop_delay_p99',
  'nodejs_eventloop_utilization',
  'v8js_memory_heap_used',
]);

/** Label names a PromQL expression groups by or matches on (`by (...)`, `without (...)`, `{name=...}`). */
export function labelNamesOf(expr: string): string[] {
  const names = new Set<string>();
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  for (const m of noStrings.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g))
    for (const n of m[1].split(',')) if (n.trim() !== '') names.add(n.trim());
  for (const m of noStrings.matchAll(/\{([^}]*)\}/g))
    for (const matcher of m[1].split(','))
      if (matcher.trim() !== '') names.add(matcher.trim().split(/\s*(?:=~|!~|!=|=)\s*/)[0]);
  return [...names].sort();
}

/** Prometheus label names the services emit: the `Attr` keys (dots to underscores) and the constant labels. */
export function specLabelNames(): Set<string> {
  return new Set([...Object.values(Attr), ...CONSTANT_LABEL_ATTRS].map((a) => a.replaceAll('.', '_')));
}

/**
 * Other labels queries may use: `le` of histograms, the scrape's `job`/`instance` and the target labels
 * of infra/prometheus/scrape-config.example.yaml (`switchyard_service`), and the runtime series' heap space.
 */
export const OTHER_LABELS = new Set(['le', 'job', 'instance', 'switchyard_service', 'v8js_heap_space_name']);

/** A PromQL expression quoted in a runbook. */
export interface RunbookQuery {
  /** Runbook file name (`SwitchyardNotReady.md`). */
  runbook: string;
  /** The expression, as quoted (`R` for a region is a string value, so any placeholder reads as PromQL). */
  expr: string;
}

/** A recording rule's name, `level:metric:operations` (`switchyard_region:switchyard_calls:rate5m`). */
const RECORDED_NAME = /^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z0-9_]+$/;

/** Whether `name` (from {@link metricNamesOf}) is a series name of this stack rather than a word of prose. */
const isSeriesLike = (name: string) =>
  /^(switchyard_|nodejs_|v8js_)/.test(name) || name === 'up' || RECORDED_NAME.test(name);

/**
 * The PromQL of a markdown text: each inline code span (and each line of a ```promql block) that names
 * a series (a `switchyard_`, `nodejs_` or `v8js_` name, `up`, or a recording rule `a:b:c`); paths,
 * subjects and label values in backticks are prose, and a `:rate1h` suffix fragment is left out.
 * @param markdown the text of a runbook.
 */
export function promqlOf(markdown: string): string[] {
  const out: string[] = [];
  const fenced = /```promql\n([\s\S]*?)```/g;
  for (const m of markdown.matchAll(fenced))
    for (const line of m[1].split('\n')) if (line.trim() !== '' && !line.trim().startsWith('#')) out.push(line.trim());
  for (const m of markdown.replace(/```[\s\S]*?```/g, ' ').matchAll(/`([^`\n]+)`/g)) {
    const span = m[1].trim();
    if (span.startsWith(':')) continue;
    if (metricNamesOf(span).some(isSeriesLike)) out.push(span);
  }
  return out;
}

/** The PromQL quoted in every runbook of docs/runbooks (file order). */
export function runbookQueries(): RunbookQuery[] {
  return globSync('docs/runbooks/*.md', { cwd: ROOT })
    .sort()
    .flatMap((file) =>
      promqlOf(readFileSync(join(ROOT, file), 'utf8')).map((expr) => ({
        runbook: file.split('/').pop() ?? file,
        expr,
      })),
    );
}
