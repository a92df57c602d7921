// The NATS connection fields and connectNats against a real nats-server with mutual TLS and users:
// config problems listed at start, user/password and nkey seed over TLS, the inbox prefix, and how an
// authorization or permissions violation reads.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { nkeys } from '@nats-io/nats-core';
import { ConfigError, loadConfig } from '@switchyard/config';
import {
  freePort,
  type NatsFileServerHandle,
  startNatsFromFile,
  stopAll,
  type TestCertificates,
  writeTestCertificates,
} from '@switchyard/testkit';
import { z } from 'zod';
import {
  connectNats,
  NATS_REFINE_WHEN,
  NatsConnectError,
  NatsConnectErrorCode,
  natsConnectionFields,
  refineNatsConnection,
} from '../src/index.ts';

const Schema = z
  .object({ natsServers: z.array(z.string()).min(1), ...natsConnectionFields })
  .superRefine(refineNatsConnection, NATS_REFINE_WHEN);

function load(env: Record<string, string>) {
  return loadConfig(Schema, { service: 'test', env: { SWITCHYARD_NATS_SERVERS: 'nats://127.0.0.1:1', ...env } });
}

function problemsOf(env: Record<string, string>): string[] {
  try {
    load(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

const dir = mkdtempSync(join(tmpdir(), 'switchyard-nats-connect-'));
let certs: TestCertificates;
const userKey = nkeys.createUser();
let server: NatsFileServerHandle;
let url = '';

before(async () => {
  certs = writeTestCertificates(dir, ['server', 'client', 'other']);
  const port = await freePort();
  const monitorPort = await freePort();
  url = `tls://127.0.0.1:${port}`;
  const perms = (user: string) =>
    `permissions: { publish: { allow: ["allowed.>"] }, subscribe: { allow: ["allowed.>", "_INBOX_${user}.>"] }, allow_responses: true }`;
  writeFileSync(
    join(dir, 'server.conf'),
    `host: 127.0.0.1
port: ${port}
http: "127.0.0.1:${monitorPort}"
tls { cert_file: "${certs.leaves.server.cert}", key_file: "${certs.leaves.server.key}", ca_file: "${certs.ca}", verify: true }
authorization {
  users: [
    { user: alice, password: "s3cret-password", ${perms('alice')} }
    { nkey: ${userKey.getPublicKey()}, ${perms('nk')} }
  ]
}
`,
  );
  server = await startNatsFromFile({ name: 'nats-tls', configFile: join(dir, 'server.conf'), env: {}, monitorPort });
});

after(async () => {
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('NATS connection config', () => {
  test('should list every bad file and half pair at once, each under its SWITCHYARD_NATS_ variable', () => {
    writeFileSync(join(dir, 'not-creds'), 'hello');
    const problems = problemsOf({
      SWITCHYARD_NATS_CREDS: join(dir, 'missing.creds'),
      SWITCHYARD_NATS_NKEY_SEED: join(dir, 'not-creds'),
      SWITCHYARD_NATS_USER: 'alice',
      SWITCHYARD_NATS_TLS_CA: join(dir, 'not-creds'),
      SWITCHYARD_NATS_TLS_CERT: certs.leaves.client.cert,
      SWITCHYARD_NATS_INBOX_PREFIX: '_INBOX.*',
    });
    const line = (variable: string) => problems.find((p) => p.startsWith(`${variable} `)) ?? '';
    assert.match(line('SWITCHYARD_NATS_CREDS'), /cannot read the file: ENOENT/);
    assert.match(line('SWITCHYARD_NATS_NKEY_SEED'), /not an nkey user seed/);
    assert.match(line('SWITCHYARD_NATS_PASSWORD'), /required when SWITCHYARD_NATS_USER is set/);
    assert.match(line('SWITCHYARD_NATS_TLS_CA'), /not a PEM certificate/);
    assert.match(line('SWITCHYARD_NATS_TLS_KEY'), /required when SWITCHYARD_NATS_TLS_CERT is set/);
    assert.match(line('SWITCHYARD_NATS_INBOX_PREFIX'), /without wildcards/);
    assert.ok(
      problems.some((p) => /set one way to authenticate/.test(p)),
      `no "one way" problem in:\n${problems.join('\n')}`,
    );
  });

  test("should refuse a creds file whose seed is not a seed, and a key that is not the certificate's", () => {
    writeFileSync(
      join(dir, 'bad.creds'),
      '-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.x\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\nSUNOTASEED\n------END USER NKEY SEED------\n',
    );
    const problems = problemsOf({
      SWITCHYARD_NATS_CREDS: join(dir, 'bad.creds'),
      SWITCHYARD_NATS_TLS_CERT: certs.leaves.client.cert,
      SWITCHYARD_NATS_TLS_KEY: certs.leaves.other.key,
    });
    assert.ok(
      problems.some((p) => /^SWITCHYARD_NATS_CREDS .*not a usable NATS creds file/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /^SWITCHYARD_NATS_TLS_KEY .*not the private key/.test(p)),
      problems.join('\n'),
    );
  });

  test('should accept a creds file and default the inbox prefix to _INBOX', () => {
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    writeFileSync(
      join(dir, 'good.creds'),
      `-----BEGIN NATS USER JWT-----\neyJ0eXAiOiJKV1QifQ.e30.x\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`,
    );
    const config = load({ SWITCHYARD_NATS_CREDS: join(dir, 'good.creds') });
    assert.equal(config.natsInboxPrefix, '_INBOX');
  });
});

describe('connectNats over mutual TLS', () => {
  const tlsEnv = () => ({
    SWITCHYARD_NATS_SERVERS: url,
    SWITCHYARD_NATS_TLS_CA: certs.ca,
    SWITCHYARD_NATS_TLS_CERT: certs.leaves.client.cert,
    SWITCHYARD_NATS_TLS_KEY: certs.leaves.client.key,
  });

  test('should connect with user/password, use its inbox prefix for requests, and log a permissions violation', async () => {
    const errors: { details: object; message: string }[] = [];
    const nc = await connectNats(
      load({
        ...tlsEnv(),
        SWITCHYARD_NATS_USER: 'alice',
        SWITCHYARD_NATS_PASSWORD: 's3cret-password',
        SWITCHYARD_NATS_INBOX_PREFIX: '_INBOX_alice',
      }),
      { name: 'test-alice', logger: { error: (details, message) => errors.push({ details, message }) } },
    );
    try {
      const sub = nc.subscribe('allowed.echo', {
        callback: (_err, msg) => {
          msg.respond(msg.reply ?? '');
        },
      });
      await nc.flush();
      const reply = await nc.request('allowed.echo', '', { timeout: 2_000 });
      assert.match(reply.string(), /^_INBOX_alice\./);
      sub.unsubscribe();
      nc.publish('forbidden.subject', 'x');
      await nc.flush();
      for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.match(
        errors[0]?.message ?? '',
        /NATS permissions violation: user "alice" .* may not publish to "forbidden.subject"/,
      );
    } finally {
      await nc.close();
    }
  });

  test('should connect with an nkey seed file', async () => {
    writeFileSync(join(dir, 'user.nk'), `${new TextDecoder().decode(userKey.getSeed())}\n`);
    const nc = await connectNats(
      load({ ...tlsEnv(), SWITCHYARD_NATS_NKEY_SEED: join(dir, 'user.nk'), SWITCHYARD_NATS_INBOX_PREFIX: '_INBOX_nk' }),
      { name: 'test-nkey' },
    );
    await nc.request('allowed.none', '', { timeout: 1_000 }).catch(() => undefined); // no responders, no violation
    await nc.close();
  });

  test('should say "authorization violation" and name the user when the password is wrong', async () => {
    await assert.rejects(
      connectNats(load({ ...tlsEnv(), SWITCHYARD_NATS_USER: 'alice', SWITCHYARD_NATS_PASSWORD: 'wrong-password' })),
      (err: unknown) => {
        assert.ok(err instanceof NatsConnectError);
        assert.equal(err.code, NatsConnectErrorCode.authorization);
        assert.match(err.message, /authorization violation.*user "alice"/);
        assert.doesNotMatch(err.message, /wrong-password/);
        return true;
      },
    );
  });

  test('should fail as unreachable, naming the TLS settings, when the client has no certificate', async () => {
    await assert.rejects(
      connectNats(
        load({
          SWITCHYARD_NATS_SERVERS: url,
          SWITCHYARD_NATS_TLS_CA: certs.ca,
          SWITCHYARD_NATS_USER: 'alice',
          SWITCHYARD_NATS_PASSWORD: 's3cret-password',
        }),
        { reconnect: false },
      ),
      (err: unknown) => {
        assert.ok(err instanceof NatsConnectError);
        assert.equal(err.code, NatsConnectErrorCode.unreachable);
        assert.match(err.message, /SWITCHYARD_NATS_TLS_CA/);
        return true;
      },
    );
    assert.ok(server.logLines('TLS handshake error').length > 0, server.logTail());
  });
});
