// The README's HTTP invocation examples as a test: every `sh` block of that section that runs curl
// is executed with the real curl binary (bash, `set -euo pipefail`, curl made to fail on HTTP >= 400)
// against a test region whose worker fronts the real HTTP sample function.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type SampleServerHandle, SSE_DELAY_HEADER, startHttpSampleServer } from '@switchyard/sample-functions';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

const run = promisify(execFile);
const README = new URL('../../../README.md', import.meta.url);

/** `sh` code blocks of the README section whose heading starts with `## HTTP invocation`, that call curl. */
function curlBlocks(): string[] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## HTTP invocation');
  assert.ok(start >= 0, 'README has an HTTP invocation section');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1])
    .filter((block) => /^\s*(\w+=\$\()?curl /m.test(block) && !block.includes('.switchyard/dev.json'));
}

describe('README HTTP invocation examples (H1-H9 with the real curl)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let sample: SampleServerHandle;

  before(async () => {
    await h.start();
    sample = await startHttpSampleServer({ port: 0, host: '127.0.0.1' });
    inv = await h.addInvocation();
    await h.addWorker({}, { upstream: `http://127.0.0.1:${sample.port}` });
  });
  after(async () => {
    await h.stop();
    await sample.stop();
  });

  it('H1: should run every curl example of the README against a test region', async () => {
    const blocks = curlBlocks();
    assert.ok(blocks.length >= 6, `found ${blocks.length} curl blocks`);
    const cwd = mkdtempSync(join(tmpdir(), 'sy-readme-'));
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      GATEWAY_ADDR: `127.0.0.1:${inv.port}`,
      FUNCTION_ID: h.functionId,
      API_KEY: h.apiKey,
    };
    for (const block of blocks) {
      // Failing HTTP statuses fail the block; the block's own flags are kept. The sample streams one SSE
      // token per 50 ms by default (512 tokens: 25 s); its delay header makes that 2 ms here.
      const script = `set -euo pipefail\ncurl() { command curl --silent --show-error --fail-with-body --header '${SSE_DELAY_HEADER}: 2' "$@"; }\n${block}`;
      const { stdout } = await run('bash', ['-c', script], { cwd, env, timeout: 30_000 });
      const first = block.trim().split('\n')[0];
      if (block.includes('/v1/chat/completions')) {
        const events = stdout.split('\n\n').filter((e) => e.startsWith('data: '));
        assert.ok(events.length >= 3, `SSE events from ${first}: ${stdout.slice(0, 200)}`);
        assert.match(stdout, /data: \[DONE\]/);
      } else if (block.includes('/upload')) {
        assert.match(stdout, /sha256/i, first);
      } else if (block.includes('/status/')) {
        assert.match(stdout, /^HTTP\/1\.1 200/m, stdout);
        assert.match(stdout, /nvcf-status: fulfilled/i);
      } else {
        const echo = JSON.parse(stdout) as { path: string; query: Record<string, string>; body: string };
        assert.equal(echo.path, '/echo', first);
        assert.ok(echo.body.length > 0);
      }
    }
  });
});
