// RFC 9457 problem documents for HTTP answers Switchyard makes itself (H10): `application/problem+json`
// `{type, title, status, detail, code}`, built from the error catalogue so every HTTP service and the
// worker say the same thing for the same code.

import { ErrorCatalogue, type ErrorCode, SwitchyardError } from './errors.ts';

/** Media type of every problem document. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Prefix of a problem's `type`: the code follows, e.g. `urn:switchyard:error:SY_FUNCTION_NOT_FOUND`. */
export const PROBLEM_TYPE_PREFIX = 'urn:switchyard:error:';

/** A problem document with the catalogue code. */
export interface ProblemDocument {
  /** `urn:switchyard:error:<code>`. */
  type: string;
  /** Catalogue message of the code (the contract fixes some word for word, e.g. "failed to parse poll duration"). */
  title: string;
  /** HTTP status. */
  status: number;
  /** What went wrong in this request (never a secret); the title when nothing more is known. */
  detail: string;
  /** Catalogue code (SY_...); compare this, never the title. */
  code: ErrorCode;
}

/** The problem document of `code` (or of a SwitchyardError, keeping its detail). */
export function problemDocument(error: ErrorCode | SwitchyardError, detail?: string): ProblemDocument {
  const err = typeof error === 'string' ? new SwitchyardError(error, { detail }) : error;
  return {
    type: `${PROBLEM_TYPE_PREFIX}${err.code}`,
    title: ErrorCatalogue[err.code].message,
    status: err.httpStatus,
    detail: detail ?? err.detail ?? err.message,
    code: err.code,
  };
}
