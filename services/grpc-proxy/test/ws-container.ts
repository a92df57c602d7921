// A sample WebSocket function container for G12 tests: a node:http server that answers Upgrade
// requests itself (RFC 6455 handshake and framing, no library: `ws` is not installed here), picks a
// subprotocol, reports what it received in its first message, then echoes every message back
// (text as text, binary as binary). Only the test side decodes frames; the proxy and worker never do.

import { createHash, randomUUID } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** What the container tells a client in its first (text, JSON) message. */
export interface WsHello {
  instance: string;
  /** `nvcf-reqid` the worker set on the upgrade request (the session). */
  reqId: string | undefined;
  /** The `Sec-WebSocket-Protocol` the container was offered. */
  offered: string | undefined;
  /** The one it chose. */
  chosen: string | undefined;
  /** Whether an `authorization` header reached the container (it must not). */
  sawAuthorization: boolean;
  path: string;
  /** How many WebSockets of this request ID the container has accepted so far. */
  connectionsOfSession: number;
  /** The `traceparent` of the Upgrade request (the worker's container-call span), if any. */
  traceparent: string | undefined;
}

/** A running sample container. */
export interface WsContainer {
  port: number;
  /** Open WebSocket connections. */
  readonly openCount: number;
  /** `nvcf-reqid` of every accepted WebSocket, in order. */
  readonly accepted: string[];
  stop(): Promise<void>;
}

/** The app subprotocol the container prefers; otherwise it picks the first one offered. */
export const APP_SUBPROTOCOL = 'switchyard-echo';

/** Starts the sample container on a free loopback port. */
export async function startWsContainer(): Promise<WsContainer> {
  const instance = randomUUID();
  const sockets = new Set<Duplex>();
  const accepted: string[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('upgrade required\n');
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    const key = req.headers['sec-websocket-key'];
    if (typeof key !== 'string' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (req.url === '/refuse') {
      socket.end(
        'HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: 8\r\n\r\nrefused\n',
      );
      return;
    }
    const offeredHeader = req.headers['sec-websocket-protocol'];
    const offered = typeof offeredHeader === 'string' ? offeredHeader.split(',').map((s) => s.trim()) : [];
    const chosen = offered.includes(APP_SUBPROTOCOL) ? APP_SUBPROTOCOL : offered[0];
    const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
    const head = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${accept}`,
      ...(chosen ? [`Sec-WebSocket-Protocol: ${chosen}`] : []),
      'X-Container: ws-echo',
    ];
    socket.write(`${head.join('\r\n')}\r\n\r\n`);
    (socket as net.Socket).setNoDelay?.(true);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const reqId = typeof req.headers['nvcf-reqid'] === 'string' ? req.headers['nvcf-reqid'] : undefined;
    accepted.push(reqId ?? '');
    const hello: WsHello = {
      instance,
      reqId,
      offered: typeof offeredHeader === 'string' ? offeredHeader : undefined,
      chosen,
      sawAuthorization: req.headers.authorization !== undefined,
      path: req.url ?? '',
      connectionsOfSession: accepted.filter((r) => r === (reqId ?? '')).length,
      traceparent: typeof req.headers.traceparent === 'string' ? req.headers.traceparent : undefined,
    };
    socket.write(encodeFrame(OPCODE.text, Buffer.from(JSON.stringify(hello))));
    const reader = new FrameReader();
    let fragments: Buffer[] = [];
    let fragmentOpcode = 0;
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (let frame = reader.next(); frame; frame = reader.next()) {
        if (frame.opcode === OPCODE.close) {
          socket.end(encodeFrame(OPCODE.close, frame.payload.subarray(0, 2)));
          return;
        }
        if (frame.opcode === OPCODE.ping) {
          socket.write(encodeFrame(OPCODE.pong, frame.payload));
          continue;
        }
        if (frame.opcode === OPCODE.pong) continue;
        if (frame.opcode !== OPCODE.continuation) fragmentOpcode = frame.opcode;
        fragments.push(frame.payload);
        if (!frame.fin) continue;
        const message = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
        fragments = [];
        socket.write(encodeFrame(fragmentOpcode, message));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get openCount() {
      return sockets.size;
    },
    accepted,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One unmasked server frame (FIN set). */
function encodeFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  let header: Buffer;
  if (length < 126) {
    header = Buffer.from([0x80 | opcode, length]);
  } else if (length < 65_536) {
    header = Buffer.alloc(4);
    header[0] = 0x80 | opcode;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x80 | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  return Buffer.concat([header, payload]);
}

/** Reads client frames (masked) from a byte stream; each frame is copied once. */
class FrameReader {
  #chunks: Buffer[] = [];
  #total = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#total += chunk.length;
  }

  next(): { fin: boolean; opcode: number; payload: Buffer } | undefined {
    if (this.#total < 2) return undefined;
    const start = this.#peek(14);
    const fin = (start[0] & 0x80) !== 0;
    const opcode = start[0] & 0x0f;
    const masked = (start[1] & 0x80) !== 0;
    let length = start[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (start.length < 4) return undefined;
      length = start.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (start.length < 10) return undefined;
      length = Number(start.readBigUInt64BE(2));
      offset = 10;
    }
    const maskOffset = offset;
    if (masked) offset += 4;
    if (this.#total < offset + length) return undefined;
    const all = this.#chunks.length === 1 ? this.#chunks[0] : Buffer.concat(this.#chunks);
    const payload = Buffer.from(all.subarray(offset, offset + length));
    if (masked) {
      const mask = all.subarray(maskOffset, maskOffset + 4);
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    }
    const rest = all.subarray(offset + length);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#total = rest.length;
    return { fin, opcode, payload };
  }

  /** Up to `n` first bytes. */
  #peek(n: number): Buffer {
    if (this.#chunks[0].length >= n || this.#chunks.length === 1) return this.#chunks[0].subarray(0, n);
    return Buffer.concat(this.#chunks).subarray(0, n);
  }
}
