// Test helpers of the framed tunnel (issue 12): a real tunnel (CONNECT, then reverse HTTP/2) whose one
// HTTP/2 stream carries a mux, and the relay chain client -> front (relayStream over the MuxClient) ->
// worker (relayStream from each MuxServerStream) -> container (any HTTP/2 server).

import { once } from 'node:events';
import http2 from 'node:http2';
import type net from 'node:net';
import {
  forwardHeaders,
  MuxClient,
  type MuxFrameWriter,
  type MuxOptions,
  MuxServer,
  type MuxServerStream,
  type ProxyTunnel,
  type RelayResult,
  relayStream,
  type TunnelListener,
  type WorkerTunnel,
} from '../src/index.ts';
import { attachWorker, startListener } from './helpers.ts';

/** Path of the tunnel stream that carries the mux in these tests. */
export const MUX_PATH = '/_switchyard/v1/mux';

/** One HTTP/2 stream of a real tunnel, both ends (to carry a mux, or raw frames of a test). */
export interface TunnelStreamPair {
  listener: TunnelListener;
  proxyTunnel: ProxyTunnel;
  workerTunnel: WorkerTunnel;
  /** The proxy's HTTP/2 stream on the tunnel (it opened it). */
  proxyStream: http2.ClientHttp2Stream;
  /** The worker's end of it (answered 200). */
  workerStream: http2.ServerHttp2Stream;
  /** Opens one more such stream on the same tunnel. */
  another(): Promise<[http2.ClientHttp2Stream, http2.ServerHttp2Stream]>;
  close(): Promise<void>;
}

/** Opens a tunnel and one stream on it (the proxy opens it, the worker answers 200). */
export async function startTunnelStreamPair(): Promise<TunnelStreamPair> {
  const { listener, uri } = await startListener();
  const waiting: ((stream: http2.ServerHttp2Stream) => void)[] = [];
  const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'worker-mux', (stream, headers) => {
    if (headers[':path'] !== MUX_PATH) {
      stream.respond({ ':status': 404 }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200 });
    waiting.shift()?.(stream);
  });
  const another = async (): Promise<[http2.ClientHttp2Stream, http2.ServerHttp2Stream]> => {
    const worker = new Promise<http2.ServerHttp2Stream>((resolve) => waiting.push(resolve));
    const proxy = proxyTunnel.session.request({ ':method': 'POST', ':path': MUX_PATH });
    return [proxy, await worker];
  };
  const [proxyStream, workerStream] = await another();
  return {
    listener,
    proxyTunnel,
    workerTunnel,
    proxyStream,
    workerStream,
    another,
    async close() {
      workerTunnel.destroy();
      await listener.close();
    },
  };
}

/** Both ends of a mux over one HTTP/2 stream of a real tunnel. */
export interface MuxPair extends TunnelStreamPair {
  client: MuxClient;
  server: MuxServer;
}

/** Opens a tunnel and a mux over one stream of it. */
export async function startMuxPair(options: MuxOptions = {}): Promise<MuxPair> {
  const pair = await startTunnelStreamPair();
  const client = new MuxClient(pair.proxyStream, options);
  const server = new MuxServer(pair.workerStream, options);
  return {
    ...pair,
    client,
    server,
    async close() {
      client.destroy();
      server.destroy();
      await pair.close();
    },
  };
}

