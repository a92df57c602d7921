// Every subject, stream and bucket the production NATS permissions name (infra/nats/production/
// permissions.conf, and the worker user block `switchyard nats-user worker` prints) is one the code
// uses: core subjects must match a subject NatsNames builds, streams and buckets must be NatsNames'
// (a permission for a bucket nobody creates is dead config, or a name the code spells otherwise).
// That the permissions are enough for what the services do is test/nats-production.test.ts's job.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nkeys } from '@nats-io/nats-core';
import { renderWorkerNatsUser } from '@switchyard/nats-connect';
import { InstanceKind, NatsNames } from '@switchyard/protocol';
import { ROLES } from './nats-production-stack.ts';

const PRODUCTION = fileURLToPath(new URL('../infra/nats/production/', import.meta.url));
const R = 'r1';
const V = 'v1';

/** NATS subject matching: `*` is one token, `>` one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Core (non-JetStream) subjects the code builds, with sample tokens. */
const CODE_SUBJECTS = [
  NatsNames.ticketSubject(R, V, 'q1'),
  NatsNames.workerReconnect(V, 'w1'),
  NatsNames.workerEvict(V, 'w1'),
  NatsNames.proxyAttach('p1'),
  NatsNames.proxySessionEnded('p1'),
  NatsNames.invocationResult(R),
  NatsNames.healthBeatRequest,
  ...Object.values(InstanceKind).map((kind) => NatsNames.healthSubject(R, kind, 'i1')),
  ...ROLES.map((role) => `_INBOX_${role}.x1`),
  `_INBOX_worker_${V}.x1`,
];
/** Buckets and streams the code creates (region-scoped ones with the sample region). */
const BUCKETS = [
  NatsNames.functionsBucket,
  NatsNames.versionsBucket,
  NatsNames.apiKeysBucket,
  NatsNames.sessionBucket(R),
];
const STREAMS = [...BUCKETS.map((b) => `KV_${b}`), NatsNames.ticketStream(R)];
const CONSUMERS = [NatsNames.ticketConsumer(V)];

/** The quoted subjects of a NATS config text (comments and the `expires` duration left out). */
function subjectsOf(text: string): string[] {
  const code = text
    .split('\n')
    .map((line) => line.replace(/\s#.*$|^\s*#.*$/, ''))
    .join('\n')
    .replace(/expires:\s*"[^"]*"/g, '');
  return [...code.matchAll(/"([^"]+)"/g)].map((m) => m[1] as string);
}

/** What is wrong with one permission subject, or undefined when the code uses what it names. */
function problem(subject: string): string | undefined {
  if (subject === '>') return undefined; // everything (a deny-all)
  if (subject.startsWith('$KV.')) {
    const bucket = subject.split('.')[1] as string;
    return bucket === '*' || bucket === '>' || BUCKETS.includes(bucket)
      ? undefined
      : `bucket ${bucket} is no bucket of the code`;
  }
  if (subject.startsWith('$JS.')) {
    // $JS.API.<STREAM|CONSUMER|DIRECT>.<OP...>.<stream>[.<consumer>...], $JS.ACK.<stream>.<consumer>.>,
    // $JS.FC.<stream>.>: every token that is neither an API word nor a wildcard must be a code name
    const names = subject
      .split('.')
      .slice(1)
      .filter((t) => !/^[A-Z]+$/.test(t) && t !== '*' && t !== '>' && t !== '$JS');
    // (the tokens of a consumer's filter subject, rq.<r>.<v>.*, are the sample region and version)
    const unknown = names.filter((t) => !STREAMS.includes(t) && !CONSUMERS.includes(t) && ![R, V, 'rq'].includes(t));
    return unknown.length === 0 ? undefined : `names ${unknown.join(', ')}, no stream or consumer of the code`;
  }
  return CODE_SUBJECTS.some((s) => matches(subject, s)) ? undefined : 'matches no subject the code builds';
}

/** Asserts that a config text names enough subjects (it was parsed) and only ones the code uses. */
function assertOnlyCodeNames(text: string, atLeast: number): void {
  const subjects = subjectsOf(text);
  assert.ok(subjects.length >= atLeast, `only ${subjects.length} subjects parsed`);
  const problems = subjects.flatMap((s) => {
    const p = problem(s);
    return p === undefined ? [] : [`${s}: ${p}`];
  });
  assert.deepEqual(problems, []);
}

describe('infra/nats production permissions name only what the code uses', () => {
  test('permissions.conf: every subject, stream and bucket', () => {
    assertOnlyCodeNames(readFileSync(join(PRODUCTION, 'permissions.conf'), 'utf8'), 30);
  });

  test('the generated worker user: every subject, stream and bucket', () => {
    const nkey = nkeys.createUser().getPublicKey();
    assertOnlyCodeNames(renderWorkerNatsUser({ versionId: V, regions: [R], nkey }), 15);
  });

  test('the check can fail: a bucket, a stream and a subject nobody uses are reported', () => {
    assert.match(problem('$KV.ctl_worker_keys.>') ?? '', /ctl_worker_keys/);
    assert.match(problem('$JS.API.STREAM.MSG.DELETE.KV_ctl_worker_keys') ?? '', /KV_ctl_worker_keys/);
    assert.match(problem('health.*.api.*') ?? '', /no subject/);
    assert.equal(problem('health.*.grpc-proxy.*'), undefined);
    assert.equal(problem('$JS.API.CONSUMER.CREATE.*.>'), undefined);
  });
});
