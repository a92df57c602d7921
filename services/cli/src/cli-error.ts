// The one error type of the CLI: what went wrong and what to do about it. main() prints both and
// exits non-zero; nothing else in the CLI calls process.exit.

/** Stable codes of {@link CliError}. */
export const CliErrorCode = {
  /** Flags or arguments that cannot work. */
  usage: 'CLI_USAGE',
  /** No API endpoint or admin token could be found. */
  noEndpoint: 'CLI_NO_ENDPOINT',
  /** The API could not be reached. */
  unreachable: 'CLI_API_UNREACHABLE',
  /** The API answered with a problem document. */
  api: 'CLI_API_ERROR',
  /** A listener port of the dev stack is taken. */
  portInUse: 'CLI_PORT_IN_USE',
  /** A dev stack process did not start or exited. */
  devStart: 'CLI_DEV_START',
  /** A required binary or file is missing. */
  missing: 'CLI_MISSING',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** An error the CLI reports as `error: <message>` plus an optional `hint: <what to do>`. */
export class CliError extends Error {
  /** One of {@link CliErrorCode}; compare this, never the message. */
  readonly code: CliErrorCode;
  /** What the user can do about it, or undefined. */
  readonly hint: string | undefined;
  /** Process exit code to use (1 unless said otherwise; 2 for usage errors). */
  readonly exitCode: number;

  /**
   * @param code stable code.
   * @param message what went wrong.
   * @param options `hint`, `exitCode` (@default 2 for usage, else 1), `cause`.
   */
  constructor(
    code: CliErrorCode,
    message: string,
    options: { hint?: string; exitCode?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'CliError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? (code === CliErrorCode.usage ? 2 : 1);
  }
}
