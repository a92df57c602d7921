// Request IDs are UUIDv4 (G1, G5). A value that is not a UUID is ignored (G7).

import { v4 as uuidv4, validate, version } from 'uuid';

/** A fresh UUIDv4 request ID. */
export function newRequestId(): string {
  return uuidv4();
}

/** True when `value` is a UUID string (any version, as G7 asks only "a UUID"). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && validate(value);
}

/** True when `value` is a UUID of version 4. */
export function isUuidV4(value: unknown): value is string {
  return isUuid(value) && version(value) === 4;
}
