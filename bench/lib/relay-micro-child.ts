// The process `npm run bench -- relay-micro` runs under callgrind (bench/relay-micro.ts): an in-process
// HTTP/2 gRPC echo server, and a client calling it either directly or through one relay hop
// (`relayStream` of @switchyard/tunnel on its own h2c server, one upstream session to the echo server),
// all on loopback in this one process. Driven over stdin, one command a line: `run <calls>` makes that
// many unary calls, `--concurrency` at a time, and prints `{"done":<calls>}`. First line printed:
// `{"ready":true}`. Two-hop modes (issue 12, `relay-micro --mux`): client -> front (h2c server,
// relayStream) -> tunnel -> worker (relayStream) -> echo, the proxy and the worker in this one process;
// `tunnel` = an HTTP/2 stream per call on the tunnel session (today), `mux` = every call framed on one
// HTTP/2 stream of that session (MuxClient/MuxServer).
//   node bench/lib/relay-micro-child.ts --mode direct|relay|tunnel|mux [--concurrency 4] [--payload-bytes 100]

import { once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  forwardHeaders,
  H2_SETTINGS,
  MuxClient,
  MuxServer,
  type MuxServerStream,
  type RelayUpstream,
  type RelayUpstreamSession,
  relayStream,
  widenConnectionWindow,
} from '@switchyard/tunnel';
import { encodeEchoRequest, grpcFrame, patternPayload } from './grpc-frame.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    'payload-bytes': { type: 'string', default: '100' },
  },
});
const mode = values.mode;
if (mode !== 'direct' && mode !== 'relay' && mode !== 'tunnel' && mode !== 'mux') {
  throw new TypeError('--mode must be direct, relay, tunnel or mux');
}
const concurrency = Number(values.concurrency);
const body = grpcFrame(encodeEchoRequest(patternPayload(Number(values['payload-bytes']))));

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' };
const NO_DROP: ReadonlySet<string> = new Set();

/** Listens `server` on a free loopback port; returns the port. */
async function listen(server: http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

// Echo: the request body back as the response body, then grpc-status 0 trailers.
const echo = http2.createServer();
echo.on('stream', (stream) => {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.once('end', () => {
    stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  });
});
let port = await listen(echo);

/** An h2c server on a free port whose streams are relayed to `upstream` (one relay hop). */
async function relayHop(upstream: RelayUpstreamSession<RelayUpstream>): Promise<number> {
  const relay = http2.createServer();
  relay.on('stream', (stream, headers) => {
    relayStream(stream, upstream, forwardHeaders(headers, NO_DROP));
  });
  return listen(relay);
}

/** A session to `port` with the tunnel's settings (as ProxyTunnel opens them). */
async function connectTunnelLike(to: number): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${to}`, {
    settings: H2_SETTINGS,
    peerMaxConcurrentStreams: 2 ** 31 - 1,
  });
  widenConnectionWindow(session);
  await once(session, 'connect');
  return session;
}

if (mode === 'relay') {
  const upstream = http2.connect(`http://127.0.0.1:${port}`);
  await once(upstream, 'connect');
  port = await relayHop(upstream);
} else if (mode === 'tunnel' || mode === 'mux') {
  // The worker: relays to the echo server (its "container").
  const container = http2.connect(`http://127.0.0.1:${port}`, { settings: H2_SETTINGS });
  await once(container, 'connect');
  const worker = http2.createServer({ settings: H2_SETTINGS });
  const onCall = (stream: MuxServerStream | http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    relayStream(stream, container, forwardHeaders(headers, NO_DROP));
  };
  if (mode === 'tunnel') {
    worker.on('stream', onCall);
    port = await relayHop(await connectTunnelLike(await listen(worker)));
  } else {
    // One long-lived stream of the tunnel session carries every call.
    worker.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      new MuxServer(stream).on('stream', onCall);
    });
    const tunnel = await connectTunnelLike(await listen(worker));
    const muxStream = tunnel.request({ ':method': 'POST', ':path': '/_switchyard/v1/mux' });
    await once(muxStream, 'response');
    port = await relayHop(new MuxClient(muxStream));
  }
}

const client = http2.connect(`http://127.0.0.1:${port}`);
await once(client, 'connect');
const REQUEST_HEADERS = {
  ':method': 'POST',
  ':path': '/switchyard.echo.v1.Echo/Unary',
  'content-type': 'application/grpc',
  te: 'trailers',
};

/** One unary call; rejects unless the body is echoed and grpc-status is 0. */
function call(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = client.request(REQUEST_HEADERS);
    let received = 0;
    let status: string | undefined;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    req.once('trailers', (trailers) => {
      status = trailers['grpc-status'] as string | undefined;
    });
    req.once('close', () => {
      if (status === '0' && received === body.length) resolve();
      else reject(new Error(`call failed: grpc-status ${status}, ${received} bytes`));
    });
    req.end(body);
  });
}

async function run(calls: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < calls) {
      next++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(' ');
  if (command !== 'run') continue;
  const calls = Number(arg);
  await run(calls);
  process.stdout.write(`${JSON.stringify({ done: calls })}\n`);
}
process.exit(0);
