// @switchyard/invocation: the HTTP invocation service, buildable without a process (tests, bench).

// The cross-region exchange moved to @switchyard/result-exchange; re-exported for existing importers.
export type { RemoteOutcome, RemoteResultsOptions } from '@switchyard/result-exchange';
export { RemoteResults } from '@switchyard/result-exchange';
export type { InvocationDeps } from './app.ts';
export { InvocationService } from './app.ts';
export type { ClientHandler, ClientListenerOptions } from './client-listener.ts';
export { ClientListener } from './client-listener.ts';
export type { InvocationConfig } from './config.ts';
export { InvocationConfigSchema } from './config.ts';
export { clientResponseHeaders, NvcfStatus, nvcfStatusFor, tunnelRequestHeaders } from './http-headers.ts';
export type { FunctionTarget, InvocationTarget, NoTarget, StatusTarget } from './invocation-route.ts';
export { PEXEC_PREFIX, parseInvocationHost, resolveTarget, upstreamPath } from './invocation-route.ts';
export type { PollSettings } from './poll-seconds.ts';
export { acceptsEventStream, pollSeconds } from './poll-seconds.ts';
export type { ClaimedResult, ClaimOutcome, PollOutcome, ResultStoreOptions } from './result-store.ts';
export { ResultStore } from './result-store.ts';
