// Flow control of the framed tunnel (issue 12): per-call credit bounds what a sender can have in
// flight (a slow reader slows its sender, both ways), a stalled client stalls the container through
// the relays, and frames of one tick leave in one write of the mux stream.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  MUX_WRITE_BUFFER_BYTES,
  MuxClient,
  type MuxClientStream,
  type MuxServerStream,
  type MuxStream,
} from '../src/index.ts';
import { until } from './helpers.ts';
import {
  grpcHeaders,
  listenLoopback,
  type MuxChain,
  type MuxPair,
  startMuxChain,
  startMuxPair,
} from './mux-helpers.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic bytes: chunk `i` of `size` bytes. */
function chunkOf(i: number, size: number): Buffer {
  return Buffer.alloc(size, i % 251);
}

/**
 * Writes `total` bytes to `stream` in `chunkBytes` chunks, honouring write() false; returns the
 * digest, and counts the bytes handed to write() in `sent.bytes` and the waits in `sent.waits`.
 */
async function writeAll(
  stream: MuxStream,
  total: number,
  chunkBytes: number,
  sent: { bytes: number; waits: number },
): Promise<string> {
  const hash = createHash('sha256');
  for (let i = 0; sent.bytes < total; i++) {
    const chunk = chunkOf(i, Math.min(chunkBytes, total - sent.bytes));
    hash.update(chunk);
    sent.bytes += chunk.length;
    if (!stream.write(chunk)) {
      sent.waits++;
      await once(stream, 'drain');
    }
  }
  stream.end();
  return hash.digest('hex');
}

/**
 * Reads `stream` slowly (a pause of `pauseMs` every `pauseEveryBytes`), recording the largest
 * `sent.bytes - read` seen; resolves with the digest once it ends.
 */
function readSlowly(
  stream: MuxStream,
  sent: { bytes: number },
  pauseEveryBytes: number,
  pauseMs: number,
): { done: Promise<string>; stats: { read: number; maxOutstanding: number } } {
  const hash = createHash('sha256');
  const stats = { read: 0, maxOutstanding: 0 };
  let sincePause = 0;
  stream.on('data', (chunk: Buffer) => {
    stats.maxOutstanding = Math.max(stats.maxOutstanding, sent.bytes - stats.read);
    hash.update(chunk);
    stats.read += chunk.length;
    sincePause += chunk.length;
    if (sincePause >= pauseEveryBytes) {
      sincePause = 0;
      stream.pause();
      setTimeout(() => stream.resume(), pauseMs);
    }
  });
  const done = new Promise<string>((resolve) => stream.once('end', () => resolve(hash.digest('hex'))));
  return { done, stats };
}

