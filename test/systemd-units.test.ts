// The VM path (infra/systemd): a unit per service that runs `switchyard serve <service>` as a
// non-root user with its env file, restarts on failure, stops with SIGTERM and waits for the drain;
// example env files that the services' own config schemas accept and that name only variables the
// service reads; and, where systemd-analyze is on PATH, `systemd-analyze verify` without complaints.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { nkeys } from '@nats-io/nats-core';
import { ApiConfigSchema } from '@switchyard/api';
import { loadConfig } from '@switchyard/config';
import { GeoDnsConfigSchema } from '@switchyard/geodns';
import { ProxyConfigSchema } from '@switchyard/grpc-proxy';
import { InvocationConfigSchema } from '@switchyard/invocation';
import { writeTestCertificates } from '@switchyard/testkit';
import { WorkerConfigSchema } from '@switchyard/worker';
import type { z } from 'zod';
import {
  DEPLOYED_SERVICES,
  type DeployedService,
  documentedVariables,
  unknownVariables,
} from './deploy-config-names.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'infra/systemd');
const documented = documentedVariables();
const SCHEMAS: Record<DeployedService, z.ZodObject> = {
  'grpc-proxy': ProxyConfigSchema,
  invocation: InvocationConfigSchema,
  api: ApiConfigSchema,
  worker: WorkerConfigSchema,
  geodns: GeoDnsConfigSchema,
};
/**
 * The example env files name certificate files under /etc/switchyard/tls, which the schemas read at
 * load: each such variable is pointed at a generated certificate (or key) of the same role instead.
 */
function withTestCertificates(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const tmp = mkdtempSync(join(tmpdir(), 'sy-systemd-tls-'));
  const certs = writeTestCertificates(tmp, ['leaf']);
  const out = { ...env };
  for (const name of Object.keys(out)) {
    if (name === 'SWITCHYARD_NATS_NKEY_SEED' && out[name]?.startsWith('/etc/switchyard/nats/')) {
      // the seed file an operator puts there (`nk -gen user`), read and checked at load
      const seedFile = join(tmp, 'nats.nk');
      writeFileSync(seedFile, `${new TextDecoder().decode(nkeys.createUser().getSeed())}\n`);
      out[name] = seedFile;
      continue;
    }
    if (!out[name]?.startsWith('/etc/switchyard/tls/')) continue;
    if (/_KEY(_FILE)?$/.test(name)) out[name] = certs.leaves.leaf.key;
    else if (/_CA(_FILE)?$/.test(name)) out[name] = certs.ca;
    else if (/_CERT(_FILE)?$/.test(name)) out[name] = certs.leaves.leaf.cert;
  }
  return out;
}
/** Longest drain of a service on SIGTERM (the process policy's bound, and invocation's default). */
const DRAIN_MS = 10_000;

/** A unit file as section -> key -> values (a key may repeat). */
type Unit = Map<string, Map<string, string[]>>;

