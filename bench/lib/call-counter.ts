// Preload for the echo container (`node --import bench/lib/call-counter.ts ...`): counts, per
// :path, the gRPC calls the container answered with grpc-status 0 and with any other status, so the
// bench can check h2load's calls (h2load cannot see trailers). On SIGUSR2 it prints
// `{"callCounts":{"<path>":{"started":n,"ok":n,"failed":n}}}` on stdout. Nothing in the sample
// package changes; the cost is one Map lookup per call.

import dc from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';

interface Counts {
  started: number;
  ok: number;
  failed: number;
}

const counts = new Map<string, Counts>();
const pathOf = Symbol('bench.path');
type Tagged = ServerHttp2Stream & { [pathOf]?: Counts };
let patched = false;

function countsFor(path: string): Counts {
  let entry = counts.get(path);
  if (entry === undefined) {
    entry = { started: 0, ok: 0, failed: 0 };
    counts.set(path, entry);
  }
  return entry;
}

function record(stream: Tagged, headers: OutgoingHttpHeaders | undefined): void {
  const status = headers?.['grpc-status'];
  const entry = stream[pathOf];
  if (status === undefined || entry === undefined) return;
  if (String(status) === '0') entry.ok++;
  else entry.failed++;
}

function patch(proto: Record<string, unknown>): void {
  patched = true;
  const sendTrailers = proto.sendTrailers as (this: Tagged, headers: OutgoingHttpHeaders) => void;
  const respond = proto.respond as (this: Tagged, headers?: OutgoingHttpHeaders, options?: unknown) => void;
  proto.sendTrailers = function (this: Tagged, headers: OutgoingHttpHeaders) {
    record(this, headers);
    return sendTrailers.call(this, headers);
  };
  // Trailers-only responses carry grpc-status in the response headers.
  proto.respond = function (this: Tagged, headers?: OutgoingHttpHeaders, options?: unknown) {
    record(this, headers);
    return respond.call(this, headers, options);
  };
}

dc.subscribe('http2.server.stream.created', (message) => {
  const { stream, headers } = message as { stream: Tagged; headers: IncomingHttpHeaders };
  if (!patched) patch(Object.getPrototypeOf(stream) as Record<string, unknown>);
  const entry = countsFor(String(headers[':path']));
  entry.started++;
  stream[pathOf] = entry;
});

process.on('SIGUSR2', () => {
  process.stdout.write(`${JSON.stringify({ callCounts: Object.fromEntries(counts) })}\n`);
});
