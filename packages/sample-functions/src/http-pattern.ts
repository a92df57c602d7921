// Deterministic pseudo-random bytes for large transfers: `/download` streams them, and tests, the
// bench and the soak script upload them, so either side can know the SHA-256 without keeping the
// bytes. xorshift32 per 32-bit word: fast in plain JS and incompressible enough for transport tests.

import { createHash } from 'node:crypto';

/** Size of the chunks patternChunks() yields, in bytes. @default 64 KiB */
export const DEFAULT_PATTERN_CHUNK_BYTES = 64 * 1024;

/** Generator state: the xorshift32 word, never 0. */
function seedState(seed: number): number {
  // Mix the seed so 0, 1, 2 ... give unrelated streams; xorshift32 must not start at 0.
  const mixed = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  return mixed === 0 ? 0x6d2b79f5 : mixed;
}

/**
 * Yields `totalBytes` pseudo-random bytes for `seed` in chunks of `chunkBytes` (the last one may be
 * shorter). The same (totalBytes, seed) always gives the same bytes, whatever the chunk size.
 * Each chunk is a fresh Buffer, so callers may hand it to a stream without copying.
 */
export function* patternChunks(
  totalBytes: number,
  seed = 0,
  chunkBytes = DEFAULT_PATTERN_CHUNK_BYTES,
): Generator<Buffer> {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0)
    throw new RangeError(`totalBytes must be a non-negative integer, got ${totalBytes}`);
  // Words are produced 4 bytes at a time; round chunks to whole words so every chunk size gives
  // the same byte sequence.
  const step = Math.max(4, chunkBytes - (chunkBytes % 4));
  let state = seedState(seed);
  let left = totalBytes;
  while (left > 0) {
    const size = Math.min(step, left);
    const words = new Uint32Array(Math.ceil(size / 4));
    for (let i = 0; i < words.length; i++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      words[i] = state >>> 0;
    }
    yield Buffer.from(words.buffer, 0, size);
    left -= size;
  }
}

/** SHA-256 (hex) of the `totalBytes` pattern bytes for `seed`, computed without keeping them. */
export function patternSha256(totalBytes: number, seed = 0): string {
  const hash = createHash('sha256');
  for (const chunk of patternChunks(totalBytes, seed)) hash.update(chunk);
  return hash.digest('hex');
}
