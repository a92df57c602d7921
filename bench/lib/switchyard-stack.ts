// The Switchyard path of a bench: a region from @switchyard/region-launcher (nats-server and the
// grpc-proxy as child processes), a function and an API key in the control store, and one worker in
// front of a running echo container.

import { mkdirSync } from 'node:fs';
import { type LaunchedChild, nodeCommand as launcherNodeCommand } from '@switchyard/region-launcher';
import { launchBenchRegion } from './bench-region.ts';
import { nodeBinary } from './child.ts';

/** Options of {@link startSwitchyard}. */
export interface SwitchyardStackOptions {
  /** Port of the echo container on 127.0.0.1. */
  containerPort: number;
  /** Worker max concurrency (sessions). */
  concurrency: number;
  /** When set, proxy and worker run with `--cpu-prof --cpu-prof-dir <dir>`. */
  profileDir?: string;
  /** Extra node flags for proxy and worker (e.g. `--inspect=...`). */
  proxyNodeFlags?: string[];
  workerNodeFlags?: string[];
  /** Extra SWITCHYARD_* environment for proxy and worker (e.g. `SWITCHYARD_IDLE_TIMEOUT_MS`). */
  proxyEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Raise the open-files limit of proxy and worker to this (`ulimit -n` in a shell that execs node). */
  noFileLimit?: number;
  /** Log level of proxy and worker. @default 'warn' */
  logLevel?: string;
}

/**
 * Command and arguments that run `node ...args`, first raising the soft open-files limit to `limit`
 * (or to the hard limit when that is lower). The shell execs node, so the pid is node's.
 */
export function nodeCommand(args: string[], limit?: number): [string, string[]] {
  return launcherNodeCommand(nodeBinary(), args, limit);
}

/** A running Switchyard path. */
export interface SwitchyardStack {
  /** The nats-server child. */
  nats: LaunchedChild;
  proxy: LaunchedChild;
  worker: LaunchedChild;
  /** Client listener port of the proxy. */
  port: number;
  callbackPort: number;
  functionId: string;
  versionId: string;
  apiKey: string;
  /** Request headers every call needs (`authorization`, `function-id`). */
  headers: Record<string, string>;
  stop(): Promise<void>;
}

/** Relative paths of the service entry points, checked before the Switchyard path runs. */
export const SERVICE_ENTRIES = {
  proxy: 'services/grpc-proxy/src/main.ts',
  worker: 'services/worker/src/main.ts',
} as const;

/**
 * Starts nats-server, creates function `echo` (kind grpc) and an API key for account `bench`, then
 * the proxy and one worker pointed at the container; resolves when both printed their ready line.
 */
export async function startSwitchyard(options: SwitchyardStackOptions): Promise<SwitchyardStack> {
  const profileFlags = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [];
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  const bench = await launchBenchRegion({
    stateDirPrefix: 'switchyard-bench-',
    redis: false,
    services: ['grpc-proxy'],
    fn: { name: 'echo', kind: 'grpc' },
    logLevel: options.logLevel,
    nodeFlags: {
      'grpc-proxy': [...profileFlags, ...(options.proxyNodeFlags ?? [])],
      worker: [...profileFlags, ...(options.workerNodeFlags ?? [])],
    },
    serviceEnv: { 'grpc-proxy': options.proxyEnv ?? {}, worker: options.workerEnv ?? {} },
    noFileLimit: options.noFileLimit,
    upstream: `grpc://127.0.0.1:${options.containerPort}`,
    concurrency: options.concurrency,
  });
  const { launch, region, functionId, versionId, apiKey } = bench;
  return {
    nats: launch.nats.children[0],
    proxy: region.services['grpc-proxy'] as LaunchedChild,
    worker: bench.worker,
    port: region.ports.grpc,
    callbackPort: region.ports.callback,
    functionId,
    versionId,
    apiKey,
    headers: { authorization: `Bearer ${apiKey}`, 'function-id': functionId },
    stop: bench.stop,
  };
}
