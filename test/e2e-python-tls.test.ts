// Issue 8: the product page's Python client (test/python/kserve_client.py) with
// grpc.secure_channel(..., grpc.ssl_channel_credentials(ca)) through a proxy whose client listener
// speaks TLS, and whose worker dialled its tunnel over https (SWITCHYARD_CALLBACK_TLS_*): a session and
// its resume, end to end over TLS.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type SampleServerHandle, startInferenceServer } from '@switchyard/sample-functions';
import { type TestCertificates, writeTestCertificates } from '@switchyard/testkit';
import { RegionHarness } from '../services/worker/test/region.ts';

const PYTHON = '/usr/bin/python3';
const PY_DIR = fileURLToPath(new URL('./python/', import.meta.url));

function grpcMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} not runnable: ${probe.error.message}`;
  if (probe.status !== 0) return `${PYTHON} lacks grpcio/grpc_tools (apt python3-grpcio python3-grpc-tools)`;
  return undefined;
}

describe('the Python KServe client over TLS', { skip: grpcMissing() }, () => {
  const h = new RegionHarness();
  let container: SampleServerHandle;
  let dir = '';
  let certs: TestCertificates;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kserve-tls-'));
    const gen = spawnSync('sh', [join(PY_DIR, 'gen.sh'), join(dir, 'gen')], { encoding: 'utf8' });
    assert.equal(gen.status, 0, `gen.sh failed: ${gen.stderr}`);
    certs = writeTestCertificates(dir, ['proxy']);
    await h.start();
    const proxy = await h.addProxy({
      tlsCertFile: certs.leaves.proxy.cert,
      tlsKeyFile: certs.leaves.proxy.key,
      callbackTlsCertFile: certs.leaves.proxy.cert,
      callbackTlsKeyFile: certs.leaves.proxy.key,
    });
    assert.ok(proxy.callbackPort > 0);
    container = await startInferenceServer({ port: 0 });
    await h.addWorker({ callbackTlsCaFile: certs.ca, callbackAllowList: ['https://127.0.0.1:'] }, container);
  });
  after(async () => {
    await h.stop();
    await container?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('should open a session and resume it with grpc.ssl_channel_credentials(ca)', async () => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>(
      (resolve) => {
        const child = execFile(
          PYTHON,
          [join(PY_DIR, 'kserve_client.py')],
          {
            env: {
              PATH: process.env.PATH,
              GRPC_GATEWAY_ADDR: 'localhost',
              GRPC_GATEWAY_PORT: String(h.proxies[0].port),
              GRPC_GATEWAY_CA: certs.ca,
              FUNCTION_ID: h.functionId,
              FUNCTION_VERSION_ID: h.versionId,
              API_KEY: h.apiKey,
              EXPECT_SESSION: '1',
              KSERVE_GEN_DIR: join(dir, 'gen'),
            },
            timeout: 30_000,
          },
          (_err, out, err) => resolve({ stdout: String(out), stderr: String(err), code: child.exitCode }),
        );
      },
    );
    assert.equal(code, 0, `kserve_client.py exited ${code}: ${stderr}`);
    const seen = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    assert.equal(seen.ok, true);
    const [first, second] = seen.request_ids as (string | null)[];
    assert.match(String(first), /^[0-9a-f-]{36}$/);
    assert.equal(second, first, 'the resumed call carries the same nvcf-reqid');
    assert.deepEqual(seen.outputs.add_one, [2, 3.5, 0]);
  });
});
