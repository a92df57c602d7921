// The Prometheus rules (infra/prometheus): `promtool check rules` and `promtool check config` accept
// them, `promtool test rules` runs the unit tests (synthetic series) in infra/prometheus/tests, every
// alert is tested both firing and not firing, and every alert links an existing runbook with the
// three sections an on-call engineer needs.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, globSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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

test('promtool check config should accept the scrape-config example with the rule files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-promconfig-'));
  try {
    cpSync(join(ROOT, 'infra/prometheus'), dir, { recursive: true });
    const out = promtool(['check', 'config', 'scrape-config.example.yaml'], dir);
    assert.match(out, /is valid prometheus config file syntax/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
