// The standard grpc.health.v1.Health service on the client listener, answering for the proxy itself
// (service "" or "grpc-proxy"). The proxy relays gRPC at the HTTP/2 level without protobuf, so the two
// tiny messages are encoded here: HealthCheckRequest { string service = 1; } and
// HealthCheckResponse { ServingStatus status = 1; } (grpc/grpc-proto health/v1/health.proto).

import type http2 from 'node:http2';

/** `/grpc.health.v1.Health/Check` and `/Watch`. */
export const HEALTH_PATHS = {
  check: '/grpc.health.v1.Health/Check',
  watch: '/grpc.health.v1.Health/Watch',
} as const;

/** HealthCheckResponse.ServingStatus values. */
export const ServingStatus = { SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

/** Service names this proxy answers for (the empty name is the server as a whole). */
const OWN_SERVICES = new Set(['', 'grpc-proxy']);
/** How often a Watch re-checks readiness to send a change, ms. */
const WATCH_POLL_MS = 1_000;
/** Largest request body read (a service name), bytes. */
const MAX_REQUEST_BYTES = 4096;

/** One gRPC message frame (uncompressed) holding a HealthCheckResponse with `status`. */
export function healthResponseFrame(status: number): Buffer {
  return Buffer.from([0, 0, 0, 0, 2, 0x08, status]);
}

/**
 * The `service` field of a HealthCheckRequest frame, or undefined when the body is not one.
 * @param body the request body (one gRPC frame; empty means no message, read as service "").
 */
export function parseHealthRequest(body: Buffer): string | undefined {
  if (body.length === 0) return '';
  if (body.length < 5 || body[0] !== 0) return undefined;
  const length = body.readUInt32BE(1);
  const msg = body.subarray(5, 5 + length);
  if (msg.length !== length) return undefined;
  let service = '';
  let i = 0;
  while (i < msg.length) {
    const tag = msg[i++];
    const wire = tag & 7;
    let len = 0;
    let shift = 0;
    for (;;) {
      if (i >= msg.length || shift > 28) return undefined;
      const b = msg[i++];
      len |= (b & 0x7f) << shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    if (wire === 0) continue; // a varint field: `len` was its value
    if (wire !== 2 || i + len > msg.length) return undefined;
    if (tag >> 3 === 1) service = msg.subarray(i, i + len).toString('utf8');
    i += len;
  }
  return service;
}

/**
 * Answers Check and Watch on `stream` when `headers[':path']` is a Health path.
 * @param serving whether the proxy is ready (NATS connected, not draining).
 * @returns true when the stream was taken (a Health call), false for any other path.
 */
export function handleHealth(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  serving: () => boolean,
): boolean {
  const path = headers[':path'];
  if (path !== HEALTH_PATHS.check && path !== HEALTH_PATHS.watch) return false;
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
  });
  stream.once('end', () => {
    if (stream.destroyed || stream.closed) return;
    const service = size > MAX_REQUEST_BYTES ? undefined : parseHealthRequest(Buffer.concat(chunks));
    if (service === undefined) return trailersOnly(stream, 3, 'invalid HealthCheckRequest'); // INVALID_ARGUMENT
    const own = OWN_SERVICES.has(service);
    const status = () => (serving() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
    if (path === HEALTH_PATHS.check) {
      if (!own) return trailersOnly(stream, 5, 'unknown service'); // NOT_FOUND, as the health spec says
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(healthResponseFrame(status()));
      return;
    }
    // Watch: the current status now, then each change, until the client cancels.
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    let last = own ? status() : ServingStatus.SERVICE_UNKNOWN;
    stream.write(healthResponseFrame(last));
    if (!own) return;
    const timer = setInterval(() => {
      const now = status();
      if (now !== last && !stream.destroyed) {
        last = now;
        stream.write(healthResponseFrame(now));
      }
    }, WATCH_POLL_MS);
    timer.unref();
    stream.once('close', () => clearInterval(timer));
  });
  return true;
}

function trailersOnly(stream: http2.ServerHttp2Stream, grpcStatus: number, message: string): void {
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), 'grpc-message': message },
    { endStream: true },
  );
}
