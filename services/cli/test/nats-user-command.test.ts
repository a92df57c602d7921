// `switchyard nats-user worker`: the user block of one function version's workers, checked by a real
// nats-server (`-t`), with a generated nkey whose seed is written 0600.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { natsServerBinary } from '@switchyard/testkit';
import { type CliIo, runCli } from '../src/index.ts';

const VERSION = '6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f';
const dir = mkdtempSync(join(tmpdir(), 'switchyard-nats-user-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), env: {}, cwd: dir };
  const code = await runCli(argv, io);
  return { code, out: out.join(''), err: err.join('') };
}

describe('switchyard nats-user worker', () => {
  test('should print a block nats-server accepts, scoped to the version, and write the seed 0600', async () => {
    const seed = join(dir, 'worker.nk');
    const { code, out, err } = await run([
      'nats-user',
      'worker',
      '--version-id',
      VERSION,
      '--region',
      'us-east,eu-west',
      '--seed-out',
      seed,
    ]);
    assert.equal(code, 0, err);
    assert.match(readFileSync(seed, 'utf8'), /^SU[A-Z2-7]{56}\n$/);
    assert.equal(statSync(seed).mode & 0o777, 0o600);
    assert.match(out, new RegExp(`"worker\\.${VERSION}\\.>"`));
    assert.match(out, new RegExp(`"_INBOX_worker_${VERSION}\\.>"`));
    assert.match(out, new RegExp(`"\\$JS\\.API\\.CONSUMER\\.MSG\\.NEXT\\.TICKETS_eu-west\\.workers_${VERSION}"`));
    assert.doesNotMatch(out, /workers_\*|KV_ctl_\*|"_INBOX\.>"|"\$KV\.ctl_/);
    writeFileSync(join(dir, 'server.conf'), `port: -1\naccounts { A { users: [\n${out}] } }\n`);
    execFileSync(natsServerBinary(), ['-t', '-c', join(dir, 'server.conf')], { stdio: 'pipe' });
  });

  test('should refuse a generated nkey without --seed-out, and a bad version or nkey', async () => {
    assert.equal((await run(['nats-user', 'worker', '--version-id', VERSION, '--region', 'us-east'])).code, 2);
    assert.equal((await run(['nats-user', 'worker', '--version-id', 'a.b', '--region', 'r', '--nkey', 'Ux'])).code, 2);
    const bad = await run(['nats-user', 'worker', '--version-id', VERSION, '--region', 'us-east', '--nkey', 'SUABC']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /public user nkey/);
  });
});
