// Headers between the tunnel and an HTTP function container (H3, H4): what the container receives
// of a tunnel stream's request (NVCF headers of H4 set by the worker, client copies removed), and
// what goes back over the tunnel of its answer (hop-by-hop fields removed). Pure functions, run per
// request: plain loops over the header objects, no intermediate arrays.

import type http2 from 'node:http2';
import { ContainerHeaders, connectionTokens, HOP_BY_HOP_HEADERS, TunnelHeaders } from '@switchyard/protocol';
import { util } from 'undici';

/** Request headers the container never receives from the tunnel: hop-by-hop ones, ours (set below) and Switchyard's. */
const DROP_TO_CONTAINER: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  ...Object.values(ContainerHeaders),
  ...Object.values(TunnelHeaders),
  'authorization',
]);

/** What the worker adds for the container on every request (H4). */
export interface ContainerRequestContext {
  /** `NVCF-REQID`: the request ID. */
  reqId: string;
  /** `NVCF-FUNCTION-ID`. */
  functionId: string;
  /** `NVCF-FUNCTION-VERSION-ID`. */
  versionId: string;
  /** `NVCF-INVOCATION-REGION`. */
  region: string;
}

/**
 * Headers of a tunnel stream as the container receives them: pseudo-headers, hop-by-hop fields,
 * `authorization` and every Switchyard/NVCF header a client may have sent removed, then the NVCF
 * headers of H4 set. `nvcf-poll-seconds` is taken from the tunnel stream (the invocation service
 * computes the time left and strips client copies) when it is a positive integer.
 */
export function containerRequestHeaders(
  headers: http2.IncomingHttpHeaders,
  context: ContainerRequestContext,
): Record<string, string | string[]> {
  const drop = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    // 58 is ':' (pseudo-headers).
    if (value === undefined || name.charCodeAt(0) === 58 || DROP_TO_CONTAINER.has(name)) continue;
    if (drop.includes(name)) continue;
    out[name] = value;
  }
  out[ContainerHeaders.requestId] = context.reqId;
  out[ContainerHeaders.functionId] = context.functionId;
  out[ContainerHeaders.functionVersionId] = context.versionId;
  out[ContainerHeaders.invocationRegion] = context.region;
  const poll = headers[ContainerHeaders.pollSeconds];
  if (typeof poll === 'string' && /^[1-9]\d{0,5}$/.test(poll)) out[ContainerHeaders.pollSeconds] = poll;
  return out;
}

/**
 * Response headers of the container as they go back over the tunnel: hop-by-hop fields removed;
 * `:status` first when `status` is given.
 */
export function tunnelResponseHeaders(
  headers: Record<string, string | string[] | undefined>,
  status?: number,
): http2.OutgoingHttpHeaders {
  const drop = connectionTokens(headers.connection);
  const out: http2.OutgoingHttpHeaders = status === undefined ? {} : { ':status': status };
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name)) continue;
    if (drop.includes(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * {@link tunnelResponseHeaders} of a container answer as undici's parser delivers it (`raw`: name,
 * value, name, value... as Buffers), built in one pass with no intermediate header object: names
 * lower-cased, repeated fields as arrays, hop-by-hop fields (and those `connection` lists) removed,
 * `:status` first.
 */
export function tunnelResponseHeadersFromRaw(raw: readonly Buffer[], status: number): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ':status': status };
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = util.headerNameToString(raw[i]);
    const value = raw[i + 1].toString('latin1');
    if (name === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
    // '__proto__' is no field name a plain object can hold.
    if (HOP_BY_HOP_HEADERS.has(name) || name === '__proto__') continue;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [String(had), value];
  }
  if (connection !== undefined)
    for (const token of connectionTokens(connection)) if (token.charCodeAt(0) !== 58) delete out[token];
  return out;
}
