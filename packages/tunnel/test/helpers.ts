// Test helpers: a real chain grpc-js client -> h2c "front" server -> tunnel -> worker -> sample echo
// server, built from the package's public API only, plus raw-socket and gRPC call helpers.

import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { ErrorCode } from '@switchyard/protocol';
import {
  type EchoClient,
  loadEchoClient,
  type SampleServerHandle,
  startEchoServer,
} from '@switchyard/sample-functions';
import {
  type DialTunnelOptions,
  dialTunnel,
  forwardHeaders,
  type ProxyTunnel,
  type RelayResult,
  relayStream,
  TunnelListener,
  type TunnelListenerOptions,
  type TunnelStreamHandler,
  type WorkerTunnel,
} from '../src/index.ts';

/** Starts a callback listener on a free loopback port. */
export async function startListener(
  options: TunnelListenerOptions = {},
): Promise<{ listener: TunnelListener; uri: string }> {
  const listener = new TunnelListener({ host: '127.0.0.1', port: 0, ...options });
  const port = await listener.listen();
  return { listener, uri: `http://127.0.0.1:${port}` };
}

/** Issues a token and dials it: resolves with both ends of the new tunnel. */
export async function attachWorker(
  listener: TunnelListener,
  uri: string,
  workerId: string,
  onStream: TunnelStreamHandler,
  reqId = 'req-1',
  dial: Partial<DialTunnelOptions> = {},
): Promise<{ proxyTunnel: ProxyTunnel; workerTunnel: WorkerTunnel }> {
  const { token, attached } = listener.expectAttach(reqId);
  const workerTunnel = await dialTunnel({ callbackUri: uri, token, workerId, onStream, ...dial });
  const proxyTunnel = await attached;
  return { proxyTunnel, workerTunnel };
}

/** Sends `request` on a raw TCP connection and resolves with everything the server answered. */
export async function rawRequest(port: number, request: string): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(request);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

/** A TCP relay to `port` that can be frozen: it stops moving bytes but keeps both sockets open. */
export async function startTcpRelay(port: number): Promise<{ uri: string; freeze(): void; close(): void }> {
  const pairs: [net.Socket, net.Socket][] = [];
  let frozen = false;
  const server = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    pairs.push([inbound, outbound]);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    // Frozen, a close is not passed on either: each end must find out by itself that the other is silent.
    inbound.on('close', () => frozen || outbound.destroy());
    outbound.on('close', () => frozen || inbound.destroy());
    inbound.on('data', (chunk) => {
      if (!frozen) outbound.write(chunk);
    });
    outbound.on('data', (chunk) => {
      if (!frozen) inbound.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    uri: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    // Bytes keep being read (and dropped) so that TCP stays healthy: only HTTP/2 goes silent.
    freeze() {
      frozen = true;
    },
    close() {
      server.close();
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
    },
  };
}

/** The HTTP status of a raw response. */
export function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
}

/** The nvcf-reqid the front adds to every response (RelayOptions.responseHeaders). */
export const CHAIN_REQ_ID = '7c4f9a62-1f0e-4b8e-9d3a-2f6b1c0e5a11';

/** One full chain; `close()` tears everything down. */
export interface Chain {
  echo: SampleServerHandle;
  listener: TunnelListener;
  proxyTunnel: ProxyTunnel;
  workerTunnel: WorkerTunnel;
  front: http2.Http2Server;
  frontPort: number;
  client: EchoClient;
  /** Worker-side upstream streams (worker -> echo server), in order of arrival. */
  upstreamStreams: http2.ClientHttp2Stream[];
  /** Proxy-side tunnel streams (front -> tunnel), in order of arrival. */
  tunnelStreams: http2.ClientHttp2Stream[];
  /** What the front's relays reported (onEnd), in order of completion. */
  frontResults: RelayResult[];
  /** Worker -> echo container session. */
  containerSession: () => http2.ClientHttp2Session;
  close(): Promise<void>;
}

/**
 * Builds grpc-js client -> front (h2c, relayStream over the tunnel) -> worker (relayStream to the
 * container) -> echo server.
 */
