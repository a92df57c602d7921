// gRPC status codes as the vocabulary of every error (STYLE: status is the error), and the
// HTTP status a non-gRPC request receives for each (G3).

/** gRPC status codes (grpc/grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusName = keyof typeof GrpcStatus;
export type GrpcStatusCode = (typeof GrpcStatus)[GrpcStatusName];

const HTTP_BY_GRPC: Record<number, number> = {
  3: 400,
  16: 401,
  7: 403,
  5: 404,
  6: 409,
  8: 429,
  4: 504,
  12: 501,
  14: 503,
};

/** HTTP status for a proxy-made error sent to a non-gRPC request (G3): 3->400 ... else 500. */
export function httpStatusForGrpc(code: number): number {
  return HTTP_BY_GRPC[code] ?? 500;
}

/** Name of a gRPC status code (`5` -> `NOT_FOUND`), `UNKNOWN` for codes outside the table. */
export function grpcStatusName(code: number): GrpcStatusName {
  for (const [name, value] of Object.entries(GrpcStatus)) if (value === code) return name as GrpcStatusName;
  return 'UNKNOWN';
}

/**
 * Percent-encodes a grpc-message value as the gRPC HTTP/2 protocol requires (PROTOCOL-HTTP2.md:
 * bytes outside 0x20-0x7E and '%' are percent-encoded).
 */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
