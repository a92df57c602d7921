// The error a service gets when its configuration is invalid: every problem at once, one per line,
// each naming the environment variable to fix.

/** Stable code of {@link ConfigError}. */
export const CONFIG_INVALID = 'CONFIG_INVALID';

/**
 * Thrown by `loadConfig` when the merged environment and overrides do not satisfy the schema.
 * `message` is `invalid <service> configuration:\n  - SWITCHYARD_X (x): <problem>\n  - ...`.
 */
export class ConfigError extends Error {
  /** Always {@link CONFIG_INVALID}; compare this, not the message. */
  readonly code: typeof CONFIG_INVALID = CONFIG_INVALID;
  /** Service whose configuration failed. */
  readonly service: string;
  /** One entry per problem, e.g. `SWITCHYARD_ATTACH_TIMEOUT_MS (attachTimeoutMs): expected a number, got "soon"`. */
  readonly problems: string[];

  /**
   * @param service service name, used in the message.
   * @param problems every problem found, already formatted.
   */
  constructor(service: string, problems: string[]) {
    super(`invalid ${service} configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.service = service;
    this.problems = problems;
  }
}
