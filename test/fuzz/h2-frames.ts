// A small HTTP/2 frame encoder and reader (RFC 9113 §4, §6) for malformed-frame tests: frames are
// written by hand so that any field can be wrong, and header blocks are HPACK literals without
// indexing (RFC 7541 §6.2.2, no Huffman) so that any name or value can be sent.
import net from 'node:net';

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 §6). */
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Error codes (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** Name of an error code (for messages). */
export function errorName(code: number): string {
  return Object.entries(ErrorCode).find(([, v]) => v === code)?.[0] ?? `0x${code.toString(16)}`;
}

/**
 * One frame: 9-byte header then payload. `length` overrides the length field (a wrong length on
 * purpose); the stream ID's reserved bit is cleared unless `reserved` is set.
 */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
  options: { length?: number; reserved?: boolean } = {},
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(options.length ?? payload.length, 0, 3);
  head.writeUInt8(type, 3);
  head.writeUInt8(flags, 4);
  head.writeUInt32BE(((options.reserved ? 0x80000000 : 0) | streamId) >>> 0, 5);
  return Buffer.concat([head, payload]);
}

/** A SETTINGS frame with (identifier, value) pairs. */
export function settings(pairs: readonly [number, number][] = [], flags = 0, streamId = 0): Buffer {
  const payload = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value >>> 0, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, flags, streamId, payload);
}

/** A WINDOW_UPDATE frame. */
export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment >>> 0);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

/** A RST_STREAM frame. */
export function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

/** A PRIORITY frame (exclusive bit clear). */
export function priority(streamId: number, dependsOn: number, weight = 15): Buffer {
  const payload = Buffer.alloc(5);
  payload.writeUInt32BE(dependsOn);
  payload.writeUInt8(weight, 4);
  return frame(FrameType.PRIORITY, 0, streamId, payload);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits above it. */
function hpackInt(value: number, prefixBits: number, first: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** An HPACK string literal without Huffman coding. */
function hpackString(value: Buffer): Buffer {
  return Buffer.concat([hpackInt(value.length, 7, 0x00), value]);
}

/** A header block of literal fields without indexing (new names); any bytes in names and values. */
export function headerBlock(fields: readonly (readonly [string | Buffer, string | Buffer])[]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.from([0x00]));
    parts.push(hpackString(Buffer.isBuffer(name) ? name : Buffer.from(name, 'latin1')));
    parts.push(hpackString(Buffer.isBuffer(value) ? value : Buffer.from(value, 'latin1')));
  }
  return Buffer.concat(parts);
}

/** HEADERS with END_HEADERS (and END_STREAM when `endStream`). */
export function headers(streamId: number, block: Buffer, endStream = false, extraFlags = 0): Buffer {
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0) | extraFlags, streamId, block);
}

/** A request header block (`:method`, `:scheme`, `:path`, `:authority`, then `extra`). */
export function requestBlock(
  path: string,
  extra: readonly (readonly [string, string])[] = [],
  method = 'POST',
): Buffer {
  return headerBlock([[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'fuzz'], ...extra]);
}

/** A frame as read back. */
export interface ReadFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** What a server did with a raw connection: the frames it sent (in order) and whether it closed. */
export interface H2Exchange {
  frames: ReadFrame[];
  /** Bytes that are not HTTP/2 frames (an HTTP/1.1 answer from a callback listener), latin1. */
  text: string;
  closed: boolean;
  /** ms from the first write to the close, or to the end of the wait. */
  elapsedMs: number;
}

/** Splits `buf` into frames; returns them and the bytes left over. */
export function readFrames(buf: Buffer): { frames: ReadFrame[]; rest: Buffer } {
  const frames: ReadFrame[] = [];
  let at = 0;
  while (buf.length - at >= 9) {
    const length = buf.readUIntBE(at, 3);
    if (buf.length - at < 9 + length) break;
    frames.push({
      type: buf[at + 3],
      flags: buf[at + 4],
      streamId: buf.readUInt32BE(at + 5) & 0x7fffffff,
      payload: buf.subarray(at + 9, at + 9 + length),
    });
    at += 9 + length;
  }
  return { frames, rest: buf.subarray(at) };
}

/** The error code of a GOAWAY (payload bytes 4..8) or RST_STREAM frame. */
export function frameErrorCode(f: ReadFrame): number {
  return f.type === FrameType.GOAWAY ? f.payload.readUInt32BE(4) : f.payload.readUInt32BE(0);
}

/**
 * Connects to `port`, writes each of `writes` (a pause of `gapMs` between them), acknowledges the
 * server's SETTINGS, and collects what comes back until the server closes, `until` says enough, or
 * `waitMs` passes. Never throws for a reset connection (that is an answer too).
 */
export async function exchange(
  port: number,
  writes: readonly Buffer[],
  options: { waitMs: number; gapMs?: number; until?: (frames: ReadFrame[]) => boolean },
): Promise<H2Exchange> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const started = Date.now();
  let received = Buffer.alloc(0);
  const frames: ReadFrame[] = [];
  let text = '';
  let closed = false;
  let isH2: boolean | undefined;
  return await new Promise<H2Exchange>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ frames, text, closed, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(finish, options.waitMs);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // A server SETTINGS frame comes first on HTTP/2; anything else (an HTTP/1.1 status line) is text.
      if (isH2 === undefined && received.length >= 4) isH2 = received[3] === FrameType.SETTINGS;
      if (isH2 === false) {
        text += chunk.toString('latin1');
        return;
      }
      const { frames: got, rest } = readFrames(received);
      received = Buffer.from(rest);
      for (const f of got) {
        frames.push(f);
        if (f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK) && !socket.destroyed)
          socket.write(settings([], Flag.ACK));
      }
      if (options.until?.(frames)) finish();
    });
    socket.once('connect', async () => {
      for (const [i, w] of writes.entries()) {
        if (socket.destroyed) break;
        socket.write(w);
        if (options.gapMs && i < writes.length - 1) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    });
  });
}
