// The admin commands (functions, keys, sessions) run in-process against the real api service and a
// real nats-server: output, exit codes, and how the endpoint is found (flags, env, dev.json).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { encodeMessage, NatsNames, type SessionRecord } from '@switchyard/protocol';
import { SessionDirectory } from '@switchyard/session-directory';
import { type NatsServerHandle, startNats, stopAll } from '@switchyard/testkit';
import { NO_ENDPOINT_MESSAGE, runCli } from '../src/index.ts';
import { type ApiProcess, recordingIo, startApi } from './helpers.ts';

const ADMIN_TOKEN = 'cli-test-admin-token-0123456789';

let nats: NatsServerHandle;
let api: ApiProcess;
let nc: NatsConnection;
let directory: SessionDirectory;
let emptyDir: string;

/** Runs a command with --api/--admin-token flags; returns exit code and output. */
async function run(args: string[], env: Record<string, string> = {}) {
  const io = recordingIo(env, emptyDir);
  const code = await runCli([...args, '--api', api.url, '--admin-token', ADMIN_TOKEN], io);
  return { code, out: io.out, err: io.err };
}

before(async () => {
  nats = await startNats({});
  api = await startApi(nats.url, ADMIN_TOKEN);
  nc = await connect({ servers: nats.url });
  directory = await SessionDirectory.open(nc, { region: 'local' });
  emptyDir = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
});

after(async () => {
  await directory?.close();
  await nc?.close();
  await api?.stop();
  await stopAll();
  if (emptyDir) rmSync(emptyDir, { recursive: true, force: true });
});

describe('functions commands', () => {
  test('should create a function and print its IDs as JSON, then list, get and delete it', async () => {
    const created = await run(['functions', 'create', '--name', 'cli-echo', '--kind', 'grpc', '--account', 'acct-cli']);
    assert.equal(created.code, 0, created.err);
    const { functionId, versionId } = JSON.parse(created.out);
    assert.match(functionId, /^[0-9a-f-]{36}$/);
    assert.match(versionId, /^[0-9a-f-]{36}$/);

    const listed = await run(['functions', 'list', '--account', 'acct-cli']);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /^FUNCTION ID\s+NAME\s+KIND\s+ACCOUNT\s+VERSIONS\n/);
    assert.match(listed.out, new RegExp(`${functionId}\\s+cli-echo\\s+grpc\\s+acct-cli\\s+${versionId}`));
    const json = await run(['functions', 'list', '--json']);
    assert.ok(JSON.parse(json.out).some((f: { functionId: string }) => f.functionId === functionId));

    const got = await run(['functions', 'get', functionId]);
    assert.equal(JSON.parse(got.out).versions[0].versionId, versionId);

    const deleted = await run(['functions', 'delete', functionId]);
    assert.equal(deleted.code, 0, deleted.err);
    assert.match(deleted.out, /deleted function/);
    const gone = await run(['functions', 'get', functionId]);
    assert.equal(gone.code, 1);
    assert.match(gone.err, /HTTP 404 SY_FUNCTION_NOT_FOUND/);
    assert.match(gone.err, /hint: list functions with `switchyard functions list`/);
  });

  test('should create an HTTP function with an inference URL', async () => {
    const created = await run([
      'functions',
      'create',
      '--name',
      'cli-http',
      '--kind',
      'http',
      '--inference-url',
      '/v1/infer',
    ]);
    assert.equal(created.code, 0, created.err);
    const got = await run(['functions', 'get', JSON.parse(created.out).functionId]);
    assert.equal(JSON.parse(got.out).inferenceUrl, '/v1/infer');
  });

  test('should refuse a bad kind, a missing name and a bad ID with a usage error (exit 2)', async () => {
    const kind = await run(['functions', 'create', '--name', 'x', '--kind', 'tcp']);
    assert.equal(kind.code, 2);
    assert.match(kind.err, /--kind must be grpc or http, got "tcp"/);
    const missing = await run(['functions', 'create', '--kind', 'grpc']);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /required option '--name <name>' not specified/);
    const id = await run(['functions', 'delete', 'nope']);
    assert.equal(id.code, 2);
    assert.match(id.err, /FUNCTION_ID must be a UUID/);
  });

  test('should pass the API validation problems on when the name is invalid', async () => {
    const bad = await run(['functions', 'create', '--name', '-bad name', '--kind', 'grpc']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /HTTP 400 SY_REQUEST_INVALID: body\/name/);
  });
});

describe('keys commands', () => {
  test('should create a key shown once, list keys without it, and revoke it', async () => {
    const fn = JSON.parse((await run(['functions', 'create', '--name', 'keyed', '--kind', 'grpc'])).out);
    const created = await run(['keys', 'create', '--functions', fn.functionId, '--description', 'from the cli']);
    assert.equal(created.code, 0, created.err);
    const { keyId, key } = JSON.parse(created.out);
    assert.match(key, /^sy_/);

    const listed = await run(['keys', 'list']);
    assert.equal(listed.code, 0, listed.err);
    assert.ok(!listed.out.includes(key));
    assert.match(listed.out, new RegExp(`${keyId}\\s+default\\s+${fn.functionId}\\s+\\S+\\s+from the cli`));

    const revoked = await run(['keys', 'revoke', keyId]);
    assert.equal(revoked.code, 0, revoked.err);
    const relisted = JSON.parse((await run(['keys', 'list', '--json'])).out);
    assert.equal(typeof relisted.find((k: { keyId: string }) => k.keyId === keyId).revokedAtMs, 'number');

    const unknown = await run(['keys', 'revoke', randomUUID()]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /SY_API_KEY_NOT_FOUND/);
  });

  test('should create an all-functions key by default', async () => {
    const created = await run(['keys', 'create', '--account', 'acct-all']);
    assert.equal(created.code, 0, created.err);
    const listed = JSON.parse((await run(['keys', 'list', '--account', 'acct-all', '--json'])).out);
    assert.deepEqual(
      listed.map((k: { keyId: string; functions: unknown }) => [k.keyId, k.functions]),
      [[JSON.parse(created.out).keyId, '*']],
    );
  });
});

