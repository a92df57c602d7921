// The one error type of the region launcher. Callers map its codes to their own (the CLI prints
// `error: <message>` and `hint: <hint>`); compare codes, never messages.

/** Stable codes carried by {@link LauncherError}. */
export const LauncherErrorCode = {
  /** A requested listener port is taken. */
  portInUse: 'LAUNCHER_PORT_IN_USE',
  /** A binary (nats-server, redis-server, Node 24) or a service entry file is missing. */
  missing: 'LAUNCHER_MISSING',
  /** A child did not become ready (exited, timed out), or NATS did not form; the message names it with its last lines. */
  notReady: 'LAUNCHER_NOT_READY',
  /** Start-up was interrupted through the caller's AbortSignal. */
  interrupted: 'LAUNCHER_INTERRUPTED',
} as const;
export type LauncherErrorCode = (typeof LauncherErrorCode)[keyof typeof LauncherErrorCode];

/** Error thrown by the launcher: what went wrong, and what to do about it when known. */
export class LauncherError extends Error {
  /** One of {@link LauncherErrorCode}. */
  readonly code: LauncherErrorCode;
  /** What the user can do about it, or undefined. */
  readonly hint: string | undefined;

  /**
   * @param code stable code.
   * @param message what went wrong.
   * @param options `hint` (what to do), `cause`.
   */
  constructor(code: LauncherErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'LauncherError';
    this.code = code;
    this.hint = options.hint;
  }
}
