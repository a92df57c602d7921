// G5, G6, G7: the product page's Python client (test/python/kserve_client.py, grpcio) against a
// region whose worker fronts the sample KServe v2 inference server: a new session, then a resume
// with the nvcf-reqid it was given, reaching the same container instance.

import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type SampleServerHandle, startInferenceServer } from '@switchyard/sample-functions';
import { RegionHarness } from '../services/worker/test/region.ts';

const PYTHON = '/usr/bin/python3';
const PY_DIR = fileURLToPath(new URL('./python/', import.meta.url));

function grpcMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON} not runnable: ${probe.error.message}`;
  if (probe.status !== 0) return `${PYTHON} lacks grpcio/grpc_tools (apt python3-grpcio python3-grpc-tools)`;
  return undefined;
}

const skip = grpcMissing();

describe('the Python KServe client through Switchyard', { skip }, () => {
  const h = new RegionHarness();
  let container: SampleServerHandle;
  let genDir = '';
  before(async () => {
    genDir = mkdtempSync(join(tmpdir(), 'kserve-gen-'));
    const gen = spawnSync('sh', [join(PY_DIR, 'gen.sh'), genDir], { encoding: 'utf8' });
    assert.equal(gen.status, 0, `gen.sh failed: ${gen.stderr}`);
    await h.start();
    await h.addProxy();
    container = await startInferenceServer({ port: 0 });
    await h.addWorker({}, container);
  });
  after(async () => {
    await h.stop();
    await container?.stop();
    if (genDir) rmSync(genDir, { recursive: true, force: true });
  });

  test('G7: should let the Python client resume its session with the nvcf-reqid it was given', async () => {
    const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>(
      (resolve) => {
        const child = execFile(
          PYTHON,
          [join(PY_DIR, 'kserve_client.py')],
          {
            env: {
              PATH: process.env.PATH,
              GRPC_GATEWAY_ADDR: '127.0.0.1',
              GRPC_GATEWAY_PORT: String(h.proxies[0].port),
              FUNCTION_ID: h.functionId,
              FUNCTION_VERSION_ID: h.versionId,
              API_KEY: h.apiKey,
              EXPECT_SESSION: '1',
              KSERVE_GEN_DIR: genDir,
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
    assert.match(String(first), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(second, first, 'the resumed call carries the same nvcf-reqid');
    assert.deepEqual(seen.container_request_ids, [first, first], 'the container saw the session id twice');
    assert.equal(seen.instance_ids[0], container.instanceId);
    assert.equal(seen.instance_ids[1], container.instanceId, 'same instance');
    assert.deepEqual(seen.session_calls, [1, 2]);
    assert.deepEqual(seen.outputs.add_one, [2, 3.5, 0]);
  });
});