describe('sessions commands', () => {
  function record(workerId: string): SessionRecord {
    return {
      reqId: randomUUID(),
      accountId: 'default',
      functionId: randomUUID(),
      versionId: randomUUID(),
      workerId,
      region: 'local',
      createdAtMs: Date.now(),
    };
  }

  test('should list sessions with filters and get one as JSON', async () => {
    const a = record('cli-worker-a');
    const b = record('cli-worker-b');
    await directory.create(a);
    await directory.create(b);
    const listed = await run(['sessions', 'list', '--worker', 'cli-worker-a']);
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, /^REQUEST ID\s+REGION\s+WORKER/);
    assert.ok(listed.out.includes(a.reqId) && !listed.out.includes(b.reqId));
    const all = JSON.parse((await run(['sessions', 'list', '--region', 'local', '--json'])).out);
    assert.ok(all.some((s: SessionRecord) => s.reqId === b.reqId));
    const got = await run(['sessions', 'get', a.reqId]);
    assert.deepEqual(JSON.parse(got.out), a);
    const missing = await run(['sessions', 'get', randomUUID()]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /SY_SESSION_NOT_FOUND/);
  });

  test('should evict a session through its worker, and report a gone worker without failing', async () => {
    const live = record('cli-worker-live');
    const stale = record('cli-worker-gone');
    await directory.create(live);
    await directory.create(stale);
    const worker = await connect({ servers: nats.url });
    worker.subscribe(NatsNames.workerEvict(live.versionId, live.workerId), {
      callback: (_err, msg) => {
        msg.respond(encodeMessage({ ok: true }));
      },
    });
    await worker.flush();
    try {
      const evicted = await run(['sessions', 'evict', live.reqId]);
      assert.equal(evicted.code, 0, evicted.err);
      assert.equal(JSON.parse(evicted.out).evicted, true);
      const gone = await run(['sessions', 'evict', stale.reqId]);
      assert.equal(gone.code, 0, gone.err);
      assert.deepEqual(JSON.parse(gone.out).reason, 'worker-gone');
      assert.match(gone.err, /worker that held this session is gone/);
    } finally {
      await worker.close();
    }
  });
});

describe('finding the API', () => {
  test('should say to run npm start or pass --api and --admin-token when nothing is configured', async () => {
    const io = recordingIo({}, emptyDir);
    assert.equal(await runCli(['functions', 'list'], io), 1);
    assert.equal(io.err, `error: ${NO_ENDPOINT_MESSAGE}\n`);
  });

  test('should use SWITCHYARD_API_URL and SWITCHYARD_ADMIN_TOKEN', async () => {
    const io = recordingIo({ SWITCHYARD_API_URL: api.url, SWITCHYARD_ADMIN_TOKEN: ADMIN_TOKEN }, emptyDir);
    assert.equal(await runCli(['keys', 'list'], io), 0, io.err);
    assert.match(io.out, /KEY ID/);
  });

  test('should use the endpoint and token of dev.json in --state-dir', async () => {
    const stateDir = join(emptyDir, 'state');
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(
      join(stateDir, 'dev.json'),
      JSON.stringify({
        region: 'local',
        endpoints: {
          grpc: '127.0.0.1:1',
          callback: 'http://127.0.0.1:2',
          api: api.url,
          nats: [nats.url],
          redis: 'redis://127.0.0.1:3',
        },
        adminToken: ADMIN_TOKEN,
        apiKey: 'sy_x',
        apiKeyId: randomUUID(),
        functions: {},
        pids: {},
        startedAtMs: Date.now(),
      }),
    );
    const io = recordingIo({}, emptyDir);
    assert.equal(await runCli(['functions', 'list', '--state-dir', 'state'], io), 0, io.err);
    assert.match(io.out, /FUNCTION ID|\(none\)/);
  });

  test('should explain a wrong admin token and an unreachable API', async () => {
    const wrong = recordingIo({}, emptyDir);
    assert.equal(
      await runCli(['keys', 'list', '--api', api.url, '--admin-token', 'wrong-token-wrong-token'], wrong),
      1,
    );
    assert.match(wrong.err, /HTTP 401 SY_ADMIN_TOKEN_INVALID/);
    assert.match(wrong.err, /hint: the admin token does not match/);
    const down = recordingIo({}, emptyDir);
    assert.equal(await runCli(['keys', 'list', '--api', 'http://127.0.0.1:1', '--admin-token', ADMIN_TOKEN], down), 1);
    assert.match(down.err, /cannot reach the API at http:\/\/127\.0\.0\.1:1/);
    assert.match(down.err, /hint: start the dev stack with `npm start`/);
  });

  test('should print help for every command and exit 0', async () => {
    for (const args of [
      ['--help'],
      ['dev', '--help'],
      ['functions', 'create', '--help'],
      ['keys', '--help'],
      ['sessions', 'evict', '--help'],
      ['worker', '--help'],
    ]) {
      const io = recordingIo({}, emptyDir);
      assert.equal(await runCli(args, io), 0, `${args.join(' ')}: ${io.err}`);
      assert.match(io.out, /Usage: switchyard/);
    }
    const unknown = recordingIo({}, emptyDir);
    assert.equal(await runCli(['frobnicate'], unknown), 2);
    assert.match(unknown.err, /unknown command 'frobnicate'/);
  });
});
