// A deliberately misbehaving HTTP/2 client for the stream-flood tests (issue 11 item 2): it writes
// frames itself (the preface, HEADERS with literal HPACK fields, DATA) so that it can open streams
// past the server's SETTINGS_MAX_CONCURRENT_STREAMS, which node's client never does, and it counts
// what the server sends back (RST_STREAM codes, GOAWAY, response HEADERS).
import net from 'node:net';

/** HTTP/2 frame types used here (RFC 9113 §6). */
const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7 } as const;
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

/** HPACK string length with a 7-bit prefix (RFC 7541 §5.1), no Huffman. */
function hpackLength(n: number): Buffer {
  if (n < 127) return Buffer.from([n]);
  const out = [127];
  for (n -= 127; n >= 128; n >>= 7) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** A header block of literal fields without indexing, new names (RFC 7541 §6.2.2). */
function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers))
    parts.push(
      Buffer.from([0x00]),
      hpackLength(name.length),
      Buffer.from(name),
      hpackLength(Buffer.byteLength(value)),
      Buffer.from(value),
    );
  return Buffer.concat(parts);
}

/** What the server sent on a {@link RawH2Connection}. */
export interface RawH2Counts {
  /** RST_STREAM frames by error code (7 = REFUSED_STREAM, 11 = ENHANCE_YOUR_CALM). */
  rst: Map<number, number>;
  /** Streams that got response HEADERS. */
  responses: number;
  /** The GOAWAY, if any: its last stream ID and error code. */
  goaway?: { lastStreamId: number; code: number };
  /** Whether the server closed the socket. */
  closed: boolean;
}

/** One raw HTTP/2 connection; see the file comment. */
export class RawH2Connection {
  readonly counts: RawH2Counts = { rst: new Map(), responses: 0, closed: false };
  readonly #socket: net.Socket;
  #buffered = Buffer.alloc(0);
  #nextStreamId = 1;
  /** Whether the server's SETTINGS are acknowledged as soon as they arrive. */
  #ackSettings = false;
  #settingsToAck = 0;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('close', () => {
      this.counts.closed = true;
    });
    socket.on('error', () => {});
  }

  /** Connects and sends the preface and an empty SETTINGS; the server's SETTINGS are not acknowledged yet. */
  static async open(host: string, port: number): Promise<RawH2Connection> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    socket.write(frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0)));
    return new RawH2Connection(socket);
  }

  /**
   * Opens `count` streams at once, each HEADERS (`headers`) then DATA `body` with END_STREAM (no
   * body: END_STREAM on the HEADERS), regardless of the server's stream limit. Resolves once the
   * bytes are handed to the socket.
   */
  async openStreams(count: number, headers: Record<string, string>, body?: Buffer): Promise<void> {
    const block = headerBlock(headers);
    for (let i = 0; i < count; i += 500) {
      const frames: Buffer[] = [];
      for (let j = i; j < Math.min(count, i + 500); j++) {
        const id = this.#nextStreamId;
        this.#nextStreamId += 2;
        if (body === undefined) frames.push(frame(FrameType.HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, id, block));
        else {
          frames.push(frame(FrameType.HEADERS, FLAG_END_HEADERS, id, block));
          frames.push(frame(FrameType.DATA, FLAG_END_STREAM, id, body));
        }
      }
      if (!this.#socket.write(Buffer.concat(frames)))
        await new Promise<void>((resolve) => {
          this.#socket.once('drain', resolve);
          this.#socket.once('close', resolve);
        });
    }
  }

  /** Acknowledges the server's SETTINGS (those received and those to come). */
  ackSettings(): void {
    this.#ackSettings = true;
    for (; this.#settingsToAck > 0; this.#settingsToAck--)
      this.#socket.write(frame(FrameType.SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
  }

  /** RST_STREAM frames received with error `code`. */
  resets(code: number): number {
    return this.counts.rst.get(code) ?? 0;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  #read(chunk: Buffer): void {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    while (this.#buffered.length >= 9) {
      const length = this.#buffered.readUIntBE(0, 3);
      if (this.#buffered.length < 9 + length) return;
      const type = this.#buffered[3];
      const flags = this.#buffered[4];
      const payload = this.#buffered.subarray(9, 9 + length);
      if (type === FrameType.RST_STREAM) {
        const code = payload.readUInt32BE(0);
        this.counts.rst.set(code, (this.counts.rst.get(code) ?? 0) + 1);
      } else if (type === FrameType.GOAWAY) {
        this.counts.goaway = { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4) };
      } else if (type === FrameType.HEADERS) {
        this.counts.responses++;
      } else if (type === FrameType.SETTINGS && !(flags & FLAG_ACK)) {
        if (this.#ackSettings) this.#socket.write(frame(FrameType.SETTINGS, FLAG_ACK, 0, Buffer.alloc(0)));
        else this.#settingsToAck++;
      } else if (type === FrameType.PING && !(flags & FLAG_ACK)) {
        this.#socket.write(frame(FrameType.PING, FLAG_ACK, 0, Buffer.from(payload)));
      }
      this.#buffered = this.#buffered.subarray(9 + length);
    }
  }
}
