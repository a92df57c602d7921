// @switchyard/grpc-proxy: the regional gRPC proxy, buildable without a process (tests, bench).

export type { GrpcProxyDeps } from './app.ts';
export { GrpcProxy } from './app.ts';
export type { ProxyConfig } from './config.ts';
export { ProxyConfigSchema } from './config.ts';
export { RateLimiter } from './rate-limit.ts';
export { CLEAR_SESSION_COOKIE, CORS_HEADERS, corsHeaders, requestedSessionId, sessionCookie } from './request-id.ts';
export type { FoundSession } from './session-lookup.ts';
export { DEFAULT_REMOTE_LOOKUP_TIMEOUT_MS, openRemoteDirectories, SessionLookup } from './session-lookup.ts';
export type { LocalSession } from './session-table.ts';
export { SpillPolicy, SpillRouter } from './spill-over.ts';
