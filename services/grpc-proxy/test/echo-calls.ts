// Test clients of the proxy: grpc-js Echo clients on their own TCP connection, call helpers that
// keep headers, trailers and status, and raw node:http2 / node:http requests for the wire shapes
// grpc-js hides (trailers-only answers, HTTP statuses, set-cookie, GOAWAY).

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import {
  type EchoClient,
  type EchoRequest,
  type EchoResponse,
  echoServiceDefinition,
  UNLIMITED_MESSAGE_OPTIONS,
} from '@switchyard/sample-functions';

const EchoConstructor = grpc.makeGenericClientConstructor(echoServiceDefinition(), 'Echo');

/**
 * An Echo client with its own TCP connection: grpc-js otherwise shares one connection between every
 * client of the same target, which would make "a new channel" the same pinned connection (G6).
 */
export function newChannel(address: string, options: grpc.ChannelOptions = {}): EchoClient {
  return new EchoConstructor(address, grpc.credentials.createInsecure(), {
    ...UNLIMITED_MESSAGE_OPTIONS,
    'grpc.use_local_subchannel_pool': 1,
    ...options,
  }) as EchoClient;
}

/** grpc.Metadata from a plain object. */
/** Runs `fn` with a new channel to `address`, closed afterwards. */
export async function withChannel<T>(address: string, fn: (c: EchoClient) => Promise<T>): Promise<T> {
  const c = newChannel(address);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

export function toMetadata(values: Record<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(values)) md.set(k, v);
  return md;
}

/** Everything a finished call showed the client. */
export interface CallResult {
  response?: EchoResponse;
  responses: EchoResponse[];
  error?: grpc.ServiceError;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
  status: grpc.StatusObject;
}

/** The `nvcf-reqid` of a call's initial metadata ('' if none). */
export function reqIdOf(result: CallResult): string {
  return String(result.headers.get('nvcf-reqid')[0] ?? '');
}

/** The `set-cookie` values of a call's initial metadata. */
export function setCookiesOf(result: CallResult): string[] {
  return result.headers.get('set-cookie').map(String);
}

type AnyCall =
  | grpc.ClientUnaryCall
  | grpc.ClientReadableStream<EchoResponse>
  | grpc.ClientDuplexStream<unknown, EchoResponse>;

/** Collects metadata and status of a call; resolves on 'status' (and the unary callback, when there is one). */
function track(
  call: AnyCall,
  unaryDone: Promise<{ err: grpc.ServiceError | null; res?: EchoResponse }> | undefined,
): Promise<CallResult> {
  let headers = new grpc.Metadata();
  const responses: EchoResponse[] = [];
  call.on('metadata', (m: grpc.Metadata) => {
    headers = m;
  });
  if (!unaryDone) {
    const stream = call as grpc.ClientReadableStream<EchoResponse>;
    stream.on('data', (r: EchoResponse) => responses.push(r));
    stream.on('error', () => undefined);
  }
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return Promise.all([status, unaryDone]).then(([s, unary]) => {
    // For a trailers-only answer grpc-js reports the header fields in the status metadata only.
    if (Object.keys(headers.toJSON()).length === 0 && s.code !== grpc.status.OK) headers = s.metadata;
    const error =
      s.code === grpc.status.OK
        ? undefined
        : (unary?.err ??
          Object.assign(new Error(s.details), { code: s.code, details: s.details, metadata: s.metadata }));
    return {
      response: unary?.res ?? responses[0],
      responses: unary?.res ? [unary.res] : responses,
      error: error as grpc.ServiceError | undefined,
      headers,
      trailers: s.metadata,
      status: s,
    };
  });
}

/** A unary Echo call. */
export function unary(
  client: EchoClient,
  request: Partial<EchoRequest>,
  metadata: Record<string, string> | grpc.Metadata,
  options: grpc.CallOptions = {},
): Promise<CallResult> {
  const md = metadata instanceof grpc.Metadata ? metadata : toMetadata(metadata);
  let done!: (v: { err: grpc.ServiceError | null; res?: EchoResponse }) => void;
  const unaryDone = new Promise<{ err: grpc.ServiceError | null; res?: EchoResponse }>((resolve) => {
    done = resolve;
  });
  const call = client.Unary(request, md, options, (err: grpc.ServiceError | null, res?: EchoResponse) =>
    done({ err, res }),
  );
  return track(call, unaryDone);
}

/** A server-streaming Echo call, read to the end. */
export function serverStream(
  client: EchoClient,
  request: Partial<EchoRequest>,
  metadata: Record<string, string>,
  options: grpc.CallOptions = {},
): { call: grpc.ClientReadableStream<EchoResponse>; result: Promise<CallResult> } {
  const call = client.ServerStream(request, toMetadata(metadata), options);
  return { call, result: track(call, undefined) };
}

