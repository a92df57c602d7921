import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import type { EchoResponse } from '@switchyard/sample-functions';
import { type Chain, callWithMany, startChain, until } from './helpers.ts';

const MiB = 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** RSS after a full GC, so that garbage of earlier transfers does not count. */
async function settledRss(): Promise<number> {
  await sleep(50);
  gc();
  await sleep(50);
  gc();
  return process.memoryUsage().rss;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** A gRPC frame of EchoRequest{repeat, response_size} (fields 2 and 5, varints). */
function echoRequestFrame(repeat: number, responseSize: number): Buffer {
  const message = Buffer.from([0x10, ...varint(repeat), 0x28, ...varint(responseSize)]);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

describe('DESIGN flow 4: flow control over one shared tunnel', () => {
  let chain: Chain;

  before(async () => {
    chain = await startChain();
  });
  after(async () => {
    await chain.close();
  });

  test('G4: a stalled reader must not stall another stream on the same tunnel, and must not fill memory', async () => {
    // Warm up every hop so the baseline includes the connections and their buffers.
    const warm = callWithMany<EchoResponse>(chain.client, 'ServerStream', { response_size: MiB, repeat: 4 });
    assert.equal((await warm.result).status.code, grpc.status.OK);
    const baseline = await settledRss();

    // Stream A: 200 MiB server stream to a raw HTTP/2 client that never reads.
    const stalled = http2.connect(`http://127.0.0.1:${chain.frontPort}`);
    stalled.on('error', () => {});
    try {
      const upstreamBefore = chain.upstreamStreams.length;
      const a = stalled.request({
        ':method': 'POST',
        ':path': '/switchyard.echo.v1.Echo/ServerStream',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      a.on('error', () => {});
      a.end(echoRequestFrame(200, MiB));
      await once(a, 'response');
      a.pause();
      // Bytes the container has handed to the worker for stream A.
      await until(() => chain.upstreamStreams.length > upstreamBefore, 2000, 'stream A upstream');
      const upstreamA = chain.upstreamStreams[upstreamBefore];
      let producedA = 0;
      upstreamA.on('data', (chunk: Buffer) => {
        producedA += chunk.length;
      });
      await sleep(500);
      const stalledGrowth = (await settledRss()) - baseline;

      // Stream B: 32 MiB over the same tunnel, while A is stalled.
      const startedAt = Date.now();
      const b = callWithMany<EchoResponse>(chain.client, 'ServerStream', { response_size: MiB, repeat: 32 });
      const { status, messages } = await b.result;
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.equal(messages.length, 32);
      assert.ok(Date.now() - startedAt < 10_000, `B took ${Date.now() - startedAt} ms`);
      messages.length = 0;

      await sleep(300);
      // Each hop holds at most a stream window (1 MiB) plus stream buffers for the stalled stream; RSS
      // is compared before B only, since B's own 32 MiB leave the allocator's arenas larger.
      assert.ok(producedA < 16 * MiB, `stream A pulled ${producedA} bytes from the container while stalled`);
      assert.ok(stalledGrowth < 64 * MiB, `RSS grew by ${Math.round(stalledGrowth / MiB)} MiB with A stalled`);
      assert.equal(chain.listener.size, 1, 'both streams used one tunnel');

      // Cancelling A releases it all the way to the container.
      stalled.destroy();
      await until(() => upstreamA.closed, 5000, 'stream A cancelled upstream');
    } finally {
      stalled.destroy();
    }
  });

  test('G4: a slow reader should still receive a large stream completely (flow control, not loss)', async () => {
    const { call, result } = callWithMany<EchoResponse>(chain.client, 'ServerStream', {
      response_size: MiB,
      repeat: 24,
    });
    // Pause the reader for a while, then let it drain.
    call.pause();
    await sleep(300);
    call.resume();
    const { status, messages } = await result;
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(messages.length, 24);
    assert.ok(messages.every((m) => m.payload.length === MiB));
  });
});
