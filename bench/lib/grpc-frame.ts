// Hand-encoded gRPC frames of switchyard.echo.v1.EchoRequest, so load generators (h2load, the raw
// grpc-js client) send exactly one known message without loading protobufjs on the hot path.

/** Encodes a protobuf varint. */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Protobuf bytes of `EchoRequest { payload }` (field 1, wire type 2). */
export function encodeEchoRequest(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x0a, ...varint(payload.length)]), payload]);
}

/** One gRPC length-prefixed message: flag 0 (uncompressed), uint32 big-endian length, message. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt8(0, 0);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** A payload of `sizeBytes` bytes with a recognisable pattern (0x00..0xff repeating). */
export function patternPayload(sizeBytes: number): Buffer {
  const buf = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i++) buf[i] = i & 0xff;
  return buf;
}

/**
 * The payload (field 1) of an encoded EchoResponse, or undefined when field 1 is not first. The echo
 * server writes fields in number order, so payload comes first whenever it is non-empty.
 */
export function echoResponsePayload(message: Buffer): Buffer | undefined {
  if (message.length === 0 || message[0] !== 0x0a) return undefined;
  let length = 0;
  let shift = 0;
  let i = 1;
  for (; i < message.length; i++) {
    const byte = message[i] as number;
    length += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) break;
  }
  return message.subarray(i + 1, i + 1 + length);
}
