// @switchyard/cli: the `switchyard` command (dev stack, functions, keys, sessions, worker).

export type { ApiEndpoint, ApiResponse, ResolveEndpointInput } from './api-client.ts';
export { callApi, NO_ENDPOINT_MESSAGE, resolveApiEndpoint } from './api-client.ts';
export { CliError, CliErrorCode } from './cli-error.ts';
export type { CliIo } from './cli-io.ts';
export { processIo } from './cli-io.ts';
export { addNatsUserCommands } from './command-nats-user.ts';
export type { ServeOptions } from './command-serve.ts';
export { runServe, SERVE_SERVICES, serveEnv, variableOf } from './command-serve.ts';
export type { WorkerCommandOptions } from './command-worker.ts';
export { runWorker, workerEnv } from './command-worker.ts';
export type { DevOptions } from './dev-stack.ts';
export {
  DEFAULT_DEV_READY_TIMEOUT_MS,
  DEV_CALLBACK_ALLOW_LIST,
  DEV_DEFAULT_PORTS,
  DEV_SAMPLE_FUNCTIONS,
  DEV_SAMPLE_SPECS,
  runDev,
} from './dev-stack.ts';
export type { DevState } from './dev-state.ts';
export { DEFAULT_STATE_DIR, DEV_STATE_FILE, DevStateSchema, readDevState, resolveStateDir } from './dev-state.ts';
export { buildProgram, runCli } from './program.ts';
