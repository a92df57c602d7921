// A small DNS client for tests: dns-packet encodes and decodes, node:dgram / node:net carry the bytes.
import dgram from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket, { type DecodedPacket, type OptAnswer, type RecordType } from 'dns-packet';

/** Options of one test query. */
export interface QueryOptions {
  /** Record type. @default 'A' */
  type?: RecordType | 'ANY';
  /** EDNS Client Subnet `address/prefix`; implies EDNS. */
  subnet?: string;
  /** Send an OPT record (EDNS0). @default true when subnet is set */
  edns?: boolean;
  /** EDNS version. @default 0 */
  ednsVersion?: number;
  /** Transport. @default 'udp' */
  transport?: 'udp' | 'tcp';
  /** Opcode bits (0 = QUERY). @default 0 */
  opcode?: number;
}

/** A decoded response plus its numeric rcode. */
export type Reply = DecodedPacket & { rcodeNumber: number };

/** Encodes a query packet. */
export function encodeQuery(name: string, options: QueryOptions = {}): Buffer {
  const additionals: OptAnswer[] = [];
  if (options.edns || options.subnet !== undefined) {
    const opt: OptAnswer = {
      type: 'OPT',
      name: '.',
      udpPayloadSize: 1232,
      extendedRcode: 0,
      ednsVersion: options.ednsVersion ?? 0,
      flags: 0,
      flag_do: false,
      options: [],
    };
    if (options.subnet !== undefined) {
      const [ip, prefix] = options.subnet.split('/');
      opt.options.push({
        code: 8,
        family: ip.includes(':') ? 2 : 1,
        sourcePrefixLength: Number(prefix),
        scopePrefixLength: 0,
        ip,
      } as OptAnswer['options'][number]);
    }
    additionals.push(opt);
  }
  return dnsPacket.encode({
    type: 'query',
    id: Math.floor(Math.random() * 65_535),
    flags: dnsPacket.RECURSION_DESIRED | ((options.opcode ?? 0) << 11),
    questions: [{ type: (options.type ?? 'A') as RecordType, name, class: 'IN' }],
    additionals,
  });
}

/** Sends raw bytes and decodes the reply. */
export async function exchange(port: number, bytes: Buffer, transport: 'udp' | 'tcp' = 'udp'): Promise<Reply> {
  const raw = transport === 'udp' ? await exchangeUdp(port, bytes) : await exchangeTcp(port, bytes);
  const reply = dnsPacket.decode(raw) as Reply;
  reply.rcodeNumber = (reply.flags ?? 0) & 0xf;
  return reply;
}

/** Queries 127.0.0.1:`port` for `name`. */
export function query(port: number, name: string, options: QueryOptions = {}): Promise<Reply> {
  return exchange(port, encodeQuery(name, options), options.transport ?? 'udp');
}

/** The addresses of the A/AAAA answers, sorted. */
export function addressesOf(reply: Reply): string[] {
  return (reply.answers ?? []).flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [a.data] : [])).sort();
}

/** The ECS option of the reply's OPT record, if any. */
export function subnetOf(
  reply: Reply,
): { sourcePrefixLength: number; scopePrefixLength: number; ip: string } | undefined {
  const opt = reply.additionals?.find((a): a is OptAnswer => a.type === 'OPT');
  return opt?.options.find((o) => Number(o.code) === 8) as
    | { sourcePrefixLength: number; scopePrefixLength: number; ip: string }
    | undefined;
}

function exchangeUdp(port: number, bytes: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  return new Promise<Buffer>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('udp query timed out')), 2_000);
    socket.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    socket.once('error', reject);
    socket.send(bytes, port, '127.0.0.1');
  }).finally(() => socket.close());
}

function exchangeTcp(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('tcp query timed out'));
    }, 2_000);
    let pending: Buffer = Buffer.alloc(0);
    socket.on('connect', () => {
      const frame = Buffer.alloc(2 + bytes.length);
      frame.writeUInt16BE(bytes.length, 0);
      bytes.copy(frame, 2);
      socket.write(frame);
    });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        clearTimeout(timer);
        socket.end();
        resolve(pending.subarray(2, 2 + pending.readUInt16BE(0)));
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
