// Moving bodies to and from calls of a framed tunnel (issue 12), which cannot pipe(): pumpStream keeps
// backpressure (a slow writer pauses the call, and the call's credit window then holds its sender), and
// readableOf gives a call to `for await` readers, a reset never looking like a complete body.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { MUX_INITIAL_WINDOW_BYTES, type MuxServerStream, pumpStream, readableOf } from '../src/index.ts';
import { until } from './helpers.ts';
import { type MuxPair, startMuxPair } from './mux-helpers.ts';

const { NGHTTP2_CANCEL } = http2.constants;
const KiB = 1024;

describe('stream pump and readable view of mux calls', () => {
  let pair: MuxPair;
  before(async () => {
    pair = await startMuxPair({ windowBytes: MUX_INITIAL_WINDOW_BYTES });
  });
  after(async () => {
    await pair.close();
  });

  test('pumpStream should pause a call while its writer is full, so the sender waits on credit', async () => {
    const served = once(pair.server, 'stream') as Promise<[MuxServerStream]>;
    const call = pair.client.request({ ':method': 'POST', ':path': '/up' });
    const [server] = await served;
    let taken = 0;
    let release: (() => void) | undefined;
    // A writer that takes one chunk and then waits until released: a slow client.
    const slow = new Writable({
      highWaterMark: 16 * KiB,
      write(chunk: Buffer, _encoding, callback) {
        taken += chunk.length;
        release = callback;
      },
    });
    const stop = pumpStream(server, slow);
    let sent = 0;
    const chunk = Buffer.alloc(16 * KiB, 1);
    while (call.write(chunk)) sent += chunk.length;
    sent += chunk.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(server.isPaused(), 'the call is paused while the writer is full');
    assert.ok(taken < sent, `the writer took ${taken} of ${sent} bytes`);
    assert.ok(sent <= MUX_INITIAL_WINDOW_BYTES + chunk.length, `${sent} bytes sent: the sender waits on credit`);
    // Released, everything flows and the end reaches the writer.
    const finished = once(slow, 'finish');
    const releasing = setInterval(() => release?.(), 1);
    call.end();
    await finished;
    clearInterval(releasing);
    assert.equal(taken, sent);
    stop();
    call.close(NGHTTP2_CANCEL);
  });

  test('readableOf should read a call whole, and fail (not end) when the call is reset mid-body', async () => {
    const whole = once(pair.server, 'stream') as Promise<[MuxServerStream]>;
    const first = pair.client.request({ ':method': 'POST', ':path': '/a' });
    const [a] = await whole;
    first.end(Buffer.from('hello'));
    let body = '';
    for await (const c of readableOf(a)) body += c;
    assert.equal(body, 'hello');

    const cut = once(pair.server, 'stream') as Promise<[MuxServerStream]>;
    const second = pair.client.request({ ':method': 'POST', ':path': '/b' });
    const [b] = await cut;
    second.write(Buffer.from('part'));
    const readable = readableOf(b);
    const failed = once(readable, 'error');
    const through = new PassThrough();
    readable.pipe(through);
    await once(through, 'data');
    second.close(NGHTTP2_CANCEL);
    const [error] = (await failed) as [Error];
    assert.match(error.message, /reset mid-body/);
    await until(() => readable.destroyed, 5000, 'the readable destroyed');
    assert.equal(readable.readableEnded, false);
    assert.ok(readable.errored, 'destroyed with an error');
  });
});
