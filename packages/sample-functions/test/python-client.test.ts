import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type SampleServerHandle, startInferenceServer } from '../src/index.ts';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const PYTHON_DIR = fileURLToPath(new URL('../../../test/python/', import.meta.url));

/** Why the Python client cannot run here, or undefined if it can. */
async function pythonUnavailable(): Promise<string | undefined> {
  try {
    await run(PYTHON, ['-c', 'import grpc, grpc_tools']);
    return undefined;
  } catch {
    return `${PYTHON} cannot import grpc and grpc_tools (install python3-grpcio and python3-grpc-tools)`;
  }
}

const skip = await pythonUnavailable();

describe('python KServe client', { skip }, () => {
  let server: SampleServerHandle;
  let genDir: string;

  before(async () => {
    genDir = await mkdtemp(join(tmpdir(), 'switchyard-pygen-'));
    await run(join(PYTHON_DIR, 'gen.sh'), [genDir]);
    server = await startInferenceServer({ instanceId: 'py-direct' });
  });

  after(async () => {
    await server?.stop();
    if (genDir) await rm(genDir, { recursive: true, force: true });
  });

  // Async execFile, never the sync form: the server answering the client lives in this process.
  function client(extraEnv: Record<string, string> = {}) {
    return run(PYTHON, [join(PYTHON_DIR, 'kserve_client.py')], {
      env: {
        PATH: process.env.PATH ?? '',
        GRPC_GATEWAY_ADDR: '127.0.0.1',
        GRPC_GATEWAY_PORT: String(server.port),
        FUNCTION_ID: '00000000-0000-4000-8000-000000000001',
        FUNCTION_VERSION_ID: '00000000-0000-4000-8000-000000000002',
        API_KEY: 'test-key',
        KSERVE_GEN_DIR: genDir,
        ...extraEnv,
      },
    });
  }

  it('should run add_one and echo against a direct server and print what it saw', async () => {
    const { stdout } = await client();
    const seen = JSON.parse(stdout);
    assert.equal(seen.ok, true);
    assert.deepEqual(seen.request_ids, [null, null]);
    assert.deepEqual(seen.container_request_ids, ['', '']);
    assert.deepEqual(seen.instance_ids, ['py-direct', 'py-direct']);
    assert.deepEqual(seen.outputs, { add_one: [2, 3.5, 0], echo: [7, 8, 9] });
  });

  it('should exit non-zero with a message when a session is expected but none was given', async () => {
    await assert.rejects(client({ EXPECT_SESSION: '1' }), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /no nvcf-reqid/);
      return true;
    });
  });

  it('should exit non-zero with the status when the gateway is unreachable', async () => {
    await assert.rejects(client({ GRPC_GATEWAY_PORT: '1' }), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /UNAVAILABLE/);
      return true;
    });
  });
});
