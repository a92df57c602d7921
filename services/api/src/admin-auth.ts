// Admin authentication: every route but GET /healthz needs `Authorization: Bearer <admin token>`.
// Both sides are hashed before a constant-time compare, so neither the token's length nor its
// prefix leaks through timing.

import { createHash, timingSafeEqual } from 'node:crypto';
import { SwitchyardError } from '@switchyard/protocol';

const BEARER = /^bearer +(\S+) *$/i;

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Builds the check of an `authorization` header value against `adminToken`.
 * @returns a function that returns nothing when the header carries the token.
 * @throws (from the returned function) SwitchyardError SY_AUTH_MISSING when the header is absent or
 *   not `Bearer <token>`; SY_ADMIN_TOKEN_INVALID when the token differs.
 */
export function adminTokenCheck(adminToken: string): (authorization: string | undefined) => void {
  const expected = digest(adminToken);
  return (authorization) => {
    const match = authorization === undefined ? null : BEARER.exec(authorization);
    if (match === null)
      throw new SwitchyardError('SY_AUTH_MISSING', { detail: 'send Authorization: Bearer <admin token>' });
    if (!timingSafeEqual(digest(match[1]), expected)) throw new SwitchyardError('SY_ADMIN_TOKEN_INVALID');
  };
}
