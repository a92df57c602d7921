// @switchyard/worker: the worker sidecar, buildable without a process (tests, the CLI).

export type { WorkerDeps } from './app.ts';
export { Worker } from './app.ts';
export { isCallbackAllowed } from './callback-allow-list.ts';
export type { WorkerConfig } from './config.ts';
export { WorkerConfigSchema } from './config.ts';
export type { ContainerRequestContext, HttpRelayResult, HttpUpstreamOptions } from './http-upstream.ts';
export { containerRequestHeaders, HttpUpstream, tunnelResponseHeaders } from './http-upstream.ts';