/** Listens `server` on a free loopback port. */
export async function listenLoopback(server: http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

/** The relay chain over a mux; `close()` tears it down (not the container). */
export interface MuxChain extends MuxPair {
  front: http2.Http2Server;
  frontPort: number;
  /** Worker -> container streams, in order of arrival. */
  containerStreams: http2.ClientHttp2Stream[];
  /** Calls the worker received over the mux, in order of arrival. */
  workerCalls: MuxServerStream[];
  /** What the front's relays reported, in order of completion. */
  frontResults: RelayResult[];
  /** What the worker's relays reported, in order of completion. */
  workerResults: RelayResult[];
  /** The worker's session to the container. */
  containerSession: http2.ClientHttp2Session;
}

/**
 * Builds client -> front (h2c; relayStream over the MuxClient) -> mux on a real tunnel -> worker
 * (relayStream of each call to `containerAddress`, host:port) -> container.
 */
export async function startMuxChain(
  containerAddress: string,
  options: MuxOptions & {
    /** Takes a worker call before the relay does; true: handled (not relayed). */
    workerCall?: (call: MuxServerStream, headers: http2.IncomingHttpHeaders) => boolean;
  } = {},
): Promise<MuxChain> {
  const pair = await startMuxPair(options);
  const containerSession = http2.connect(`http://${containerAddress}`);
  containerSession.on('error', () => {});
  const containerStreams: http2.ClientHttp2Stream[] = [];
  const workerCalls: MuxServerStream[] = [];
  const frontResults: RelayResult[] = [];
  const workerResults: RelayResult[] = [];
  pair.server.on('stream', (call: MuxServerStream, headers: http2.IncomingHttpHeaders) => {
    workerCalls.push(call);
    if (options.workerCall?.(call, headers) === true) return;
    const out = relayStream(call, containerSession, forwardHeaders(headers, new Set()), {
      upstreamErrorCode: 'SY_UPSTREAM_UNAVAILABLE',
      onEnd: (result) => workerResults.push(result),
    });
    if (out) containerStreams.push(out);
  });
  const front = http2.createServer();
  const frontSessions = new Set<http2.ServerHttp2Session>();
  front.on('session', (session) => {
    frontSessions.add(session);
    session.once('close', () => frontSessions.delete(session));
  });
  front.on('stream', (stream, headers) => {
    relayStream(stream, pair.client, forwardHeaders(headers, new Set(['authorization'])), {
      responseHeaders: { 'nvcf-reqid': 'mux-req' },
      onEnd: (result) => frontResults.push(result),
    });
  });
  const frontPort = await listenLoopback(front);
  return {
    ...pair,
    front,
    frontPort,
    containerStreams,
    workerCalls,
    frontResults,
    workerResults,
    containerSession,
    async close() {
      for (const session of frontSessions) session.destroy();
      containerSession.destroy();
      await Promise.all([pair.close(), new Promise<void>((resolve) => front.close(() => resolve()))]);
    },
  };
}

/** What a raw HTTP/2 call got back. */
export interface RawAnswer {
  headers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
  rstCode: number | undefined;
}

/** Makes one request on `session` with `body` (none: END_STREAM on the headers) and collects the answer. */
export function rawCall(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer,
): { stream: http2.ClientHttp2Stream; answer: Promise<RawAnswer> } {
  const stream = session.request(headers, { endStream: body === undefined });
  const answer: RawAnswer = { headers: undefined, body: Buffer.alloc(0), trailers: undefined, rstCode: undefined };
  const chunks: Buffer[] = [];
  stream.on('response', (h) => {
    answer.headers = h;
  });
  stream.on('trailers', (t) => {
    answer.trailers = t;
  });
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('error', () => {});
  if (body !== undefined) stream.end(body);
  return {
    stream,
    answer: new Promise((resolve) => {
      stream.on('close', () => {
        answer.body = Buffer.concat(chunks);
        answer.rstCode = stream.rstCode;
        resolve(answer);
      });
    }),
  };
}

/** gRPC request headers of `path` (unary shape). */
export function grpcHeaders(path = '/test.Svc/Call'): http2.OutgoingHttpHeaders {
  return { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' };
}

/** The 9-byte head of a mux frame (`[u32 call id][u8 type][u32 length]`), for hand-made (malformed) frames. */
export function frameHead(id: number, type: number, length: number): Buffer {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(id, 0);
  head[4] = type;
  head.writeUInt32BE(length, 5);
  return head;
}

/** What `writer` batched as one buffer (the chunks its writev would send, joined), or undefined when empty. */
export function takeBytes(writer: MuxFrameWriter): Buffer | undefined {
  const chunks = writer.takeChunks();
  if (chunks === undefined) return undefined;
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}
