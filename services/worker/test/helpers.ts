// Helpers shared by the worker and session-lifecycle suites: Echo clients that own their TCP
// connection (so closing one really closes a connection the proxy sees), promise-shaped calls,
// status assertions, and a raw HTTP/2 gRPC call for what grpc-js hides (GOAWAY, raw trailers).

import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import {
  type EchoClient,
  type EchoRequest,
  type EchoResponse,
  echoServiceDefinition,
  UNLIMITED_MESSAGE_OPTIONS,
} from '@switchyard/sample-functions';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const EchoCtor = grpc.makeGenericClientConstructor(echoServiceDefinition(), 'Echo');

/**
 * An Echo client with its own subchannel pool: two clients never share a TCP connection (grpc-js
 * shares them by default), so `close()` ends exactly this client's connection (S1).
 */
export function echoClient(address: string): EchoClient {
  return new EchoCtor(address, grpc.credentials.createInsecure(), {
    ...UNLIMITED_MESSAGE_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
  }) as EchoClient;
}

/** gRPC metadata from a plain record. */
export function toMetadata(entries: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.set(k, v);
  return md;
}

/** A finished unary call: the response and the initial metadata. */
export interface UnaryResult {
  res: EchoResponse;
  headers: grpc.Metadata;
  reqId: string;
}

/** One Echo.Unary call; rejects with the grpc-js ServiceError. */
export function unary(
  client: EchoClient,
  request: Partial<EchoRequest>,
  metadata: Record<string, string>,
  options: { deadlineMs?: number } = {},
): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    const callOptions: grpc.CallOptions = options.deadlineMs ? { deadline: Date.now() + options.deadlineMs } : {};
    const call = client.Unary(
      { payload: Buffer.from('ping'), ...request },
      toMetadata(metadata),
      callOptions,
      (err: grpc.ServiceError | null, res: EchoResponse) => {
        if (err) reject(err);
        else resolve({ res, headers, reqId: String(headers.get('nvcf-reqid')[0] ?? '') });
      },
    );
    call.on('metadata', (m: grpc.Metadata) => {
      headers = m;
    });
  });
}

/** Awaits `promise`, which must reject with gRPC status `code` (and `details` matching `message`). */
export async function rejectsWithStatus(
  promise: Promise<unknown>,
  code: grpc.status,
  message?: RegExp,
): Promise<grpc.ServiceError> {
  let error: grpc.ServiceError | undefined;
  try {
    await promise;
  } catch (err) {
    error = err as grpc.ServiceError;
  }
  assert.ok(error, `expected gRPC status ${grpc.status[code]}, the call succeeded`);
  assert.equal(
    error.code,
    code,
    `expected ${grpc.status[code]}, got ${grpc.status[error.code] ?? error.code}: ${error.details}`,
  );
  if (message) assert.match(error.details, message);
  return error;
}

/** Resolves with how `promise` settled, without throwing. */
export async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error };
  }
}

/** True if `promise` is still pending after `ms`. */
export async function pendingAfter(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol('pending');
  const winner = await Promise.race([
    promise.then(
      () => undefined,
      () => undefined,
    ),
    sleep(ms).then(() => marker),
  ]);
  return winner === marker;
}

// --- a raw HTTP/2 gRPC client, to see frames grpc-js does not surface ---

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n >>> 0;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

/** EchoRequest as protobuf (payload = 1, repeat = 2, delay_ms = 3), in a gRPC length-prefixed frame. */
export function echoRequestFrame(request: { payload?: Buffer; repeat?: number; delay_ms?: number }): Buffer {
  const parts: Buffer[] = [];
  if (request.payload?.length) parts.push(Buffer.from([0x0a]), varint(request.payload.length), request.payload);
  if (request.repeat) parts.push(Buffer.from([0x10]), varint(request.repeat));
  if (request.delay_ms) parts.push(Buffer.from([0x18]), varint(request.delay_ms));
  const message = Buffer.concat(parts);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** What a raw call saw. */
export interface RawCallResult {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  /** grpc-status from the trailers, or from a trailers-only response. */
  grpcStatus: number | undefined;
  /** RST_STREAM code when the stream was reset, else 0. */
  rstCode: number;
}

/** A raw HTTP/2 connection to a gRPC proxy that records GOAWAY. */
export class RawGrpcConnection {
  readonly session: http2.ClientHttp2Session;
  goaway = false;

  constructor(address: string) {
    this.session = http2.connect(`http://${address}`);
    this.session.on('error', () => undefined);
    this.session.on('goaway', () => {
      this.goaway = true;
    });
  }

  /** Starts an Echo call; resolves when the stream closes. */
  call(method: 'Unary' | 'ServerStream', metadata: Record<string, string>, frame: Buffer): Promise<RawCallResult> {
    const stream = this.session.request({
      ':method': 'POST',
      ':path': `/switchyard.echo.v1.Echo/${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...metadata,
    });
    stream.end(frame);
    return new Promise((resolve) => {
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders | undefined;
      stream.on('response', (h) => {
        headers = h;
      });
      stream.on('trailers', (t) => {
        trailers = t;
      });
      stream.on('error', () => undefined);
      stream.resume();
      stream.on('close', () => {
        const status = trailers?.['grpc-status'] ?? headers['grpc-status'];
        resolve({
          headers,
          trailers,
          grpcStatus: status === undefined ? undefined : Number(status),
          rstCode: stream.rstCode ?? 0,
        });
      });
    });
  }

  close(): void {
    this.session.close();
  }
}

/** Resolves with `promise`'s value, or fails the test when it has not settled within `ms` (a hang). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new assert.AssertionError({ message: `${what}: still pending after ${ms} ms` })),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