export async function startChain(
  options: {
    listener?: TunnelListenerOptions;
    workerId?: string;
    dial?: Partial<DialTunnelOptions>;
    dialUri?: (uri: string) => Promise<string>;
  } = {},
): Promise<Chain> {
  const echo = await startEchoServer();
  let containerSession: http2.ClientHttp2Session | undefined;
  const container = () => {
    if (!containerSession || containerSession.closed || containerSession.destroyed) {
      containerSession = http2.connect(`http://${echo.address}`);
      containerSession.on('error', () => {});
    }
    return containerSession;
  };
  const upstreamStreams: http2.ClientHttp2Stream[] = [];
  const tunnelStreams: http2.ClientHttp2Stream[] = [];
  const frontResults: RelayResult[] = [];
  const { listener, uri } = await startListener(options.listener);
  const { proxyTunnel, workerTunnel } = await attachWorker(
    listener,
    options.dialUri ? await options.dialUri(uri) : uri,
    options.workerId ?? 'worker-1',
    (stream, headers) => {
      const out = relayStream(stream, container(), forwardHeaders(headers, new Set()), {
        upstreamErrorCode: 'SY_UPSTREAM_UNAVAILABLE' satisfies ErrorCode,
      });
      if (out) upstreamStreams.push(out);
    },
    'req-1',
    options.dial,
  );
  const front = http2.createServer();
  const frontSessions = new Set<http2.ServerHttp2Session>();
  front.on('session', (session) => {
    frontSessions.add(session);
    session.once('close', () => frontSessions.delete(session));
  });
  front.on('stream', (stream, headers) => {
    const tunnel = listener.get(proxyTunnel.workerId) ?? proxyTunnel;
    const out = relayStream(stream, tunnel.session, forwardHeaders(headers, new Set(['authorization'])), {
      responseHeaders: { 'nvcf-reqid': CHAIN_REQ_ID },
      onEnd: (result) => frontResults.push(result),
    });
    if (out) tunnelStreams.push(out);
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  const frontPort = (front.address() as net.AddressInfo).port;
  const client = loadEchoClient(`127.0.0.1:${frontPort}`);
  return {
    echo,
    listener,
    proxyTunnel,
    workerTunnel,
    front,
    frontPort,
    client,
    upstreamStreams,
    tunnelStreams,
    frontResults,
    containerSession: container,
    async close() {
      client.close();
      for (const session of frontSessions) session.destroy();
      workerTunnel.destroy();
      containerSession?.destroy();
      await Promise.all([listener.close(), new Promise<void>((resolve) => front.close(() => resolve())), echo.kill()]);
    },
  };
}

/** What a finished gRPC call produced. */
export interface CallResult<T> {
  messages: T[];
  headers: grpc.Metadata;
  status: grpc.StatusObject;
}

/** Per-call options: metadata entries and a deadline in ms from now. */
export interface CallOptions {
  metadata?: Record<string, string>;
  deadlineMs?: number;
}

function toMetadata(entries: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) md.add(k, v);
  return md;
}

function callOptions(options: CallOptions): grpc.CallOptions {
  return options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
}

function collect<T>(call: grpc.Call, messages: T[]): Promise<CallResult<T>> {
  let headers = new grpc.Metadata();
  call.on('metadata', (md: grpc.Metadata) => {
    headers = md;
  });
  return new Promise((resolve) => {
    call.on('status', (status: grpc.StatusObject) => resolve({ messages, headers, status }));
  });
}

/** Calls a unary (one request) or client-streaming (array of requests) method. */
export function callWithOne<T>(
  client: EchoClient,
  method: string,
  requests: unknown,
  options: CallOptions = {},
): Promise<CallResult<T>> {
  const messages: T[] = [];
  const done = (err: grpc.ServiceError | null, response?: T) => {
    if (!err && response !== undefined) messages.push(response);
  };
  const streaming = Array.isArray(requests);
  const call = streaming
    ? client[method](toMetadata(options.metadata), callOptions(options), done)
    : client[method](requests, toMetadata(options.metadata), callOptions(options), done);
  const result = collect<T>(call, messages);
  if (streaming) {
    for (const r of requests) call.write(r);
    call.end();
  }
  return result;
}

/** Calls a server-streaming (one request) or bidi (array of requests) method. */
export function callWithMany<T>(
  client: EchoClient,
  method: string,
  requests: unknown,
  options: CallOptions = {},
): { call: grpc.ClientReadableStream<T>; result: Promise<CallResult<T>> } {
  const messages: T[] = [];
  const streaming = Array.isArray(requests);
  const call = streaming
    ? client[method](toMetadata(options.metadata), callOptions(options))
    : client[method](requests, toMetadata(options.metadata), callOptions(options));
  call.on('data', (m: T) => messages.push(m));
  call.on('error', () => {}); // the status event carries the outcome
  const result = collect<T>(call, messages);
  if (streaming) {
    for (const r of requests) call.write(r);
    call.end();
  }
  return { call, result };
}

/** Polls `check` every 10 ms until true; rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
