// Where a client's request ID comes from (G7) and the cookie forms of G5/G8.
import type http2 from 'node:http2';
import { isUuid, Metadata, REQUEST_ID_COOKIE } from '@switchyard/protocol';

/**
 * The request ID a call asks to resume (G7): `nvcf-reqid` metadata, then `nvcf-reqid.<uuid>` inside
 * `Sec-WebSocket-Protocol`, then the `nvcf-request-id` cookie. A value that is not a UUID is ignored.
 */
export function requestedSessionId(headers: http2.IncomingHttpHeaders): string | undefined {
  const direct = headers[Metadata.requestId];
  if (typeof direct === 'string' && direct !== '') return isUuid(direct) ? direct.toLowerCase() : undefined;
  const protocols = headers[Metadata.secWebSocketProtocol];
  if (typeof protocols === 'string') {
    for (const entry of protocols.split(',')) {
      const item = entry.trim();
      if (item.startsWith(`${Metadata.requestId}.`)) {
        const value = item.slice(Metadata.requestId.length + 1);
        return isUuid(value) ? value.toLowerCase() : undefined;
      }
    }
  }
  const cookie = headers.cookie;
  const cookies = Array.isArray(cookie) ? cookie.join('; ') : cookie;
  if (cookies) {
    for (const part of cookies.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === REQUEST_ID_COOKIE) {
        const value = part.slice(eq + 1).trim();
        return isUuid(value) ? value.toLowerCase() : undefined;
      }
    }
  }
  return undefined;
}

/** `set-cookie` value binding a client to session `reqId` (G5). */
export function sessionCookie(reqId: string): string {
  return `${REQUEST_ID_COOKIE}=${reqId}; Path=/; HttpOnly; SameSite=Lax`;
}

/** `set-cookie` value clearing the session cookie (G8). */
export const CLEAR_SESSION_COOKIE = `${REQUEST_ID_COOKIE}=; Path=/; Max-Age=0`;

/**
 * CORS headers on proxy-made errors and preflight answers (G14) when the request names no `Origin`.
 * Browsers refuse `access-control-allow-origin: *` together with credentials, so a request that
 * carries an Origin gets {@link corsHeaders} (the origin echoed) instead.
 */
export const CORS_HEADERS: Readonly<http2.OutgoingHttpHeaders> = Object.freeze({
  'access-control-allow-origin': '*',
  'access-control-allow-credentials': 'true',
  'access-control-allow-methods': 'HEAD, GET, POST, PUT, PATCH, DELETE',
  'access-control-allow-headers': '*',
  'access-control-max-age': '3600',
  'access-control-expose-headers': Metadata.requestId,
  vary: 'origin',
});

/**
 * CORS headers for a request with `origin` (G14: any origin, any header, with credentials). With
 * credentials a browser takes neither `*` origin nor `*` headers (and never lets `*` cover
 * Authorization), so the origin, and on a preflight the requested headers, are echoed; without an
 * origin, {@link CORS_HEADERS}.
 */
export function corsHeaders(
  origin: string | string[] | undefined,
  requestedHeaders?: string | string[],
): Readonly<http2.OutgoingHttpHeaders> {
  const value = Array.isArray(origin) ? origin[0] : origin;
  if (!value) return CORS_HEADERS;
  const headers = Array.isArray(requestedHeaders) ? requestedHeaders.join(', ') : requestedHeaders;
  return {
    ...CORS_HEADERS,
    'access-control-allow-origin': value,
    ...(headers ? { 'access-control-allow-headers': headers, vary: 'origin, access-control-request-headers' } : {}),
  };
}
