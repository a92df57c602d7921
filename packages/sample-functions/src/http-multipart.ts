// A streaming multipart/form-data reader for the `/upload` sample endpoint: it hashes each part as
// the bytes go by and keeps at most one delimiter's worth of bytes (plus a part's header block), so
// a multi-gigabyte file part costs no memory. No multipart library is installed in the repository,
// and the sample only needs names, sizes and digests, not the contents.

import { createHash, type Hash } from 'node:crypto';
import { Writable } from 'node:stream';

/** Largest header block of one part, in bytes; beyond it the body is rejected as malformed. */
export const MAX_PART_HEADER_BYTES = 16 * 1024;

/** What the reader learned about one part. */
export interface MultipartPartSummary {
  /** `name` of the part's Content-Disposition ('' when absent). */
  name: string;
  /** `filename` of the part's Content-Disposition, when present. */
  filename?: string;
  /** The part's Content-Type, when present. */
  contentType?: string;
  /** SHA-256 of the part's content, hex. */
  sha256: string;
  /** Size of the part's content, in bytes. */
  bytes: number;
}

/** The body is not well-formed multipart (missing delimiter, oversized headers, early end). */
export class MultipartError extends Error {
  override name = 'MultipartError';
}

const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/**
 * The boundary parameter of a `multipart/...` Content-Type, or undefined when the type is not
 * multipart or has no boundary.
 */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/^\s*multipart\//i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  return boundary !== undefined && boundary.length <= 70 ? boundary : undefined;
}

function headerParam(value: string, param: string): string | undefined {
  // `(^|;)` so that `name=` does not match inside `filename=`.
  const re = new RegExp(`(?:^|;)\\s*${param}\\s*=\\s*(?:"((?:[^"\\\\]|\\\\.)*)"|([^;]*))`, 'i');
  const match = re.exec(value);
  if (!match) return undefined;
  return match[1] !== undefined ? match[1].replace(/\\(.)/g, '$1') : match[2]?.trim();
}

function parsePartHeaders(block: string): Pick<MultipartPartSummary, 'name' | 'filename' | 'contentType'> {
  let disposition = '';
  let contentType: string | undefined;
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === 'content-disposition') disposition = value;
    else if (key === 'content-type') contentType = value;
  }
  const summary: Pick<MultipartPartSummary, 'name' | 'filename' | 'contentType'> = {
    name: headerParam(disposition, 'name') ?? '',
  };
  const filename = headerParam(disposition, 'filename');
  if (filename !== undefined) summary.filename = filename;
  if (contentType !== undefined) summary.contentType = contentType;
  return summary;
}

type State = 'preamble' | 'after-delimiter' | 'headers' | 'content' | 'epilogue';

/**
 * A Writable that consumes a multipart body and collects one {@link MultipartPartSummary} per part.
 * Finishing before the closing delimiter fails the stream with a {@link MultipartError}.
 */
export class MultipartHasher extends Writable {
  /** Parts seen so far, in order (complete once the stream has finished). */
  readonly parts: MultipartPartSummary[] = [];
  // The delimiter is CRLF "--" boundary; the body is read as if it started with CRLF, so the first
  // delimiter (which has no CRLF before it) is found the same way as the others.
  readonly #delimiter: Buffer;
  #pending: Buffer = CRLF;
  #state: State = 'preamble';
  #current:
    | { meta: Pick<MultipartPartSummary, 'name' | 'filename' | 'contentType'>; hash: Hash; bytes: number }
    | undefined;

  constructor(boundary: string) {
    super();
    this.#delimiter = Buffer.from(`\r\n--${boundary}`);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      this.#consume();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.#state !== 'epilogue') callback(new MultipartError(`multipart body ended in state ${this.#state}`));
    else callback();
  }

  #consume(): void {
    for (;;) {
      const pending = this.#pending;
      switch (this.#state) {
        case 'preamble':
        case 'content': {
          const at = pending.indexOf(this.#delimiter);
          if (at < 0) {
            // Keep what could be the start of a delimiter split across chunks.
            const safe = Math.max(0, pending.length - (this.#delimiter.length - 1));
            if (safe > 0) {
              this.#feed(pending.subarray(0, safe));
              this.#pending = pending.subarray(safe);
            }
            return;
          }
          this.#feed(pending.subarray(0, at));
          this.#closePart();
          this.#pending = pending.subarray(at + this.#delimiter.length);
          this.#state = 'after-delimiter';
          break;
        }
        case 'after-delimiter': {
          if (pending.length < 2) return;
          if (pending[0] === 0x2d && pending[1] === 0x2d) {
            this.#state = 'epilogue';
            break;
          }
          // Transport padding (spaces, tabs) may follow the delimiter before its CRLF.
          const eol = pending.indexOf(CRLF);
          if (eol < 0) {
            if (pending.length > 256) throw new MultipartError('no line break after a multipart delimiter');
            return;
          }
          if (!/^[ \t]*$/.test(pending.subarray(0, eol).toString('latin1')))
            throw new MultipartError('unexpected bytes after a multipart delimiter');
          this.#pending = pending.subarray(eol + 2);
          this.#state = 'headers';
          break;
        }
        case 'headers': {
          // A part with no headers starts with the blank line right away.
          const end = pending.subarray(0, 2).equals(CRLF) ? -2 : pending.indexOf(HEADER_END);
          if (end === -1) {
            if (pending.length > MAX_PART_HEADER_BYTES) throw new MultipartError('multipart part headers too large');
            return;
          }
          const block = end < 0 ? '' : pending.subarray(0, end).toString('utf8');
          this.#current = { meta: parsePartHeaders(block), hash: createHash('sha256'), bytes: 0 };
          this.#pending = pending.subarray(end < 0 ? 2 : end + 4);
          this.#state = 'content';
          break;
        }
        case 'epilogue':
          this.#pending = Buffer.alloc(0);
          return;
      }
    }
  }

  #feed(bytes: Buffer): void {
    if (this.#state !== 'content' || this.#current === undefined || bytes.length === 0) return;
    this.#current.hash.update(bytes);
    this.#current.bytes += bytes.length;
  }

  #closePart(): void {
    const current = this.#current;
    if (current === undefined) return;
    this.#current = undefined;
    this.parts.push({ ...current.meta, sha256: current.hash.digest('hex'), bytes: current.bytes });
  }
}
