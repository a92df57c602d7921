// Reading a Prometheus text exposition in tests: the value of the series of a metric whose labels
// include the given ones, and `promtool check metrics` on a scrape.

import { spawnSync } from 'node:child_process';

/** One series of a scrape: metric name, labels and value. */
export interface ScrapedSeries {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the sample lines of a text exposition (comments skipped). */
export function parseScrape(text: string): ScrapedSeries[] {
  const out: ScrapedSeries[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * Sum of the values of the series named `name` whose labels include `labels`, or undefined when no
 * such series is in the scrape.
 */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const s of parseScrape(text)) {
    if (s.name !== name) continue;
    if (!Object.entries(labels).every(([k, v]) => s.labels[k] === v)) continue;
    sum = (sum ?? 0) + s.value;
  }
  return sum;
}

/** GET `url` (a `/metrics` endpoint); the body. @throws when the answer is not 200. */
export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return res.text();
}

/** `promtool check metrics` on `text`: its exit status and output. */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