function parseUnit(text: string): Unit {
  const unit: Unit = new Map();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header?.[1]) {
      section = header[1];
      unit.set(section, unit.get(section) ?? new Map());
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(eq > 0 && section, `not a unit line: ${line}`);
    const values = unit.get(section) as Map<string, string[]>;
    const key = line.slice(0, eq).trim();
    values.set(key, [...(values.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return unit;
}

function one(unit: Unit, section: string, key: string): string {
  const values = unit.get(section)?.get(key) ?? [];
  assert.equal(values.length, 1, `[${section}] ${key}: expected one value, got ${values.length}`);
  return values[0] as string;
}

/** systemd time span ("30s", "2min", "150") in ms. */
function spanMs(text: string): number {
  const m = /^(\d+)\s*(ms|s|min)?$/.exec(text);
  assert.ok(m, `time span ${text}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, min: 60_000 }[m[2] ?? 's'] ?? 1000);
}

const unitFile = (service: DeployedService) =>
  service === 'worker' ? 'switchyard-worker@.service' : `switchyard-${service}.service`;

describe('infra/systemd', () => {
  for (const service of DEPLOYED_SERVICES) {
    test(`${unitFile(service)} should run switchyard serve ${service} as a non-root user and wait for its drain`, () => {
      const unit = parseUnit(readFileSync(join(dir, unitFile(service)), 'utf8'));
      const exec = one(unit, 'Service', 'ExecStart').split(/\s+/);
      assert.deepEqual(exec.slice(-2), ['serve', service]);
      assert.match(exec[0] ?? '', /^\//, 'ExecStart needs an absolute path');
      assert.match(exec.join(' '), /switchyard(\.js)? serve/);
      const envFile = service === 'worker' ? '/etc/switchyard/worker-%i.env' : `/etc/switchyard/${service}.env`;
      assert.equal(one(unit, 'Service', 'EnvironmentFile'), envFile);
      const user = one(unit, 'Service', 'User');
      assert.ok(user !== 'root' && user !== '0', `User=${user}`);
      assert.equal(one(unit, 'Service', 'Restart'), 'on-failure');
      assert.equal(one(unit, 'Service', 'KillSignal'), 'SIGTERM');
      assert.equal(one(unit, 'Service', 'NoNewPrivileges'), 'yes');
      assert.equal(one(unit, 'Service', 'ProtectSystem'), 'strict');
      // exit 2 is a bad command line: restarting cannot help
      assert.equal(one(unit, 'Service', 'RestartPreventExitStatus'), '2');
      // with the service's Node options present, serve runs in-process: systemd signals the service itself
      assert.ok(
        unit.get('Service')?.get('Environment')?.includes('NODE_OPTIONS=--expose-gc'),
        'Environment=NODE_OPTIONS=--expose-gc',
      );
      // the stop timeout covers the drain, the example's drain timeout and a margin
      const example = parseEnv(readFileSync(join(dir, 'env', `${service}.env`), 'utf8'));
      const drain = Math.max(DRAIN_MS, Number(example.SWITCHYARD_DRAIN_TIMEOUT_MS ?? 0));
      assert.ok(spanMs(one(unit, 'Service', 'TimeoutStopSec')) >= drain + 5000, 'TimeoutStopSec < drain + 5 s');
      // V8 needs writable+executable memory for its compiled code
      assert.notEqual(unit.get('Service')?.get('MemoryDenyWriteExecute')?.[0], 'yes');
    });

    test(`env/${service}.env should be a valid ${service} configuration of documented variables only`, () => {
      const env = parseEnv(readFileSync(join(dir, 'env', `${service}.env`), 'utf8'));
      assert.deepEqual(unknownVariables(service, Object.keys(env), documented), []);
      // the service's own schema accepts it, required variables included (throws ConfigError otherwise)
      assert.doesNotThrow(() => loadConfig(SCHEMAS[service], { service, env: withTestCertificates(env) }));
    });
  }

  test('nats-server.service should run production/server.conf in lame duck stop, with every variable it reads', () => {
    const unit = parseUnit(readFileSync(join(dir, 'nats-server.service'), 'utf8'));
    assert.match(one(unit, 'Service', 'ExecStart'), /nats-server -c \/etc\/nats\/server\.conf$/);
    assert.notEqual(one(unit, 'Service', 'User'), 'root');
    assert.equal(one(unit, 'Service', 'KillSignal'), 'SIGUSR2');
    assert.equal(one(unit, 'Service', 'Restart'), 'on-failure');
    const env = parseEnv(readFileSync(join(dir, 'env', 'nats-server.env'), 'utf8'));
    const conf = ['server.conf', 'accounts.conf', 'users.conf', 'permissions.conf']
      .map((f) => readFileSync(join(root, 'infra/nats/production', f), 'utf8'))
      .join('\n')
      .replace(/#.*$/gm, '')
      .replace(/"[^"]*"/g, ''); // quoted subjects ($JS.API..., $KV...) are not variables
    // Variables the files define themselves (`NAME: ...`) are not the environment's.
    const defined = new Set([...conf.matchAll(/^\s*([A-Z][A-Z0-9_]+)\s*[:=]/gm)].map((m) => m[1] as string));
    const wanted = new Set(
      [...conf.matchAll(/\$([A-Z][A-Z0-9_]+)/g)].map((m) => m[1] as string).filter((v) => !defined.has(v)),
    );
    assert.deepEqual(
      [...wanted].filter((v) => !(v in env)),
      [],
    );
  });

  test('should flag an undocumented variable and a config the schema refuses (the checks can fail)', () => {
    assert.deepEqual(unknownVariables('api', ['SWITCHYARD_CALLBACK_URI'], documented), ['SWITCHYARD_CALLBACK_URI']);
    assert.throws(() => loadConfig(ApiConfigSchema, { service: 'api', env: { SWITCHYARD_PORT: '8088' } }));
  });

  const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
  test('should pass systemd-analyze verify', { skip: analyze.status !== 0 && 'systemd-analyze is not on PATH' }, () => {
    const work = mkdtempSync(join(tmpdir(), 'switchyard-units-'));
    try {
      const units = ['nats-server.service', ...DEPLOYED_SERVICES.map(unitFile)];
      for (const u of units) copyFileSync(join(dir, u), join(work, u));
      copyFileSync(join(dir, 'switchyard-worker@.service'), join(work, 'switchyard-worker@example.service'));
      const verify = (names: string[]) =>
        spawnSync('systemd-analyze', ['verify', ...names.map((n) => join(work, n))], { encoding: 'utf8' });
      // binaries that are not installed on this machine are the only complaint allowed
      const complaints = (out: string) =>
        out.split('\n').filter((l) => l.trim() !== '' && !/is not executable: No such file or directory/.test(l));
      const r = verify([...units.filter((u) => !u.endsWith('@.service')), 'switchyard-worker@example.service']);
      assert.deepEqual(complaints(r.stdout + r.stderr), []);
      // and it does complain about a broken unit
      const broken = readFileSync(join(dir, 'switchyard-api.service'), 'utf8').replace(
        'ProtectSystem=strict',
        'ProtectSystem=strictly',
      );
      writeFileSync(join(work, 'broken.service'), broken);
      assert.notDeepEqual(complaints(verify(['broken.service']).stderr), []);
    } finally {
      if (existsSync(work)) rmSync(work, { recursive: true, force: true });
    }
  });
});
