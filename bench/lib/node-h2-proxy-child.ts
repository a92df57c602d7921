// `node bench/lib/node-h2-proxy-child.ts <containerPort>`: the floor of one Node.js HTTP/2 hop, the
// `node-proxy` path of `bench grpc` (issue 12). An h2c server opens, for every stream, a stream on one
// node:http2 client session to the container and passes headers, DATA (piped, so flow control holds)
// and trailers through untouched. Nothing else: no auth, routing, tunnel, metrics or tracing.
// Switchyard's gRPC path is two such hops (the proxy and the worker), so twice this process's CPU
// per call is what the path cannot go below on node:http2. Prints `{"ready":true,"port":N}`;
// SIGTERM ends it.

import http2 from 'node:http2';
import { listenUntilTerm } from './node-proxy.ts';

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL } = http2.constants;

const containerPort = Number(process.argv[2]);
if (!Number.isInteger(containerPort) || containerPort <= 0) {
  process.stderr.write('usage: node bench/lib/node-h2-proxy-child.ts <containerPort>\n');
  process.exit(2);
}

const upstream = http2.connect(`http://127.0.0.1:${containerPort}`, { peerMaxConcurrentStreams: 2 ** 31 - 1 });
upstream.on('error', (err) => {
  process.stderr.write(`upstream session: ${err.message}\n`);
  process.exit(1);
});

/** A stream's 'error' listener: its 'close' and rstCode say what the other side needs to know. */
function ignore(): void {}

const server = http2.createServer({ peerMaxConcurrentStreams: 2 ** 31 - 1 });
server.on('stream', (down, headers) => {
  down.on('error', ignore);
  const up = upstream.request(headers, { endStream: down.endAfterHeaders });
  up.on('error', ignore);
  let trailers: http2.IncomingHttpHeaders | undefined;
  up.on('trailers', (t) => {
    trailers = t;
  });
  up.on('response', (answer) => {
    if (down.destroyed) return;
    down.respond(answer, { waitForTrailers: true });
    down.once('wantTrailers', () => down.sendTrailers(trailers ?? {}));
    up.pipe(down);
  });
  if (!down.endAfterHeaders) down.pipe(up);
  // Either side reset: reset the other.
  up.on('close', () => {
    if (up.rstCode !== http2.constants.NGHTTP2_NO_ERROR && !down.destroyed) {
      if (!down.headersSent) down.respond({ [HTTP2_HEADER_STATUS]: 502 }, { endStream: true });
      else down.close(up.rstCode);
    }
  });
  down.on('close', () => {
    if (!up.destroyed) up.close(NGHTTP2_CANCEL);
  });
});

listenUntilTerm(server, () => new Promise<void>((resolve) => upstream.close(resolve)));