describe('framed tunnel flow control', () => {
  for (const windowBytes of [64 * KiB, 256 * KiB]) {
    describe(`with a ${windowBytes / KiB} KiB window per call`, () => {
      let pair: MuxPair;
      before(async () => {
        pair = await startMuxPair({ windowBytes });
      });
      after(async () => {
        await pair.close();
      });

      test('should carry 64 MiB each way with slow readers, never more than the window plus a chunk outstanding', async () => {
        const total = 64 * MiB;
        const chunkBytes = 64 * KiB;
        const calls = once(pair.server, 'stream') as Promise<[MuxServerStream]>;
        const call: MuxClientStream = pair.client.request(grpcHeaders());
        const [served] = await calls;
        served.respond({ ':status': 200 });
        await once(call, 'response');
        const up = { bytes: 0, waits: 0 };
        const down = { bytes: 0, waits: 0 };
        const upRead = readSlowly(served, up, 8 * MiB, 20);
        const downRead = readSlowly(call, down, 8 * MiB, 20);
        const [upSent, downSent] = await Promise.all([
          writeAll(call, total, chunkBytes, up),
          writeAll(served, total, chunkBytes, down),
        ]);
        assert.equal(await upRead.done, upSent);
        assert.equal(await downRead.done, downSent);
        for (const [what, sent, read] of [
          ['request', up, upRead.stats],
          ['response', down, downRead.stats],
        ] as const) {
          assert.equal(read.read, total, what);
          assert.ok(sent.waits > 0, `${what}: the sender was made to wait`);
          assert.ok(
            read.maxOutstanding <= windowBytes + chunkBytes,
            `${what}: ${read.maxOutstanding} bytes outstanding > window ${windowBytes} + chunk ${chunkBytes}`,
          );
        }
        await until(() => call.destroyed && served.destroyed, 5000, 'both ends closed');
        assert.equal(call.rstCode, http2.constants.NGHTTP2_NO_ERROR);
      });
    });
  }

  describe('through the relays', () => {
    let container: http2.Http2Server;
    let chain: MuxChain;
    let front: http2.ClientHttp2Session;
    const written = { bytes: 0, blocked: false, done: false };

    before(async () => {
      // Answers 64 MiB as fast as the relays let it: every write() false waits for 'drain'.
      container = http2.createServer();
      container.on('stream', async (stream) => {
        stream.on('error', () => {});
        stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
        for (let i = 0; written.bytes < 64 * MiB && !stream.destroyed; i++) {
          written.bytes += 64 * KiB;
          if (!stream.write(chunkOf(i, 64 * KiB))) {
            written.blocked = true;
            await once(stream, 'drain');
            written.blocked = false;
          }
        }
        stream.end();
        written.done = true;
      });
      chain = await startMuxChain(`127.0.0.1:${await listenLoopback(container)}`);
      front = http2.connect(`http://127.0.0.1:${chain.frontPort}`);
      front.on('error', () => {});
    });
    after(async () => {
      front.destroy();
      await chain.close();
      container.close();
    });

    test('a stalled client should stall the container (bounded buffering), then get all 64 MiB', async () => {
      const stream = front.request({ ':method': 'GET', ':path': '/big' }, { endStream: true });
      await once(stream, 'response');
      stream.pause();
      await sleep(300);
      const stalledAt = written.bytes;
      await sleep(200);
      assert.equal(written.bytes, stalledAt, 'the container made no progress while the client read nothing');
      assert.ok(written.blocked, 'the container waits for drain');
      assert.ok(stalledAt < 16 * MiB, `${stalledAt} bytes buffered between a stalled client and the container`);
      let received = 0;
      stream.on('data', (c: Buffer) => {
        received += c.length;
      });
      stream.resume();
      await once(stream, 'end');
      assert.equal(received, 64 * MiB);
      assert.ok(written.done);
    });
  });

  describe('batching', () => {
    let chain: MuxChain;
    let container: http2.Http2Server;
    before(async () => {
      container = http2.createServer();
      container.on('stream', (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.pipe(stream);
      });
      chain = await startMuxChain(`127.0.0.1:${await listenLoopback(container)}`);
    });
    after(async () => {
      await chain.close();
      container.close();
    });

    test('frames of calls started in one tick should leave in one write of the mux stream', async () => {
      let writes = 0;
      const write = chain.proxyStream.write.bind(chain.proxyStream);
      chain.proxyStream.write = ((chunk: Buffer) => {
        writes++;
        return write(chunk);
      }) as typeof chain.proxyStream.write;
      const calls: Promise<void>[] = [];
      for (let i = 0; i < 64; i++) {
        const call = chain.client.request(grpcHeaders());
        call.on('data', () => {});
        calls.push(once(call, 'close').then(() => undefined));
        call.end(Buffer.from(`call-${i}`));
      }
      await Promise.all(calls);
      // 64 x (HEADERS, DATA, END) written in the tick they were made, in one write.
      assert.equal(writes, 1);
    });
  });

  test("a call's write() should say false while the mux holds MUX_WRITE_BUFFER_BYTES unsent, and drain once they went out", async () => {
    const callbacks: (() => void)[] = [];
    const duplex = new Duplex({
      read() {},
      write(_chunk, _encoding, callback) {
        callbacks.push(callback);
      },
    });
    const client = new MuxClient(duplex);
    const call = client.request(grpcHeaders());
    client.onWindow(call.id, MiB);
    let accepted = 0;
    while (accepted < MiB) {
      accepted += 16 * KiB;
      if (!call.write(chunkOf(0, 16 * KiB))) break;
    }
    assert.ok(
      accepted >= MUX_WRITE_BUFFER_BYTES - 16 * KiB && accepted <= MUX_WRITE_BUFFER_BYTES,
      `write() said false after ${accepted} bytes, with credit left`,
    );
    assert.ok(call.sendCreditBytes > 0);
    let drained = false;
    call.once('drain', () => {
      drained = true;
    });
    await sleep(10);
    assert.equal(drained, false, 'no drain while the bytes are not sent');
    while (callbacks.length > 0) (callbacks.shift() as () => void)();
    await until(() => drained, 2000, "the call's drain");
    client.destroy();
  });
});
