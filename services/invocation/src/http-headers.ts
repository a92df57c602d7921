// Headers between client, invocation service and worker (H3-H5): what a client request sends to the
// worker over its tunnel, what a container answer sends back to the client, and `nvcf-status`.
// Pure functions of their arguments: no I/O, no state.

import type http from 'node:http';
import type http2 from 'node:http2';
import { ContainerHeaders, connectionTokens, HOP_BY_HOP_HEADERS, Metadata, TunnelHeaders } from '@switchyard/protocol';

/** Either protocol's request, as the client listener hands it over. */
export type RawRequest = http.IncomingMessage | http2.Http2ServerRequest;
/**
 * Either protocol's response. Http2ServerResponse (compat API) offers every ServerResponse method used
 * here; typed as one.
 */
export type RawResponse = http.ServerResponse;

/** Values of `nvcf-status` (H5). */
export const NvcfStatus = { fulfilled: 'fulfilled', inProgress: 'in-progress', errored: 'errored' } as const;

/** `nvcf-status` for a response status (H5): 202 in-progress, other 2xx-3xx fulfilled, else errored. */
export function nvcfStatusFor(status: number): string {
  if (status === 202) return NvcfStatus.inProgress;
  return status >= 200 && status < 400 ? NvcfStatus.fulfilled : NvcfStatus.errored;
}

/**
 * Client request headers that never reach the worker: hop-by-hop ones, the API key (H4), Switchyard's
 * tunnel headers, and the NVCF headers the worker sets for the container (H4: clients cannot set them).
 */
const DROP_TO_WORKER: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP_HEADERS,
  Metadata.authorization,
  ...Object.values(TunnelHeaders),
  ...Object.values(ContainerHeaders),
]);

/** `access-control-expose-headers`: every answer exposes `nvcf-reqid` to browsers (H5). */
export const EXPOSE = 'access-control-expose-headers';

/**
 * Client request headers as sent to the worker over the tunnel (H3, H4): pseudo-headers, hop-by-hop
 * headers (and those the `connection` header lists) and {@link DROP_TO_WORKER} removed, then `set`
 * added over them. Runs per request: plain loops, no intermediate arrays.
 */
export function tunnelRequestHeaders(
  headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders,
  set: http2.OutgoingHttpHeaders,
): http2.OutgoingHttpHeaders {
  const listed = connectionTokens(headers.connection);
  const out: http2.OutgoingHttpHeaders = {};
  const h = headers as Record<string, string | string[] | undefined>;
  for (const name in h) {
    const value = h[name];
    // 58 is ':' (pseudo-headers).
    if (value === undefined || name.charCodeAt(0) === 58 || DROP_TO_WORKER.has(name)) continue;
    if (listed.includes(name)) continue;
    out[name] = value;
  }
  for (const name in set) out[name] = set[name];
  return out;
}

/**
 * Container response headers as the client receives them (H4, H5): pseudo- and hop-by-hop headers
 * removed; `nvcf-reqid` = `reqId`, exposed; `nvcf-status` for `status`.
 */
export function clientResponseHeaders(
  headers: http2.IncomingHttpHeaders | Record<string, string | string[]>,
  reqId: string,
  status: number,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const h = headers as Record<string, string | string[] | undefined>;
  for (const name in h) {
    const value = h[name];
    if (value === undefined || name.charCodeAt(0) === 58 || HOP_BY_HOP_HEADERS.has(name)) continue;
    out[name] = value;
  }
  const expose = out[EXPOSE];
  out[EXPOSE] = expose ? `${expose}, ${Metadata.requestId}` : Metadata.requestId;
  out[Metadata.requestId] = reqId;
  out[Metadata.nvcfStatus] = nvcfStatusFor(status);
  return out;
}

/** Host of a request: `:authority` (HTTP/2) or `Host`; undefined when it has neither. */
export function hostOf(req: RawRequest): string | undefined {
  const h = req.headers as Record<string, string | string[] | undefined>;
  const value = h[':authority'] ?? h.host;
  return Array.isArray(value) ? value[0] : value;
}

/** True when the request carries a body (DATA frames, Content-Length > 0, or chunked). */
export function hasBody(req: RawRequest): boolean {
  if ('stream' in req && req.stream) return !req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}
