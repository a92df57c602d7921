// `switchyard worker`: runs one worker (services/worker/src/main.ts) in the foreground against the
// dev stack of .switchyard/dev.json, or against the NATS servers and region given as flags.

import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';
import { runChild } from './command-serve.ts';
import { readDevState, resolveStateDir } from './dev-state.ts';
import { node24Binary, requireEntrypoint } from './node-binary.ts';

/** Flags of `switchyard worker`. */
export interface WorkerCommandOptions {
  functionId: string;
  versionId: string;
  /** `grpc://host:port` or `http://host:port` of the function container. */
  upstream: string;
  /** Concurrent sessions. */
  concurrency?: string;
  workerId?: string;
  /** Comma-separated NATS URLs (overrides dev.json). */
  nats?: string;
  /** Region (overrides dev.json). */
  region?: string;
  /** Comma-separated callback URI prefixes the worker may dial (overrides dev.json). */
  callbackAllowList?: string;
  stateDir?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UPSTREAM = /^(grpc|http):\/\/[^/:]+:\d{1,5}\/?$/;
const WORKER_ID = /^[A-Za-z0-9_-]+$/;

/**
 * The environment of the worker process: flags over dev.json.
 * @throws CliError CLI_USAGE for bad flags; CLI_NO_ENDPOINT when neither dev.json nor --nats/--region exist.
 */
export function workerEnv(options: WorkerCommandOptions, io: CliIo): Record<string, string> {
  const problems: string[] = [];
  if (!UUID.test(options.functionId))
    problems.push(`--function-id must be a UUID, got ${JSON.stringify(options.functionId)}`);
  if (!UUID.test(options.versionId))
    problems.push(`--version-id must be a UUID, got ${JSON.stringify(options.versionId)}`);
  if (!UPSTREAM.test(options.upstream))
    problems.push(`--upstream must be grpc://HOST:PORT or http://HOST:PORT, got ${JSON.stringify(options.upstream)}`);
  if (options.concurrency !== undefined) {
    const n = Number(options.concurrency);
    if (!Number.isInteger(n) || n < 1)
      problems.push(`--concurrency must be an integer >= 1, got ${options.concurrency}`);
  }
  if (options.workerId !== undefined && !WORKER_ID.test(options.workerId))
    problems.push(`--worker-id must be letters, digits, _ or -, got ${JSON.stringify(options.workerId)}`);
  if (problems.length > 0) throw new CliError(CliErrorCode.usage, problems.join('\n'));

  const state = readDevState(resolveStateDir(options.stateDir, io.cwd));
  const nats = options.nats ?? state?.endpoints.nats.join(',');
  const region = options.region ?? state?.region;
  if (nats === undefined || region === undefined)
    throw new CliError(
      CliErrorCode.noEndpoint,
      'no .switchyard/dev.json found: run `npm start` first or pass --nats and --region',
    );
  return {
    SWITCHYARD_REGION: region,
    SWITCHYARD_NATS_SERVERS: nats,
    SWITCHYARD_FUNCTION_ID: options.functionId,
    SWITCHYARD_VERSION_ID: options.versionId,
    SWITCHYARD_UPSTREAM: options.upstream,
    SWITCHYARD_CALLBACK_ALLOW_LIST:
      options.callbackAllowList ?? state?.callbackAllowList.join(',') ?? 'http://127.0.0.1:',
    ...(options.concurrency !== undefined ? { SWITCHYARD_CONCURRENCY: options.concurrency } : {}),
    ...(options.workerId !== undefined ? { SWITCHYARD_WORKER_ID: options.workerId } : {}),
  };
}

/**
 * Runs the worker with inherited stdio, forwarding SIGINT, SIGTERM and SIGHUP to it (`runChild`).
 * @returns the worker's exit code (128 + signal number when it was killed by a signal).
 * @throws CliError as {@link workerEnv}; CLI_MISSING when services/worker is not there.
 */
export async function runWorker(options: WorkerCommandOptions, io: CliIo): Promise<number> {
  const env = workerEnv(options, io);
  const entry = requireEntrypoint('worker');
  return runChild(node24Binary(), [...SERVICE_NODE_OPTIONS.worker, entry], { ...process.env, ...env });
}
