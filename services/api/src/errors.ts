// Every error the API answers is application/problem+json {type, title, status, detail, code}, built
// from the catalogue in @switchyard/protocol. Fastify's own errors (validation, bad JSON, unknown
// route) are translated here so a client never sees another shape.

import { PROBLEM_CONTENT_TYPE, type ProblemDocument, problemDocument, SwitchyardError } from '@switchyard/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** The protocol's RFC 9457 problem document, plus every validation problem for SY_REQUEST_INVALID. */
export interface Problem extends ProblemDocument {
  /** Every validation problem, for SY_REQUEST_INVALID; absent otherwise. */
  problems?: string[];
}

/**
 * The problem document of a SwitchyardError (`problemDocument` of @switchyard/protocol), with
 * `extra.status` in place of the catalogue's HTTP status when given (fastify's 413 or 415 for a
 * SY_REQUEST_INVALID) and `extra.problems` appended.
 */
export function problemOf(err: SwitchyardError, extra: { status?: number; problems?: string[] } = {}): Problem {
  const problem: Problem = problemDocument(err);
  if (extra.status !== undefined) problem.status = extra.status;
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
