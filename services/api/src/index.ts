// @switchyard/api: the operator control API (functions, versions, API keys, sessions).

export type { ApiDeps } from './app.ts';
export { API_BODY_LIMIT_BYTES, buildApp, HEALTHZ_PATH } from './app.ts';
export type { ApiConfig } from './config.ts';
export { ApiConfigSchema, DEFAULT_API_SESSION_TTL_MS, loadApiConfig, MIN_ADMIN_TOKEN_LENGTH } from './config.ts';
export type { Problem } from './errors.ts';
export { problemOf } from './errors.ts';
export type { FunctionView } from './routes-functions.ts';
export { DEFAULT_ACCOUNT_ID } from './routes-functions.ts';
export type { ApiKeyView } from './routes-keys.ts';
export type { EvictResult, SessionRouteDeps } from './routes-sessions.ts';
export { DEFAULT_EVICT_TIMEOUT_MS, evictSession } from './routes-sessions.ts';
export type { RouteAuth, StatusRouteDeps } from './routes-status.ts';
export { STATUS_PAGE_PATH, STATUS_PATH } from './routes-status.ts';
export type {
  FrontEndStatus,
  RegionLiveStatus,
  StatusDocument,
  VersionCapacity,
  WorkerStatus,
} from './status-summary.ts';
export { buildStatus } from './status-summary.ts';
export type { UiSessions } from './ui-session.ts';
export { UI_SESSION_COOKIE, UI_SESSION_TTL_MS, uiSessions } from './ui-session.ts';
