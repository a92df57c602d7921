// `node bench/lib/node-proxy-child.ts <containerPort>`: the floor of one Node.js HTTP/1.1 hop, the
// `node-proxy` path of `bench http` (issue 12). A node:http server sends every request to the
// container through a keep-alive undici Pool (the worker's own client and options) with undici's
// `stream()`, which writes the answer straight into the ServerResponse. Nothing else: no auth,
// routing, tunnel, metrics or tracing. Switchyard's HTTP path is two such hops (the invocation
// service and the worker), so twice this process's CPU per request is what the path cannot go below
// on Node. Prints `{"ready":true,"port":N}`; SIGTERM ends it.

import http from 'node:http';
import { Pool } from 'undici';
import { listenUntilTerm } from './node-proxy.ts';

/** Headers that describe one connection (RFC 9110 7.6.1), not the message: never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

const containerPort = Number(process.argv[2]);
if (!Number.isInteger(containerPort) || containerPort <= 0) {
  process.stderr.write('usage: node bench/lib/node-proxy-child.ts <containerPort>\n');
  process.exit(2);
}

const pool = new Pool(`http://127.0.0.1:${containerPort}`, {
  connections: 256,
  pipelining: 1,
  headersTimeout: 0,
  bodyTimeout: 0,
  keepAliveTimeout: 30_000,
});

/**
 * `headers` (of a request or an answer) without the hop-by-hop ones, and without `host`: undici sets it
 * for the container, and an answer has none.
 */
function forwardable(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined && name !== 'host' && !HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

const server = http.createServer((req, res) => {
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool
    .stream(
      {
        method: req.method as 'GET',
        path: req.url ?? '/',
        headers: forwardable(req.headers),
        body: hasBody ? req : undefined,
      },
      ({ statusCode, headers }) => res.writeHead(statusCode, forwardable(headers)),
    )
    .catch((err: Error) => {
      if (res.headersSent) res.destroy(err);
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`container: ${err.message}\n`);
    });
});

listenUntilTerm(server, () => {
  server.closeAllConnections();
  return pool.destroy();
});
