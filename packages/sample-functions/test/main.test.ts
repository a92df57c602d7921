import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import {
  type EchoResponse,
  type HttpUploadResponse,
  loadEchoClient,
  loadInferenceClient,
  patternChunks,
  patternSha256,
} from '../src/index.ts';
import { callWithOne } from './grpc-calls.ts';
import { multipartBody, request } from './http-calls.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** Spawns main.ts with the node running this test and resolves with its first stdout line. */
async function spawnMain(args: string[]): Promise<{ child: ChildProcess; firstLine: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = createInterface({ input: child.stdout! });
  const [firstLine] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`main.ts exited with ${code} before it was ready`);
    }),
  ])) as [string];
  return { child, firstLine };
}

describe('main.ts', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`should print the ready line, serve echo and exit 0 on ${signal}`, async () => {
      const { child, firstLine } = await spawnMain(['echo', '--port', '0', '--instance-id', 'main-echo']);
      const ready = JSON.parse(firstLine);
      assert.deepEqual(Object.keys(ready), ['ready', 'port']);
      assert.equal(ready.ready, true);
      assert.ok(ready.port > 0);
      const client = loadEchoClient(`127.0.0.1:${ready.port}`);
      const r = await callWithOne<EchoResponse>(client, 'Unary', { payload: Buffer.from('hi') });
      assert.equal(r.messages[0].instance_id, 'main-echo');
      client.close();
      const exited = once(child, 'exit');
      child.kill(signal);
      assert.deepEqual(await exited, [0, null]);
    });
  }

  it('should serve inference on the requested host', async () => {
    const { child, firstLine } = await spawnMain(['inference', '--host', '127.0.0.1']);
    const { port } = JSON.parse(firstLine);
    const client = loadInferenceClient(`127.0.0.1:${port}`);
    const r = await callWithOne(client, 'ServerLive', {});
    assert.deepEqual(r.messages, [{ live: true }]);
    client.close();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    assert.deepEqual(await exited, [0, null]);
  });

  it('should serve http and hash 100 MiB uploads (binary, then multipart) with RSS that stays bounded', async () => {
    const { child, firstLine } = await spawnMain(['http', '--instance-id', 'main-http']);
    try {
      const { port } = JSON.parse(firstLine);
      const rss = () =>
        Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]) * 1024;
      const echo = await request(port, '/echo', { agent: false });
      assert.equal(echo.headers['x-instance-id'], 'main-http');
      const baseline = rss();
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rss());
      }, 20);
      const bytes = 100 * 1024 * 1024;
      let peakAfterFirst: number;
      try {
        const binary = await request(port, '/upload', {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'content-length': bytes },
          body: patternChunks(bytes, 1),
          agent: false,
        });
        assert.equal(binary.status, 200);
        const answer = binary.json as HttpUploadResponse;
        assert.equal(answer.bytes, bytes);
        assert.equal(answer.sha256, patternSha256(bytes, 1));
        peakAfterFirst = peak;

        const boundary = 'switchyard-100mib';
        const [head, tail] = multipartBody(boundary, [{ name: 'file', filename: 'big.bin', content: 'SPLIT' }])
          .toString('latin1')
          .split('SPLIT') as [string, string];
        const multipart = await request(port, '/upload', {
          method: 'PUT',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
          body: (function* () {
            yield Buffer.from(head, 'latin1');
            yield* patternChunks(bytes, 2);
            yield Buffer.from(tail, 'latin1');
          })(),
          agent: false,
        });
        assert.equal(multipart.status, 200);
        const parts = (multipart.json as HttpUploadResponse).parts;
        assert.deepEqual(parts, [{ name: 'file', filename: 'big.bin', sha256: patternSha256(bytes, 2), bytes }]);
      } finally {
        clearInterval(sampler);
      }
      // V8 collects socket read buffers lazily (external memory soft limit ~64 MiB), so RSS rises by
      // tens of MiB once; keeping either 100 MiB body would take it past the bound.
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
      assert.ok(
        peak - baseline < 96 * 1048576,
        `RSS +${mib(peak - baseline)} over 200 MiB (+${mib(peakAfterFirst - baseline)} after the first 100 MiB)`,
      );
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, [0, null]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('should exit 2 with usage on an unknown kind', async () => {
    const child = spawn(process.execPath, [MAIN, 'nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 2);
    assert.match(stderr, /usage: main\.ts echo\|inference/);
  });

  it('should leave clients UNAVAILABLE once it has exited', async () => {
    const { child, firstLine } = await spawnMain(['echo']);
    const { port } = JSON.parse(firstLine);
    child.kill('SIGTERM');
    await once(child, 'exit');
    const client = loadEchoClient(`127.0.0.1:${port}`);
    const r = await callWithOne<EchoResponse>(client, 'Unary', {}, { deadlineMs: 2000 });
    assert.equal(r.status.code, grpc.status.UNAVAILABLE);
    client.close();
  });
});
