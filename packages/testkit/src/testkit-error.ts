// The one error type the test kit throws, so callers can tell a broken test environment
// (missing binary, server that never became ready) from a failure of the code under test.

/** Stable codes carried by {@link TestkitError}. */
export const TestkitErrorCode = {
  binaryMissing: 'TESTKIT_BINARY_MISSING',
  notReady: 'TESTKIT_NOT_READY',
  exited: 'TESTKIT_PROCESS_EXITED',
  timeout: 'TESTKIT_TIMEOUT',
  invalidState: 'TESTKIT_INVALID_STATE',
} as const;
export type TestkitErrorCode = (typeof TestkitErrorCode)[keyof typeof TestkitErrorCode];

/**
 * Error thrown by every test kit function. `code` is stable (compare it, never the message);
 * the message names the server and, for start-up failures, ends with the last lines of its log.
 */
export class TestkitError extends Error {
  /** One of {@link TestkitErrorCode}. */
  readonly code: TestkitErrorCode;

  /**
   * @param code stable error code.
   * @param message human-readable explanation.
   * @param options standard `ErrorOptions` (`cause`).
   */
  constructor(code: TestkitErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TestkitError';
    this.code = code;
  }
}
