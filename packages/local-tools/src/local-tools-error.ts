// The one error type of the local tools, so callers (the CLI, the test kit) can tell a missing
// binary or a taken port from anything else and say what to do about it.

/** Stable codes carried by {@link LocalToolsError}. */
export const LocalToolsErrorCode = {
  /** nats-server or redis-server could not be found (or fetched). */
  binaryMissing: 'LOCAL_TOOLS_BINARY_MISSING',
} as const;
export type LocalToolsErrorCode = (typeof LocalToolsErrorCode)[keyof typeof LocalToolsErrorCode];

/** Error thrown by the local tools. `code` is stable (compare it, never the message). */
export class LocalToolsError extends Error {
  /** One of {@link LocalToolsErrorCode}. */
  readonly code: LocalToolsErrorCode;

  /**
   * @param code stable error code.
   * @param message human-readable explanation, naming how to fix it.
   * @param options standard `ErrorOptions` (`cause`).
   */
  constructor(code: LocalToolsErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LocalToolsError';
    this.code = code;
  }
}
