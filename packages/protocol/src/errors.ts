// The error catalogue: every error Switchyard itself makes, with a stable code, its gRPC status and
// its HTTP status. Callers compare `code`, never messages. docs/errors.md lists exactly these codes
// (a test keeps them in step).

import { GrpcStatus, type GrpcStatusCode, httpStatusForGrpc } from './grpc-status.ts';

interface CatalogueEntry {
  readonly grpcStatus: GrpcStatusCode;
  /** Message sent to the client; the contract fixes some of them word for word. */
  readonly message: string;
  /** HTTP status for non-gRPC clients and HTTP invocation (G3, H10); defaults to the G3 mapping. */
  readonly httpStatus?: number;
  /** Seconds an HTTP answer tells the client to wait (`Retry-After`) before trying again; none when absent. */
  readonly retryAfterSeconds?: number;
}

/** Every Switchyard-made error, by stable code. */
export const ErrorCatalogue = {
  // Authentication and authorization (G2, H10)
  SY_AUTH_MISSING: { grpcStatus: GrpcStatus.UNAUTHENTICATED, message: 'no authorization was passed in the metadata' },
  SY_AUTH_INVALID: { grpcStatus: GrpcStatus.UNAUTHENTICATED, message: 'invalid or revoked API key' },
  SY_AUTH_FORBIDDEN: {
    grpcStatus: GrpcStatus.PERMISSION_DENIED,
    message: 'API key is not allowed to invoke this function',
  },
  // Request shape (G2, H8)
  SY_FUNCTION_ID_MISSING: {
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'no function-id was passed in the metadata',
  },
  SY_FUNCTION_ID_INVALID: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, message: 'function-id is not a UUID' },
  SY_VERSION_ID_INVALID: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, message: 'function-version-id is not a UUID' },
  SY_POLL_SECONDS_INVALID: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, message: 'failed to parse poll duration' },
  // Lookup (G2, G8, G9)
  SY_FUNCTION_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, message: 'function not found' },
  SY_VERSION_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, message: 'function version not found' },
  SY_NO_DEPLOYED_VERSION: { grpcStatus: GrpcStatus.NOT_FOUND, message: 'function has no deployed version' },
  SY_API_KEY_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, message: 'API key not found' },
  SY_SESSION_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, message: 'no existing session found' },
  // Session directory writes (W3): a lost race, not a client error; callers re-read and retry or give up
  SY_SESSION_EXISTS: { grpcStatus: GrpcStatus.ALREADY_EXISTS, message: 'session already exists' },
  SY_SESSION_CONFLICT: {
    grpcStatus: GrpcStatus.ABORTED,
    message: 'session record changed or was deleted concurrently',
  },
  SY_SESSION_MISMATCH: {
    grpcStatus: GrpcStatus.INTERNAL,
    message: 'session belongs to a different function or function version',
  },
  // Capacity and time (G10, S4, G2)
  SY_ATTACH_TIMEOUT: { grpcStatus: GrpcStatus.DEADLINE_EXCEEDED, message: 'failed to establish link to worker' },
  SY_QUEUE_FULL: {
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'request queue for this function version is full',
  },
  SY_RATE_LIMITED: { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, message: 'exceeded rate limit' },
  SY_KEY_CONNECTIONS_EXCEEDED: {
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'too many open connections for this API key',
    httpStatus: 429,
  },
  SY_KEY_SESSIONS_EXCEEDED: {
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'too many open sessions for this API key',
    httpStatus: 429,
    retryAfterSeconds: 1,
  },
  SY_KEY_WEBSOCKETS_EXCEEDED: {
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'too many open WebSockets for this API key',
    httpStatus: 429,
    retryAfterSeconds: 1,
  },
  SY_KEY_REQUESTS_EXCEEDED: {
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'too many concurrent requests for this API key',
    httpStatus: 429,
    retryAfterSeconds: 1,
  },
  // Dependencies (never a wrong NOT_FOUND)
  SY_DIRECTORY_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'session directory unavailable' },
  SY_CONTROL_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'control store unavailable' },
  SY_QUEUE_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'ticket queue unavailable' },
  SY_RATE_LIMIT_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'rate limiter unavailable' },
  SY_WORKER_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'worker unavailable' },
  SY_TUNNEL_LOST: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'tunnel to worker lost' },
  SY_UPSTREAM_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'function container unavailable' },
  SY_SESSION_EVICTED: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'session was evicted' },
  SY_NATS_REPLICAS_EXCEED_CLUSTER: {
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    message: 'SWITCHYARD_NATS_REPLICAS asks for more replicas than the NATS cluster has JetStream servers',
    httpStatus: 500,
  },
  SY_SHUTTING_DOWN: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'server is shutting down' },
  // HTTP invocation (H4, H7, H9, H10)
  SY_UPSTREAM_FAILED: {
    grpcStatus: GrpcStatus.UNAVAILABLE,
    message: 'function container failed while answering',
    httpStatus: 502,
  },
  SY_REQUEST_TIMEOUT: { grpcStatus: GrpcStatus.DEADLINE_EXCEEDED, message: 'request timed out' },
  SY_RESULT_NOT_FOUND: {
    grpcStatus: GrpcStatus.NOT_FOUND,
    message: 'no pending result for this request ID (unknown, expired or already fetched)',
  },
  SY_RESULT_TOO_LARGE: {
    grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'response too large to keep for polling',
    httpStatus: 500,
  },
  SY_RESULT_STORE_UNAVAILABLE: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'result store unavailable' },
  SY_RESULT_LOST: {
    grpcStatus: GrpcStatus.DATA_LOSS,
    message: 'the result of this request was lost (the result store failed while keeping it)',
    httpStatus: 500,
  },
  // Tunnel registration (W1, W4)
  SY_TUNNEL_AUTH_MISSING: {
    grpcStatus: GrpcStatus.UNAUTHENTICATED,
    message: 'tunnel registration needs Authorization: Bearer <token>',
    httpStatus: 401,
  },
  SY_TUNNEL_WORKER_ID_INVALID: {
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    message: 'X-Worker-ID is missing or invalid',
    httpStatus: 400,
  },
  SY_TUNNEL_TOKEN_REJECTED: {
    grpcStatus: GrpcStatus.PERMISSION_DENIED,
    message: 'tunnel token is unknown, expired or already used',
    httpStatus: 403,
  },
  SY_TUNNEL_WORKER_MISMATCH: {
    grpcStatus: GrpcStatus.PERMISSION_DENIED,
    message: 'tunnel token or worker ID belongs to another worker or function version',
    httpStatus: 403,
  },
  SY_TUNNEL_DIAL_FAILED: { grpcStatus: GrpcStatus.UNAVAILABLE, message: 'could not dial the callback listener' },
  SY_CALLBACK_NOT_ALLOWED: {
    grpcStatus: GrpcStatus.PERMISSION_DENIED,
    message: 'callback URI is not in the worker allow-list',
  },
  // Operator API (services/api)
  SY_ADMIN_TOKEN_INVALID: { grpcStatus: GrpcStatus.UNAUTHENTICATED, message: 'admin token does not match' },
  SY_REQUEST_INVALID: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, message: 'invalid request' },
  SY_ROUTE_NOT_FOUND: { grpcStatus: GrpcStatus.NOT_FOUND, message: 'no such route' },
  SY_INTERNAL: { grpcStatus: GrpcStatus.INTERNAL, message: 'internal error' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ErrorCatalogue;

/**
 * The HTTP status of catalogue entry `code`: its own `httpStatus` when it has one, else the status
 * the contract pairs with its gRPC status (G3, H10). The one place a code becomes an HTTP status.
 */
export function httpStatusOf(code: ErrorCode): number {
  const entry: CatalogueEntry = ErrorCatalogue[code];
  return entry.httpStatus ?? httpStatusForGrpc(entry.grpcStatus);
}

/** The `Retry-After` seconds of catalogue entry `code` (capacity answers), or undefined. */
export function retryAfterOf(code: ErrorCode): number | undefined {
  const entry: CatalogueEntry = ErrorCatalogue[code];
  return entry.retryAfterSeconds;
}

/**
 * An error with a catalogue code. `grpcStatus` and `httpStatus` come from the catalogue;
 * `detail` adds context for logs and problem+json `detail` (never secrets).
 */
export class SwitchyardError extends Error {
  readonly code: ErrorCode;
  readonly grpcStatus: GrpcStatusCode;
  readonly httpStatus: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, options: { detail?: string; cause?: unknown } = {}) {
    const entry: CatalogueEntry = ErrorCatalogue[code];
    super(entry.message, { cause: options.cause });
    this.name = 'SwitchyardError';
    this.code = code;
    this.grpcStatus = entry.grpcStatus;
    this.httpStatus = httpStatusOf(code);
    this.detail = options.detail;
  }
}

/** True when `err` is a SwitchyardError with the given code. */
export function isSwitchyardError(err: unknown, code?: ErrorCode): err is SwitchyardError {
  return err instanceof SwitchyardError && (code === undefined || err.code === code);
}
