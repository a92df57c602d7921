// Frames of the framed tunnel (issue 12): any frames, encoded by MuxFrameWriter and split at random
// points, decode to the same frames; malformed frames are reported, never thrown.
// Seed: SWITCHYARD_FUZZ_SEED (fast-check prints it with any counterexample).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  MUX_DIRECT_DATA_BYTES,
  MUX_FLAG_END_STREAM,
  MUX_FRAME_HEADER_BYTES,
  MuxFrameDecoder,
  MuxFrameErrorCode,
  type MuxFrameHandler,
  MuxFrameType,
  MuxFrameWriter,
} from '../src/index.ts';
import { frameHead, takeBytes } from './mux-helpers.ts';

const SEED = Number(process.env.SWITCHYARD_FUZZ_SEED ?? 20261207);
const RUNS = Number(process.env.SWITCHYARD_FUZZ_RUNS ?? 300);
const params = { seed: SEED, numRuns: RUNS };

type Frame =
  | { type: 'headers' | 'trailers'; id: number; flags: number; list: string[] }
  | { type: 'data'; id: number; bytes: Buffer }
  | { type: 'end'; id: number }
  | { type: 'reset' | 'window'; id: number; value: number };

/** Collects decoded frames; DATA pieces of one frame are joined again. */
function collector(): { frames: Frame[]; handler: MuxFrameHandler } {
  const frames: Frame[] = [];
  let pieces: Buffer[] = [];
  const handler: MuxFrameHandler = {
    onHeaders(id, type, flags, list) {
      frames.push({ type: type === MuxFrameType.HEADERS ? 'headers' : 'trailers', id, flags, list });
    },
    onData(id, chunk, last) {
      pieces.push(Buffer.from(chunk));
      if (!last) return;
      frames.push({ type: 'data', id, bytes: Buffer.concat(pieces) });
      pieces = [];
    },
    onEnd(id) {
      frames.push({ type: 'end', id });
    },
    onReset(id, value) {
      frames.push({ type: 'reset', id, value });
    },
    onWindow(id, value) {
      frames.push({ type: 'window', id, value });
    },
  };
  return { frames, handler };
}

function write(writer: MuxFrameWriter, frame: Frame): void {
  switch (frame.type) {
    case 'headers':
      writer.headers(frame.id, MuxFrameType.HEADERS, frame.flags, frame.list);
      return;
    case 'trailers':
      writer.headers(frame.id, MuxFrameType.TRAILERS, frame.flags, frame.list);
      return;
    case 'data':
      writer.data(frame.id, frame.bytes);
      return;
    case 'end':
      writer.end(frame.id);
      return;
    case 'reset':
      writer.reset(frame.id, frame.value);
      return;
    case 'window':
      writer.window(frame.id, frame.value);
      return;
  }
}

const id = fc.integer({ min: 0, max: 0xffff_ffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const headerList = fc
  .array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ unit: 'grapheme', maxLength: 40 })), {
    maxLength: 8,
  })
  .map((pairs) => pairs.flat());
const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({
    type: fc.constantFrom('headers' as const, 'trailers' as const),
    id,
    flags: fc.integer({ min: 0, max: 255 }),
    list: headerList,
  }),
  fc.record({
    type: fc.constant('data' as const),
    id,
    bytes: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Buffer.from(a)),
  }),
  fc.record({ type: fc.constant('end' as const), id }),
  fc.record({ type: fc.constantFrom('reset' as const, 'window' as const), id, value: u32 }),
);

