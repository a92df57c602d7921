// Reading a Prometheus text exposition in tests: fetch a real /metrics endpoint, find samples by name
// and labels, and lint the whole text with promtool (Debian's `prometheus` package ships it).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** One sample line of an exposition: metric name, labels and value. */
export interface ExpositionSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * GETs `url` (a `/metrics` endpoint) and returns its text.
 * @throws Error when the endpoint does not answer 200.
 */
export async function scrapeMetrics(url: string): Promise<string> {
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}: ${text}`);
  return text;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of `text` (comments and blank lines skipped). */
export function parseExposition(text: string): ExpositionSample[] {
  const out: ExpositionSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/**
 * The sum of the samples named `name` whose labels include every pair of `labels`, or undefined when
 * no sample matches (the series is absent).
 */
export function sampleValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const s of parseExposition(text)) {
    if (s.name !== name) continue;
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum = (sum ?? 0) + s.value;
  }
  return sum;
}

/**
 * Path of promtool: `SWITCHYARD_PROMTOOL` when set, else /usr/bin/promtool.
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING` when neither exists.
 */
export function promtoolBinary(): string {
  const path = process.env.SWITCHYARD_PROMTOOL ?? '/usr/bin/promtool';
  if (!existsSync(path))
    throw new TestkitError(
      TestkitErrorCode.binaryMissing,
      `promtool not found at ${path}: apt-get install -y prometheus, or set SWITCHYARD_PROMTOOL`,
    );
  return path;
}

/**
 * Runs `promtool check metrics` on `text`.
 * @returns promtool's exit status (0 clean, 3 lint problems, 1 invalid exposition) and its output.
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING` when promtool is not installed.
 */
export function promtoolCheckMetrics(text: string): { status: number | null; output: string } {
  const run = spawnSync(promtoolBinary(), ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (run.error !== undefined) throw run.error;
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

/**
 * Scrapes `url` until the sample `name` with `labels` equals `want` (a call's metrics are written when
 * its stream or response closes, a moment after the client saw its end).
 * @throws Error after `timeoutMs` (default 5000), naming the last value seen.
 */
export async function waitForSample(
  url: string,
  name: string,
  labels: Record<string, string>,
  want: number,
  timeoutMs = 5_000,
): Promise<void> {
  let seen: number | undefined;
  try {
    await waitFor(
      async () => {
        seen = sampleValue(await scrapeMetrics(url), name, labels);
        return seen === want;
      },
      { timeoutMs, what: `${name}${JSON.stringify(labels)} = ${want}` },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message} (last seen: ${seen})`, { cause: err });
  }
}
