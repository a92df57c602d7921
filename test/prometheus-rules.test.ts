// The Prometheus rules (infra/prometheus): `promtool check rules` and `promtool check config` accept
// them, `promtool test rules` runs the unit tests (synthetic series) in infra/prometheus/tests, every
// alert is tested both firing and not firing, and every alert links an existing runbook with the
// three sections an on-call engineer needs. The scrape-config example: one target per process of each
// service (process i of a front end on metrics port + i, as the process plan lays them out), the same
// services a dev stack's `.switchyard/dev.json` lists under `metrics`, a file_sd target file made from
// that map (scripts/prometheus-targets.ts) that promtool accepts, and a commented Kubernetes job that
// keeps the ports and labels the Helm chart gives.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, globSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type LaunchedChild, metricsUrls, type ScrapeTargetGroup, scrapeTargets } from '@switchyard/region-launcher';
import { frontEndChildEnv } from '@switchyard/service-main';
import { parse as parseYaml } from 'yaml';
import { PROMTOOL, ROOT, ruleFiles, rules } from './observability-queries.ts';

const RUNBOOK_BASE = 'https://github.com/switchyard/switchyard/blob/main/';

function promtool(args: string[], cwd = ROOT): string {
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8' });
  assert.ok(r.error === undefined, `cannot run ${PROMTOOL} (Debian: apt-get install prometheus): ${r.error?.message}`);
  assert.equal(r.status, 0, `promtool ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

const alerts = rules().filter((r) => r.alert !== undefined);
const alertNames = [...new Set(alerts.map((r) => r.alert as string))].sort();

test('promtool check rules should accept every rule file', () => {
  const out = promtool(['check', 'rules', ...ruleFiles()]);
  assert.equal(out.match(/SUCCESS/g)?.length, ruleFiles().length, out);
});

test('promtool test rules should pass every unit test in infra/prometheus/tests', () => {
  const files = globSync('infra/prometheus/tests/*.yaml', { cwd: ROOT }).sort();
  assert.ok(files.length > 0);
  const out = promtool(['test', 'rules', ...files]);
  assert.equal(out.match(/SUCCESS/g)?.length, files.length, out);
});

test('should unit-test every alert both firing and not firing', () => {
  const seen = new Map<string, { firing: boolean; quiet: boolean }>();
  for (const file of globSync('infra/prometheus/tests/*.yaml', { cwd: ROOT })) {
    const doc = parseYaml(readFileSync(join(ROOT, file), 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
    };
    for (const t of doc.tests)
      for (const a of t.alert_rule_test ?? []) {
        const s = seen.get(a.alertname) ?? { firing: false, quiet: false };
        if ((a.exp_alerts ?? []).length > 0) s.firing = true;
        else s.quiet = true;
        seen.set(a.alertname, s);
      }
  }
  for (const name of alertNames) {
    assert.ok(seen.get(name)?.firing, `${name} has no promtool test where it fires`);
    assert.ok(seen.get(name)?.quiet, `${name} has no promtool test where it stays quiet`);
  }
  for (const name of seen.keys()) assert.ok(alertNames.includes(name), `tests name an unknown alert ${name}`);
});

test('should link every alert to docs/runbooks/<alert>.md, which says what it means, what to check and how to mitigate', () => {
  assert.ok(alertNames.length >= 10);
  for (const rule of alerts) {
    const url = rule.annotations?.runbook_url ?? '';
    assert.equal(url, `${RUNBOOK_BASE}docs/runbooks/${rule.alert}.md`, `${rule.alert}: runbook_url`);
    const path = join(ROOT, url.slice(RUNBOOK_BASE.length));
    assert.ok(existsSync(path), `${rule.alert}: ${path} is missing`);
    const text = readFileSync(path, 'utf8');
    assert.match(text, new RegExp(`^# ${rule.alert}\\n`), path);
    for (const section of ['## What it means', '## First three things to check', '## How to mitigate'])
      assert.ok(text.includes(section), `${path} lacks "${section}"`);
    assert.match(text, /## First three things to check\n\n1\. .+\n2\. .+\n3\. .+\n/, `${path}: three numbered checks`);
    assert.ok(rule.labels?.severity, `${rule.alert}: severity label`);
    assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert}: summary and description`);
  }
  // No runbook without its alert.
  for (const file of globSync('docs/runbooks/*.md', { cwd: ROOT }))
    assert.ok(alertNames.includes(file.split('/').pop()?.replace(/\.md$/, '') ?? ''), `${file} has no alert`);
});

const EXAMPLE = 'infra/prometheus/scrape-config.example.yaml';

interface ScrapeJob {
  job_name: string;
  honor_labels?: boolean;
  static_configs?: ScrapeTargetGroup[];
  relabel_configs?: { source_labels?: string[]; regex?: string; action?: string; target_label?: string }[];
}

/** A ready line as a service prints it: one process, or a cluster primary with `children` (one per process). */
function readyLine(service: string, ports: number[]): LaunchedChild {
  const url = (port: number) => `http://127.0.0.1:${port}/metrics`;
  const line: Record<string, unknown> = { ready: true, service, metrics: url(ports[0]) };
  if (ports.length > 1) line.children = ports.map((port, index) => ({ index, pid: 1000 + index, metrics: url(port) }));
  return { readyLine: line } as unknown as LaunchedChild;
}

/**
 * The `metrics` map of a dev.json, made by the dev stack's own `metricsUrls` from ready lines: two
 * regions (`switchyard dev --regions`), the front ends of `pa` running 2 processes, geodns under `global`.
 */
const DEV_METRICS: Record<string, Record<string, string>> = {
  pa: metricsUrls({
    api: readyLine('api', [41001]),
    'grpc-proxy': readyLine('grpc-proxy', [41002, 41003]),
    invocation: readyLine('invocation', [41004, 41005]),
    'worker-echo': readyLine('worker', [41006]),
    'worker-http-echo': readyLine('worker', [41007]),
  }),
  pb: metricsUrls({
    api: readyLine('api', [42001]),
    'grpc-proxy': readyLine('grpc-proxy', [42002]),
    invocation: readyLine('invocation', [42004]),
    'worker-echo': readyLine('worker', [42006]),
  }),
  global: metricsUrls({ geodns: readyLine('geodns', [43001]) }),
};

test("the scrape-config example should scrape every process of a front end on metrics port + index, with the alerts' labels", () => {
  const doc = parseYaml(readFileSync(join(ROOT, EXAMPLE), 'utf8')) as { scrape_configs: ScrapeJob[] };
  const job = doc.scrape_configs.find((j) => j.job_name === 'switchyard');
  assert.ok(job?.static_configs, 'a static job `switchyard`');
  assert.equal(job.honor_labels, true);
  for (const group of job.static_configs) {
    assert.deepEqual(
      Object.keys(group.labels).sort(),
      ['switchyard_region', 'switchyard_service'],
      JSON.stringify(group),
    );
    const byHost = Map.groupBy(group.targets, (t) => t.split(':')[0]);
    for (const [host, targets] of byHost) {
      const ports = targets.map((t) => Number(t.split(':')[1]));
      if (!['grpc-proxy', 'invocation'].includes(group.labels.switchyard_service)) {
        assert.equal(ports.length, 1, `${host}: one process per ${group.labels.switchyard_service}`);
        continue;
      }
      // N processes: the ports the process plan gives processes 0..N-1 from the configured base port.
      const planned = ports.map((_, i) => {
        const env = frontEndChildEnv(
          { idVar: 'SWITCHYARD_PROXY_ID', id: 'p', callbackPort: 10086, metricsPort: ports[0] },
          i,
        );
        return Number(env.SWITCHYARD_METRICS_PORT);
      });
      assert.deepEqual(ports, planned, `${host} (${group.labels.switchyard_service}): one target per process`);
      assert.ok(ports.length > 1, `${host}: the example shows a front end with several processes`);
    }
  }
  // The services a dev stack lists under `metrics` are the services the example scrapes.
  const exampleServices = new Set(job.static_configs.map((g) => g.labels.switchyard_service));
  const devServices = new Set(scrapeTargets(DEV_METRICS).map((g) => g.labels.switchyard_service));
  assert.deepEqual([...exampleServices].sort(), [...devServices].sort());
  assert.deepEqual([...devServices].sort(), ['api', 'geodns', 'grpc-proxy', 'invocation', 'worker']);
});

test("scrapeTargets should make one target per process of dev.json's metrics map, grouped by region and service", () => {
  assert.equal(DEV_METRICS.pa['grpc-proxy/1'], 'http://127.0.0.1:41003/metrics', 'dev.json lists process 1');
  const groups = scrapeTargets(DEV_METRICS);
  const urls = Object.values(DEV_METRICS).flatMap((m) => Object.values(m).map((u) => new URL(u).host));
  assert.deepEqual(groups.flatMap((g) => g.targets).sort(), urls.sort(), 'every URL of dev.json, once');
  assert.deepEqual(
    groups.find((g) => g.labels.switchyard_region === 'pa' && g.labels.switchyard_service === 'grpc-proxy')?.targets,
    ['127.0.0.1:41002', '127.0.0.1:41003'],
  );
  assert.deepEqual(
    groups.find((g) => g.labels.switchyard_region === 'pa' && g.labels.switchyard_service === 'worker')?.targets,
    ['127.0.0.1:41006', '127.0.0.1:41007'],
  );
  assert.deepEqual(groups.find((g) => g.labels.switchyard_service === 'geodns')?.labels.switchyard_region, 'global');
  assert.equal(groups.length, 9, '4 services in each region and geodns');
});

test("the commented Kubernetes job should keep every metrics port of the chart's headless Services and label targets as the alerts read them", () => {
  const text = readFileSync(join(ROOT, EXAMPLE), 'utf8');
  const block = /# BEGIN kubernetes-endpoints\n([\s\S]*?)# END kubernetes-endpoints/.exec(text)?.[1];
  assert.ok(block, 'a commented kubernetes-endpoints block');
  const [job] = parseYaml(block.replace(/^#/gm, '')) as ScrapeJob[];
  assert.equal(job.honor_labels, true);
  const relabel = job.relabel_configs ?? [];
  const keep = (label: string) => relabel.find((r) => r.action === 'keep' && r.source_labels?.[0] === label)?.regex;
  // The chart's labels and port names (templates/service.yaml, _helpers.tpl, servicemonitor.yaml).
  assert.equal(keep('__meta_kubernetes_service_label_switchyard_io_service'), 'headless');
  const ports = new RegExp(`^(?:${keep('__meta_kubernetes_endpoint_port_name')})$`);
  for (const name of ['metrics', 'metrics-1', 'metrics-7']) assert.match(name, ports);
  for (const name of ['callback', 'callback-1', 'grpc', 'metricsx']) assert.doesNotMatch(name, ports);
  const target = (label: string) => relabel.find((r) => r.target_label === label)?.source_labels?.[0];
  assert.equal(target('switchyard_region'), '__meta_kubernetes_service_label_switchyard_io_region');
  assert.equal(target('switchyard_service'), '__meta_kubernetes_service_label_app_kubernetes_io_component');
  const monitor = readFileSync(join(ROOT, 'infra/helm/switchyard/templates/servicemonitor.yaml'), 'utf8');
  for (const label of [target('switchyard_region'), target('switchyard_service')])
    assert.ok(monitor.includes(`[${label}]`), `the ServiceMonitor relabels from ${label} too`);
  assert.match(monitor, /switchyard\.io\/service: headless/);
  assert.match(monitor, /printf "metrics-%d"/);
});

test("promtool check config should accept the scrape-config example with the rule files and a dev stack's target file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-promconfig-'));
  try {
    cpSync(join(ROOT, 'infra/prometheus'), dir, { recursive: true });
    mkdirSync(join(dir, 'targets'), { recursive: true });
    // The target file as an operator makes it: scripts/prometheus-targets.ts run on a dev state file.
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ region: 'pa', metrics: DEV_METRICS }));
    const script = join(ROOT, 'scripts/prometheus-targets.ts');
    const made = spawnSync(process.execPath, [script, join(dir, 'state.json')], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    assert.deepEqual(JSON.parse(made.stdout), scrapeTargets(DEV_METRICS));
    writeFileSync(join(dir, 'targets/dev.json'), made.stdout);
    // A missing state file is one clear line and exit 1, not a stack trace.
    const missing = spawnSync(process.execPath, [script, join(dir, 'nope.json')], { encoding: 'utf8' });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^prometheus-targets: cannot read .*nope\.json: ENOENT.*\n$/);
    const out = promtool(['check', 'config', 'scrape-config.example.yaml'], dir);
    assert.match(out, /is valid prometheus config file syntax/);
    // promtool reads the target file: a bad label name in it fails the check.
    writeFileSync(
      join(dir, 'targets/dev.json'),
      JSON.stringify([{ targets: ['127.0.0.1:1'], labels: { 'a b': 'x' } }]),
    );
    const bad = spawnSync(PROMTOOL, ['check', 'config', 'scrape-config.example.yaml'], { cwd: dir, encoding: 'utf8' });
    assert.notEqual(bad.status, 0, `${bad.stdout}${bad.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
