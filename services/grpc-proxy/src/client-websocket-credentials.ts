// Credentials of a WebSocket upgrade (G12): browsers cannot set headers on a WebSocket, so the API
// key, function and version may ride in `Sec-WebSocket-Protocol` entries; the container is offered
// the client's subprotocols without the API key.

import type http from 'node:http';
import { Metadata } from '@switchyard/protocol';

/** Subprotocol entry keys that carry credentials (G12), each `key.value`. */
const CREDENTIAL_KEYS = [Metadata.authorization, Metadata.functionId, Metadata.functionVersionId, Metadata.requestId];

/** Credentials of a WebSocket upgrade (G12): header values, else `Sec-WebSocket-Protocol` entries. */
export interface WebSocketCredentials {
  /** `Bearer <key>`. */
  authorization: string | undefined;
  functionId: string | undefined;
  versionId: string | undefined;
}

/**
 * Reads `Sec-WebSocket-Protocol` entries (separated by `,`, each `key.value` split at the first `.`):
 * `authorization.<key>` (no `Bearer `), `function-id.<uuid>`, `function-version-id.<uuid>`. A real
 * header of the same name wins (G12). The request ID is read by `requestedSessionId` (G7).
 */
export function webSocketCredentials(headers: http.IncomingHttpHeaders): WebSocketCredentials {
  const entries = subprotocolEntries(headers[Metadata.secWebSocketProtocol]);
  const header = (name: string): string | undefined => {
    const value = headers[name];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const key = entries.get(Metadata.authorization);
  return {
    authorization: header(Metadata.authorization) ?? (key ? `Bearer ${key}` : undefined),
    functionId: header(Metadata.functionId) ?? entries.get(Metadata.functionId),
    versionId: header(Metadata.functionVersionId) ?? entries.get(Metadata.functionVersionId),
  };
}

/** `key -> value` of the credential entries in a `Sec-WebSocket-Protocol` value (first one wins). */
function subprotocolEntries(value: string | string[] | undefined): Map<string, string> {
  const entries = new Map<string, string>();
  const list = Array.isArray(value) ? value.join(',') : value;
  if (!list) return entries;
  for (const raw of list.split(',')) {
    const item = raw.trim();
    const dot = item.indexOf('.');
    if (dot <= 0) continue;
    const key = item.slice(0, dot);
    if ((CREDENTIAL_KEYS as readonly string[]).includes(key) && !entries.has(key))
      entries.set(key, item.slice(dot + 1));
  }
  return entries;
}

/**
 * The subprotocols offered to the container: the client's list without `authorization.<key>`
 * entries (the API key never reaches a container). The others stay, so that a container may pick
 * one that the client offered (browsers fail a handshake that picks none when some were offered).
 */
export function containerSubprotocols(value: string | string[] | undefined): string | undefined {
  const list = Array.isArray(value) ? value.join(',') : value;
  if (!list) return undefined;
  const kept = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.startsWith(`${Metadata.authorization}.`));
  return kept.length > 0 ? kept.join(', ') : undefined;
}
