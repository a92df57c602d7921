// @switchyard/session-directory: the only code that touches the session buckets sessions_<region>.

export type {
  SessionChange,
  SessionDirectoryConfig,
  SessionDirectoryOptions,
  SessionEntry,
  SessionWatchOptions,
} from './session-directory.ts';
export {
  DEFAULT_DIRECTORY_TIMEOUT_MS,
  DEFAULT_SESSION_REPLICAS,
  DEFAULT_SESSION_TTL_MS,
  findSession,
  resolveSessionDirectoryConfig,
  SessionDirectory,
} from './session-directory.ts';
