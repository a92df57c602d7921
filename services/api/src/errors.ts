// Every error the API answers is application/problem+json {type, title, status, detail, code}, built
// from the catalogue in @switchyard/protocol. Fastify's own errors (validation, bad JSON, unknown
// route) are translated here so a client never sees another shape.

import { ErrorCatalogue, type ErrorCode, SwitchyardError } from '@switchyard/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** Media type of every error body. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
/** Prefix of a problem's `type`: the code follows, e.g. `urn:switchyard:error:SY_FUNCTION_NOT_FOUND`. */
export const PROBLEM_TYPE_PREFIX = 'urn:switchyard:error:';

/** An RFC 9457 problem document with the catalogue code. */
export interface Problem {
  /** `urn:switchyard:error:<code>`. */
  type: string;
  /** Catalogue message of the code. */
  title: string;
  /** HTTP status. */
  status: number;
  /** What went wrong in this request (never a secret). */
  detail: string;
  /** Catalogue code (SY_...); compare this, never the title. */
  code: ErrorCode;
  /** Every validation problem, for SY_REQUEST_INVALID. */
  problems?: string[];
}

/** The problem document of a SwitchyardError; `status` overrides the catalogue's HTTP status. */
export function problemOf(err: SwitchyardError, extra: { status?: number; problems?: string[] } = {}): Problem {
  const problem: Problem = {
    type: `${PROBLEM_TYPE_PREFIX}${err.code}`,
    title: ErrorCatalogue[err.code].message,
    status: extra.status ?? err.httpStatus,
    detail: err.detail ?? err.message,
    code: err.code,
  };
  if (extra.problems !== undefined) problem.problems = extra.problems;
  return problem;
}

/** Sends a problem document with its status and content type. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** One line per ajv issue: `body/name must NOT have fewer than 1 characters`. */
function describeValidation(context: string | undefined, issues: ValidationIssue[]): string[] {
  return issues.map((issue) => {
    const where = `${context ?? 'request'}${issue.instancePath}`;
    const extra = issue.params?.additionalProperty;
    if (typeof extra === 'string') return `${where} must not have unknown field '${extra}'`;
    const allowed = issue.params?.allowedValues;
    if (Array.isArray(allowed)) return `${where} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    return `${where} ${issue.message ?? 'is invalid'}`;
  });
}

/**
 * Fastify error handler: SwitchyardError -> its problem; schema validation -> 400 SY_REQUEST_INVALID
 * listing every problem; other 4xx from fastify (bad JSON, media type, body size) -> SY_REQUEST_INVALID
 * with that status; anything else -> 500 SY_INTERNAL (logged, not shown).
 */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof SwitchyardError) {
    if (error.httpStatus >= 500) request.log.warn({ err: error, code: error.code }, 'request failed');
    return sendProblem(reply, problemOf(error));
  }
  const fastifyError = error as FastifyError;
  if (Array.isArray(fastifyError.validation)) {
    const problems = describeValidation(
      fastifyError.validationContext,
      fastifyError.validation as unknown as ValidationIssue[],
    );
    return sendProblem(
      reply,
      problemOf(new SwitchyardError('SY_REQUEST_INVALID', { detail: problems.join('; ') }), { problems }),
    );
  }
  const status = fastifyError.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return sendProblem(
      reply,
      problemOf(new SwitchyardError('SY_REQUEST_INVALID', { detail: fastifyError.message }), {
        status,
        problems: [fastifyError.message],
      }),
    );
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, problemOf(new SwitchyardError('SY_INTERNAL', { detail: 'internal error' })));
}

/** Fastify not-found handler: 404 SY_ROUTE_NOT_FOUND naming the method and path. */
export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(
    reply,
    problemOf(new SwitchyardError('SY_ROUTE_NOT_FOUND', { detail: `${request.method} ${request.url.split('?')[0]}` })),
  );
}