/** Splits `bytes` at the sorted `cuts` (fractions of its length). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const to of at) {
    out.push(bytes.subarray(from, to));
    from = to;
  }
  out.push(bytes.subarray(from));
  return out;
}

describe('mux frames', () => {
  test('any frames, encoded and split at random points, decode to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 30 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        (input, cuts) => {
          const writer = new MuxFrameWriter();
          for (const frame of input) write(writer, frame);
          const bytes = takeBytes(writer) ?? Buffer.alloc(0);
          const { frames, handler } = collector();
          const decoder = new MuxFrameDecoder(handler);
          for (const chunk of split(bytes, cuts)) assert.equal(decoder.push(chunk), undefined);
          assert.deepEqual(
            frames,
            input.map((f) => ({ ...f })),
          );
        },
      ),
      params,
    );
  });

  test('any frames with large DATA (passed on uncopied) decode in order from the chunks, split anywhere', () => {
    const sized = fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1000, max: 2500 }));
    const withLarge: fc.Arbitrary<Frame> = fc.oneof(
      frameArb,
      fc.record({
        type: fc.constant('data' as const),
        id,
        bytes: fc.tuple(sized, fc.integer({ min: 0, max: 255 })).map(([n, fill]) => Buffer.alloc(n, fill)),
      }),
    );
    fc.assert(
      fc.property(
        fc.array(withLarge, { maxLength: 30 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 20 }),
        (input, cuts) => {
          // Largest payload 2000, uncopied from 1000: large DATA is also split in two frames.
          const writer = new MuxFrameWriter(2000, 1000);
          for (const frame of input) write(writer, frame);
          const length = writer.length;
          const chunks = writer.takeChunks() ?? [];
          assert.equal(writer.length, 0);
          const bytes = Buffer.concat(chunks);
          assert.equal(bytes.length, length);
          const expected = input.flatMap((f) =>
            f.type === 'data' && f.bytes.length > 2000
              ? [
                  { ...f, bytes: f.bytes.subarray(0, 2000) },
                  { ...f, bytes: f.bytes.subarray(2000) },
                ]
              : [{ ...f }],
          );
          for (const pieces of [chunks, split(bytes, cuts)]) {
            const { frames, handler } = collector();
            const decoder = new MuxFrameDecoder(handler, 2000);
            for (const chunk of pieces) assert.equal(decoder.push(chunk), undefined);
            assert.deepEqual(frames, expected);
          }
        },
      ),
      params,
    );
  });

  test('a large DATA payload goes out as its own chunk after the batch so far, not copied', () => {
    const writer = new MuxFrameWriter();
    const big = Buffer.alloc(MUX_DIRECT_DATA_BYTES + 1, 1);
    writer.headers(1, MuxFrameType.HEADERS, 0, [':path', '/x']);
    writer.data(1, Buffer.from('small'));
    writer.data(1, big);
    writer.data(3, big.subarray(1));
    writer.end(1);
    const chunks = writer.takeChunks() as Buffer[];
    // [HEADERS, DATA 'small', head], big, [head], view of big, [END]
    assert.equal(chunks.length, 5);
    assert.equal(chunks[1], big);
    assert.equal(chunks[2]?.length, MUX_FRAME_HEADER_BYTES);
    assert.equal(chunks[3]?.buffer, big.buffer);
    assert.equal(chunks[4]?.length, MUX_FRAME_HEADER_BYTES);
    const { frames, handler } = collector();
    const decoder = new MuxFrameDecoder(handler);
    for (const chunk of chunks) assert.equal(decoder.push(chunk), undefined);
    assert.deepEqual(
      frames.map((f) => [f.type, f.id, f.type === 'data' ? f.bytes.length : 0]),
      [
        ['headers', 1, 0],
        ['data', 1, 5],
        ['data', 1, MUX_DIRECT_DATA_BYTES + 1],
        ['data', 3, MUX_DIRECT_DATA_BYTES],
        ['end', 1, 0],
      ],
    );
    assert.equal(writer.takeChunks(), undefined);
  });

  test('a header list too large after a large DATA leaves the batch as it was', () => {
    const writer = new MuxFrameWriter(16 * 1024);
    writer.data(1, Buffer.alloc(8 * 1024, 2));
    assert.throws(() => writer.headers(1, MuxFrameType.TRAILERS, 0, ['x-big', 'y'.repeat(20 * 1024)]), RangeError);
    writer.end(1);
    const { frames, handler } = collector();
    assert.equal(new MuxFrameDecoder(handler, 16 * 1024).push(takeBytes(writer) as Buffer), undefined);
    assert.deepEqual(
      frames.map((f) => f.type),
      ['data', 'end'],
    );
  });

  test('DATA larger than the largest payload is split into frames the decoder accepts', () => {
    const writer = new MuxFrameWriter(1000);
    const body = Buffer.alloc(2500, 7);
    writer.data(3, body);
    const bytes = takeBytes(writer) as Buffer;
    assert.equal(bytes.length, 2500 + 3 * 9);
    const { frames, handler } = collector();
    assert.equal(new MuxFrameDecoder(handler, 1000).push(bytes), undefined);
    assert.deepEqual(
      frames.map((f) => (f.type === 'data' ? f.bytes.length : -1)),
      [1000, 1000, 500],
    );
  });

  test('a DATA frame within one chunk is passed as a view of it (no copy)', () => {
    const writer = new MuxFrameWriter();
    writer.data(1, Buffer.from('hello'));
    writer.headers(1, MuxFrameType.TRAILERS, MUX_FLAG_END_STREAM, ['grpc-status', '0']);
    const bytes = takeBytes(writer) as Buffer;
    let seen: Buffer | undefined;
    const { handler } = collector();
    handler.onData = (_id, chunk) => {
      seen = chunk;
    };
    new MuxFrameDecoder(handler).push(bytes);
    assert.equal(seen?.buffer, bytes.buffer);
    assert.equal(seen?.toString(), 'hello');
  });

  const malformed: [string, Buffer, string][] = [
    ['an unknown frame type', frameHead(1, 9, 0), MuxFrameErrorCode.UNKNOWN_TYPE],
    ['a payload over the largest', frameHead(1, MuxFrameType.DATA, 2 * 1024 * 1024), MuxFrameErrorCode.TOO_LARGE],
    [
      'a RESET of 3 bytes',
      Buffer.concat([frameHead(1, MuxFrameType.RESET, 3), Buffer.alloc(3)]),
      MuxFrameErrorCode.BAD_LENGTH,
    ],
    [
      'an END with a payload',
      Buffer.concat([frameHead(1, MuxFrameType.END, 1), Buffer.alloc(1)]),
      MuxFrameErrorCode.BAD_LENGTH,
    ],
    ['HEADERS without flags', frameHead(1, MuxFrameType.HEADERS, 0), MuxFrameErrorCode.BAD_HEADER_LIST],
    [
      'a header name without a value',
      Buffer.concat([frameHead(1, MuxFrameType.HEADERS, 6), Buffer.from([0, 0, 0, 0, 1, 0x61])]),
      MuxFrameErrorCode.BAD_HEADER_LIST,
    ],
    [
      'a header string longer than its frame',
      Buffer.concat([frameHead(1, MuxFrameType.HEADERS, 6), Buffer.from([0, 0, 0, 0, 9, 0x61])]),
      MuxFrameErrorCode.BAD_HEADER_LIST,
    ],
  ];
  for (const [what, bytes, code] of malformed) {
    test(`reports ${what} as ${code}, at any split, and ignores what follows`, () => {
      const trailing = new MuxFrameWriter();
      trailing.end(1);
      const all = Buffer.concat([bytes, takeBytes(trailing) as Buffer]);
      for (let cut = 0; cut <= all.length; cut++) {
        const { frames, handler } = collector();
        const decoder = new MuxFrameDecoder(handler);
        const first = decoder.push(all.subarray(0, cut));
        const second = decoder.push(all.subarray(cut));
        const error = first ?? second;
        assert.equal(error?.code, code, `cut at ${cut}`);
        assert.equal(decoder.stopped, true);
        assert.deepEqual(frames, []);
      }
    });
  }

  test('malformed input never throws (random bytes)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const { handler } = collector();
        new MuxFrameDecoder(handler).push(Buffer.from(bytes));
      }),
      params,
    );
  });
});
