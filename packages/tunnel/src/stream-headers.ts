// Request and response headers of a relayed stream: what crosses a hop (RFC 9113 8.2.2), as the object
// node:http2 gives or as the flat list `[name, value, ...]` its request() and respond() take without
// copying (the relay's hot path).

import http2 from 'node:http2';

/** Request headers that never cross a hop: HTTP/2 connection-specific fields (RFC 9113 8.2.2). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
]);

/**
 * Copies `headers` for forwarding: pseudo-headers `:method`, `:path`, `:scheme`, `:authority` kept,
 * hop-by-hop fields (and `te` other than `trailers`) and the names in `drop` (lower case) removed,
 * `set` applied last.
 */
export function forwardHeaders(
  headers: http2.IncomingHttpHeaders,
  drop: ReadonlySet<string>,
  set?: http2.OutgoingHttpHeaders,
): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    if (name === ':status' || HOP_BY_HOP.has(name) || drop.has(name)) continue;
    // HTTP/2 allows only `te: trailers` (RFC 9113 8.2.2); anything else would make request() throw.
    if (name === 'te' && headers[name] !== 'trailers') continue;
    out[name] = headers[name];
  }
  if (set) Object.assign(out, set);
  return out;
}

/**
 * {@link forwardHeaders} as a flat header list `[name, value, name, value, ...]`, which
 * `ClientHttp2Session.request()` takes as it is (an object it copies into one of its own, and walks
 * again). A field with several values (`set-cookie`) gives one entry per value. The names in `set`
 * replace incoming fields of the same name and are appended last; a `set` value undefined is skipped.
 */
export function forwardHeaderList(
  headers: http2.IncomingHttpHeaders,
  drop: ReadonlySet<string>,
  set?: Readonly<Record<string, string | undefined>>,
): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    if (name === ':status' || HOP_BY_HOP.has(name) || drop.has(name)) continue;
    if (set !== undefined && Object.hasOwn(set, name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      // HTTP/2 allows only `te: trailers` (RFC 9113 8.2.2); anything else would make request() throw.
      if (name !== 'te' || value === 'trailers') out.push(name, value);
    } else for (const one of value) out.push(name, one);
  }
  if (set !== undefined) {
    for (const name of Object.keys(set)) {
      const value = set[name];
      if (value !== undefined) out.push(name, value);
    }
  }
  return out;
}

/**
 * {@link forwardHeaderList} of a request whose headers are also at hand as node:http2 received them
 * (`raw`: the flat list `[name, value, ...]` of the 'stream' event, lower-case names), read in one pass
 * without the object's key list and lookups. Repeated fields stay repeated.
 */
export function forwardRawHeaderList(
  raw: readonly string[],
  drop: ReadonlySet<string>,
  set?: Readonly<Record<string, string | undefined>>,
): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name === ':status' || HOP_BY_HOP.has(name) || drop.has(name)) continue;
    if (set !== undefined && Object.hasOwn(set, name)) continue;
    // HTTP/2 allows only `te: trailers` (RFC 9113 8.2.2); anything else would make request() throw.
    if (name !== 'te' || value === 'trailers') out.push(name, value);
  }
  if (set !== undefined) {
    for (const name of Object.keys(set)) {
      const value = set[name];
      if (value !== undefined) out.push(name, value);
    }
  }
  return out;
}

/** The first value of field `name` (lower case) in a flat header list, or undefined. */
export function listValue(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/**
 * The upstream's response header list `raw` (as node:http2 received it: ours alone) with `extra`
 * applied as Object.assign would (its names replace the upstream's, then are appended), and the
 * upstream's never-indexed fields kept never-indexed.
 */
export function responseList(
  raw: string[],
  received: http2.IncomingHttpHeaders,
  extra: http2.OutgoingHttpHeaders | undefined,
): string[] {
  const sensitive = (received as Record<symbol, unknown>)[http2.sensitiveHeaders];
  if (sensitive !== undefined) (raw as unknown as Record<symbol, unknown>)[http2.sensitiveHeaders] = sensitive;
  if (extra === undefined) return raw;
  for (let i = 0; i < raw.length; ) {
    if (Object.hasOwn(extra, raw[i] as string)) raw.splice(i, 2);
    else i += 2;
  }
  for (const name of Object.keys(extra)) {
    const value = extra[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) raw.push(name, one);
    else raw.push(name, String(value));
  }
  return raw;
}

/** True when a request or response content type is gRPC (`application/grpc`, `+proto`, `+json`...). */
export function isGrpcContentType(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}
