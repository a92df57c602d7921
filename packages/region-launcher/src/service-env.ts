// How each service of a region is run: its command line (Node options of @switchyard/config, extra
// flags, an optional open-files limit) and its SWITCHYARD_* environment, built in one place for the
// dev stack and the benches.

import { SERVICE_NODE_OPTIONS } from '@switchyard/config';

/** A Switchyard service a region runs from its `src/main.ts`. */
export const ServiceKind = {
  api: 'api',
  grpcProxy: 'grpc-proxy',
  invocation: 'invocation',
  worker: 'worker',
  geodns: 'geodns',
} as const;
export type ServiceKind = (typeof ServiceKind)[keyof typeof ServiceKind];

/** Environment every service of a region gets. */
export interface CommonEnvInput {
  region: string;
  /** Client URLs of the region's NATS servers. */
  natsUrls: readonly string[];
  /** `SWITCHYARD_LOG_LEVEL`; @default unset (the service's default, or the inherited variable) */
  logLevel?: string;
}

/**
 * This process's environment without its `SWITCHYARD_*` variables (the user's own SWITCHYARD_PORT
 * must not leak into every child), except `SWITCHYARD_LOG_LEVEL`, then `extra` over it.
 */
export function inheritedEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('SWITCHYARD_') || key === 'SWITCHYARD_LOG_LEVEL') env[key] = value;
  return { ...env, ...extra };
}

/** `SWITCHYARD_REGION`, `SWITCHYARD_NATS_SERVERS`, `SWITCHYARD_METRICS_PORT=0` (an ephemeral loopback port, printed in the ready line), and the log level when set. */
export function commonEnv(input: CommonEnvInput): Record<string, string> {
  return {
    SWITCHYARD_REGION: input.region,
    SWITCHYARD_NATS_SERVERS: input.natsUrls.join(','),
    SWITCHYARD_METRICS_PORT: '0',
    ...(input.logLevel !== undefined ? { SWITCHYARD_LOG_LEVEL: input.logLevel } : {}),
  };
}

/** Listener of a front end with a worker callback (tunnel) listener: gRPC proxy or invocation service. */
export interface FrontEndEnvInput {
  /** Client listener port on 127.0.0.1. */
  port: number;
  /** Callback listener port on 127.0.0.1 (`SWITCHYARD_CALLBACK_URI` is `http://127.0.0.1:<port>`). */
  callbackPort: number;
  /** `redis://host:port`; @default unset (the service runs without Redis) */
  redisUrl?: string;
  /** Other regions to look sessions up in (G15, H9); @default none */
  remoteRegions?: readonly string[];
  /**
   * `SWITCHYARD_PROCESSES` (issue 12); above 1 the callback port is 0 (each process its own ephemeral
   * port, advertised as `http://127.0.0.1:<port>`). @default 1 (the dev stack stays light: one process per front end)
   */
  processes?: number;
}

/** Listener, callback, process-count, Redis and remote-region variables of a gRPC proxy or invocation service. */
export function frontEndEnv(input: FrontEndEnvInput): Record<string, string> {
  return {
    SWITCHYARD_HOST: '127.0.0.1',
    SWITCHYARD_PORT: String(input.port),
    SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
    // Several processes: each child binds its own ephemeral callback port and advertises it (the
    // default URI), rather than callbackPort + index, which may be another listener's port here.
    ...((input.processes ?? 1) > 1
      ? { SWITCHYARD_CALLBACK_PORT: '0' }
      : {
          SWITCHYARD_CALLBACK_PORT: String(input.callbackPort),
          SWITCHYARD_CALLBACK_URI: `http://127.0.0.1:${input.callbackPort}`,
        }),
    SWITCHYARD_PROCESSES: String(input.processes ?? 1),
    ...(input.redisUrl !== undefined ? { SWITCHYARD_REDIS_URL: input.redisUrl } : {}),
    ...(input.remoteRegions !== undefined && input.remoteRegions.length > 0
      ? { SWITCHYARD_REMOTE_REGIONS: input.remoteRegions.join(',') }
      : {}),
  };
}

/** What a worker serves and where it may dial. */
export interface WorkerEnvInput {
  functionId: string;
  versionId: string;
  /** Function container: `grpc://127.0.0.1:<port>` or `http://127.0.0.1:<port>`. */
  upstream: string;
  /** Sessions the worker holds at once. */
  concurrency: number;
  /** URI prefixes it may dial (W4). */
  callbackAllowList: readonly string[];
  /** `SWITCHYARD_WORKER_ID`; @default unset (the worker generates one) */
  workerId?: string;
}

/** Function, upstream, concurrency, allow-list (and worker ID) variables of a worker. */
export function workerEnv(input: WorkerEnvInput): Record<string, string> {
  return {
    ...(input.workerId !== undefined ? { SWITCHYARD_WORKER_ID: input.workerId } : {}),
    SWITCHYARD_FUNCTION_ID: input.functionId,
    SWITCHYARD_VERSION_ID: input.versionId,
    SWITCHYARD_UPSTREAM: input.upstream,
    SWITCHYARD_CONCURRENCY: String(input.concurrency),
    SWITCHYARD_CALLBACK_ALLOW_LIST: input.callbackAllowList.join(','),
  };
}

/** Node options a service runs with (SERVICE_NODE_OPTIONS of @switchyard/config). */
export function serviceNodeOptions(kind: ServiceKind): readonly string[] {
  return SERVICE_NODE_OPTIONS[kind];
}

/**
 * Command and arguments that run `node ...args`, first raising the soft open-files limit to `limit`
 * (or to the hard limit when that is lower). The shell execs node, so the pid is node's.
 * @param node Node 24 binary.
 * @param args node's arguments.
 * @param limit open-files limit; @default unchanged (node runs directly)
 */
export function nodeCommand(node: string, args: string[], limit?: number): [string, string[]] {
  if (limit === undefined) return [node, args];
  const script = `ulimit -n ${limit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  return ['sh', ['-c', script, node, ...args]];
}
