// The status page's browser session: a browser cannot put the admin token in an Authorization header
// when it navigates, so POST /ui/login trades the token for a cookie. The cookie is not the token: it
// is `v1.<expiresAtMs>.<HMAC-SHA256(admin token, expiry)>`, HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it) and Secure under TLS. Stateless, so every API
// replica of the region accepts it and rotating the admin token ends every session. It opens only
// the read-only GET routes of the page (GET /ui, GET /v1/status), never a change.

import { createHmac, timingSafeEqual } from 'node:crypto';

/** Name of the status page's session cookie. */
export const UI_SESSION_COOKIE = 'switchyard_ui';
/** How long a status page login lasts, ms (a working day). */
export const UI_SESSION_TTL_MS = 8 * 60 * 60 * 1000;

/** Issues and checks status page cookies for one admin token. */
export interface UiSessions {
  /** A `Set-Cookie` value for a new session, valid `UI_SESSION_TTL_MS` from `nowMs`. */
  issue(nowMs?: number): string;
  /** A `Set-Cookie` value that removes the session cookie. */
  clear(): string;
  /** True when the `cookie` request header carries an unexpired session cookie of this admin token. */
  valid(cookieHeader: string | undefined, nowMs?: number): boolean;
}

function mac(adminToken: string, expiresAtMs: number): Buffer {
  return createHmac('sha256', adminToken).update(`switchyard-ui|${expiresAtMs}`).digest();
}

/** The value of cookie `name` in a `cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * @param adminToken the API's admin token (the HMAC key).
 * @param secure add the `Secure` attribute (the API listens with TLS).
 */
export function uiSessions(adminToken: string, secure: boolean): UiSessions {
  const attributes = `Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  return {
    issue(nowMs = Date.now()) {
      const expiresAtMs = nowMs + UI_SESSION_TTL_MS;
      const value = `v1.${expiresAtMs}.${mac(adminToken, expiresAtMs).toString('base64url')}`;
      return `${UI_SESSION_COOKIE}=${value}; Max-Age=${UI_SESSION_TTL_MS / 1000}; ${attributes}`;
    },
    clear() {
      return `${UI_SESSION_COOKIE}=; Max-Age=0; ${attributes}`;
    },
    valid(cookieHeader, nowMs = Date.now()) {
      const value = cookieValue(cookieHeader, UI_SESSION_COOKIE);
      const match = value === undefined ? null : /^v1\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value);
      if (match === null) return false;
      const expiresAtMs = Number(match[1]);
      if (expiresAtMs <= nowMs || expiresAtMs > nowMs + UI_SESSION_TTL_MS) return false;
      return timingSafeEqual(Buffer.from(match[2], 'base64url'), mac(adminToken, expiresAtMs));
    },
  };
}
