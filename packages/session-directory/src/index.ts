// @switchyard/session-directory: the only code that touches the session buckets sessions_<region>.

export { findSession } from './find-session.ts';
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
  resolveSessionDirectoryConfig,
  SessionDirectory,
} from './session-directory.ts';
