// The image, checked statically (building it takes minutes and a registry or scripts/build-image.sh
// --local-base, so it is not part of npm test): the Dockerfile's essentials and the .dockerignore.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Dockerfile instructions (continuations joined, comments dropped) as [KEYWORD, arguments]. */
function instructions(text: string): [string, string][] {
  const out: [string, string][] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && current === '')) continue;
    current += ` ${line.replace(/\\$/, '')}`;
    if (!line.endsWith('\\')) {
      const [keyword = '', ...rest] = current.trim().split(/\s+/);
      out.push([keyword.toUpperCase(), rest.join(' ')]);
      current = '';
    }
  }
  return out;
}

const dockerfile = instructions(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const stages = dockerfile.filter(([k]) => k === 'FROM');
const finalStage = dockerfile.slice(dockerfile.findLastIndex(([k]) => k === 'FROM'));
const args = (keyword: string, within = dockerfile) => within.filter(([k]) => k === keyword).map(([, a]) => a);

test('Dockerfile should be multi-stage on a Node 24 slim base chosen by BASE_IMAGE', () => {
  assert.ok(stages.length >= 2, 'at least a dependency stage and a runtime stage');
  assert.ok(
    args('ARG').some((a) => /^BASE_IMAGE=node:24(\.[\d.]+)?-slim$/.test(a)),
    'ARG BASE_IMAGE=node:24-slim',
  );
  for (const [, from] of stages) assert.match(from, /^\$\{BASE_IMAGE\}/);
});

test('Dockerfile should install production dependencies only, with npm ci', () => {
  const runs = args('RUN').join('\n');
  assert.match(runs, /npm ci [^\n]*--omit=dev/);
  assert.doesNotMatch(runs, /npm (install|i) /);
  // the runtime stage copies what the dependency stage installed, not the build context
  assert.ok(
    args('COPY', finalStage).every((a) => a.startsWith('--from=')),
    'runtime stage copies only from the deps stage',
  );
});

test('Dockerfile should run as a non-root user under an init, with the Node options, probes and serve as entry point', () => {
  const user = args('USER', finalStage).at(-1) ?? '';
  assert.ok(user !== '' && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
  const entrypoint = JSON.parse(args('ENTRYPOINT', finalStage).at(-1) ?? '[]') as string[];
  assert.match(entrypoint[0] ?? '', /tini$/, 'tini as PID 1');
  assert.deepEqual(entrypoint.slice(-2), ['switchyard', 'serve'], 'CMD is the service name');
  const env = args('ENV', finalStage).join(' ');
  assert.match(env, /NODE_OPTIONS=--expose-gc/);
  assert.match(env, /SWITCHYARD_METRICS_PORT=\d+/);
  assert.ok(
    args('HEALTHCHECK', finalStage).some((a) => /CMD/.test(a)),
    'HEALTHCHECK',
  );
  assert.equal(args('STOPSIGNAL', finalStage).at(-1), 'SIGTERM');
});

test('.dockerignore should keep node_modules, .git and local state out of the build context', () => {
  const patterns = readFileSync(join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  for (const want of ['node_modules', '.git', '.switchyard']) {
    assert.ok(
      patterns.some((p) => p === want || p === `**/${want}`),
      `.dockerignore lacks ${want}`,
    );
  }
  // the lockfile and the sources stay in (npm ci needs the lockfile)
  for (const kept of ['package-lock.json', 'package.json', 'packages', 'services']) {
    assert.ok(!patterns.includes(kept), `.dockerignore drops ${kept}`);
  }
});
