// FrameBoundary (RFC 6455 5.2): frame boundaries and the first close code of a WebSocket byte stream,
// masked (client) and unmasked (server) frames, 16- and 64-bit lengths, split at every byte.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { FrameBoundary, WS_CLOSE_NO_STATUS } from '../src/index.ts';

/** One frame (FIN set) with `opcode` and `payload`, masked with a random key when `masked`. */
function frame(opcode: number, payload: Buffer, masked: boolean): Buffer {
  const n = payload.length;
  const len = n < 126 ? [n] : n < 65_536 ? [126, n >> 8, n & 0xff] : [127, 0, 0, 0, 0, ...toBytes(n, 4)];
  const header = Buffer.from([0x80 | opcode, (masked ? 0x80 : 0) | len[0], ...len.slice(1)]);
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([header, mask, body]);
}

function toBytes(n: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (n >>> (8 * (count - 1 - i))) & 0xff);
}

function close(code: number | undefined, masked: boolean): Buffer {
  const payload =
    code === undefined ? Buffer.alloc(0) : Buffer.concat([Buffer.from(toBytes(code, 2)), Buffer.from('bye')]);
  return frame(0x8, payload, masked);
}

/** Feeds `bytes` in pieces of `size`; returns the codes reported and the parser. */
function feed(bytes: Buffer, size: number): { codes: number[]; frames: FrameBoundary } {
  const codes: number[] = [];
  const frames = new FrameBoundary((code) => codes.push(code));
  for (let i = 0; i < bytes.length; i += size) frames.push(bytes.subarray(i, i + size));
  return { codes, frames };
}

describe('FrameBoundary', () => {
  for (const masked of [false, true]) {
    test(`reads the first close code behind data frames of every length (${masked ? 'masked' : 'unmasked'}), at any split`, () => {
      const stream = Buffer.concat([
        frame(0x1, Buffer.from('hello'), masked),
        frame(0x2, randomBytes(300), masked),
        frame(0x2, randomBytes(70_000), masked),
        close(4321, masked),
        close(1000, masked),
      ]);
      for (const size of [1, 2, 3, 7, 1024, stream.length]) {
        const { codes, frames } = feed(stream, size);
        assert.deepEqual(codes, [4321], `split ${size}`);
        assert.equal(frames.closeCode, 4321);
        assert.equal(frames.atBoundary, true);
      }
    });
  }

  test('a close frame without a code is 1005; no close frame leaves closeCode undefined', () => {
    assert.equal(feed(close(undefined, true), 1).frames.closeCode, WS_CLOSE_NO_STATUS);
    const { frames, codes } = feed(frame(0x1, Buffer.from('no close'), false), 3);
    assert.equal(frames.closeCode, undefined);
    assert.deepEqual(codes, []);
  });

  test('is not at a boundary mid-frame', () => {
    const frames = new FrameBoundary();
    const f = frame(0x2, randomBytes(200), false);
    frames.push(f.subarray(0, 10));
    assert.equal(frames.atBoundary, false);
    frames.push(f.subarray(10));
    assert.equal(frames.atBoundary, true);
  });
});