/** A client-streaming Echo call sending `requests`. */
export function clientStream(
  client: EchoClient,
  requests: Partial<EchoRequest>[],
  metadata: Record<string, string>,
): Promise<CallResult> {
  let done!: (v: { err: grpc.ServiceError | null; res?: EchoResponse }) => void;
  const unaryDone = new Promise<{ err: grpc.ServiceError | null; res?: EchoResponse }>((resolve) => {
    done = resolve;
  });
  const call = client.ClientStream(toMetadata(metadata), (err: grpc.ServiceError | null, res?: EchoResponse) =>
    done({ err, res }),
  );
  const result = track(call, unaryDone);
  for (const r of requests) call.write(r);
  call.end();
  return result;
}

/** Asserts-free check used by tests: the gRPC status code of a result. */
export function codeOf(result: CallResult): number {
  return result.status.code;
}

// --- raw HTTP/2 and HTTP/1.1 ---

/** A gRPC length-prefixed message of an EchoRequest. */
export function grpcFrame(request: Partial<EchoRequest>): Buffer {
  const body = echoServiceDefinition().Unary.requestSerialize(request) as Buffer;
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/** Decodes the gRPC messages of a response body into EchoResponses. */
export function decodeGrpcBody(body: Buffer): EchoResponse[] {
  const out: EchoResponse[] = [];
  const deserialize = echoServiceDefinition().Unary.responseDeserialize;
  for (let at = 0; at + 5 <= body.length; ) {
    const len = body.readUInt32BE(at + 1);
    out.push(deserialize(body.subarray(at + 5, at + 5 + len)) as EchoResponse);
    at += 5 + len;
  }
  return out;
}

/** What a raw HTTP/2 request got back. */
export interface RawH2Response {
  headers: http2.IncomingHttpHeaders;
  /** True when the response HEADERS frame carried END_STREAM (a trailers-only answer). */
  endStreamOnHeaders: boolean;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  elapsedMs: number;
}

/** Opens a raw HTTP/2 (h2c) connection to `address` (`host:port`). */
export function h2connect(address: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  return session;
}

/** Default headers of a raw gRPC request to the Echo Unary method. */
export function grpcRequestHeaders(extra: Record<string, string> = {}): http2.OutgoingHttpHeaders {
  return {
    ':method': 'POST',
    ':path': '/switchyard.echo.v1.Echo/Unary',
    'content-type': 'application/grpc',
    te: 'trailers',
    ...extra,
  };
}

/** Sends one request on `session` (or a fresh connection to `address`) and reads the whole answer. */
export async function rawH2(
  target: string | http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): Promise<RawH2Response> {
  const own = typeof target === 'string';
  const session = typeof target === 'string' ? h2connect(target) : target;
  const started = Date.now();
  try {
    return await new Promise<RawH2Response>((resolve, reject) => {
      const req = session.request(headers, { endStream: body === undefined });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let endStreamOnHeaders = false;
      let trailers: http2.IncomingHttpHeaders | undefined;
      const chunks: Buffer[] = [];
      req.on('response', (h, flags) => {
        responseHeaders = h;
        endStreamOnHeaders = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      });
      req.on('trailers', (t) => {
        trailers = t;
      });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('error', reject);
      req.on('close', () =>
        resolve({
          headers: responseHeaders,
          endStreamOnHeaders,
          trailers,
          body: Buffer.concat(chunks),
          elapsedMs: Date.now() - started,
        }),
      );
      if (body !== undefined) req.end(body);
    });
  } finally {
    if (own) session.close();
  }
}

/** What an HTTP/1.1 request got back. */
export interface RawH1Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP/1.1 request to `address` on its own connection. */
export function rawH1(
  address: string,
  method: string,
  headers: Record<string, string> = {},
  path = '/',
): Promise<RawH1Response> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port: Number(port), method, path, headers, agent: false }, (res) =>
      readAnswer(res, resolve),
    );
    req.on('error', reject);
    req.end();
  });
}

/** What a WebSocket Upgrade got back: a 101 keeps its socket open (the caller ends it), else the answer. */
export interface RawUpgradeResponse extends RawH1Response {
  /** The upgraded socket, for a 101. */
  socket?: Duplex;
  /** Bytes that came behind the 101 in the same read (the first frames), for a 101. */
  head?: Buffer;
}

/** A WebSocket Upgrade request (HTTP/1.1) to `address` on its own connection, `headers` over the defaults. */
export function rawUpgradeRequest(
  address: string,
  headers: Record<string, string>,
  path = '/',
): Promise<RawUpgradeResponse> {
  const [host, port] = address.split(':');
  return new Promise((resolve, reject) => {
    const req = http.request({
      host,
      port: Number(port),
      path,
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket, head) => {
      socket.on('error', () => undefined);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '', socket, head });
    });
    req.on('response', (res) => readAnswer(res, resolve));
    req.on('error', reject);
    req.end();
  });
}

/** Reads `res` to its end and hands its status, headers and body to `resolve`. */
function readAnswer(res: http.IncomingMessage, resolve: (answer: RawH1Response) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () =>
    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
  );
}

/** Resolves when `check` returns true (polling every 25 ms), rejects after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
