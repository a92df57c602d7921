// The Switchyard path of the HTTP bench: a region from @switchyard/region-launcher (nats-server,
// redis-server and the invocation service as child processes), an HTTP function and an API key in
// the control store, then one worker in front of a running HTTP sample container.

import { mkdirSync } from 'node:fs';
import type { LaunchedChild } from '@switchyard/region-launcher';
import { launchBenchRegion } from './bench-region.ts';

/** Relative paths of the entry points the HTTP path needs, checked before it runs. */
export const HTTP_SERVICE_ENTRIES = {
  invocation: 'services/invocation/src/main.ts',
  worker: 'services/worker/src/main.ts',
  workerHttpUpstream: 'services/worker/src/http-upstream.ts',
} as const;

/** Options of {@link startSwitchyardHttp}. */
export interface SwitchyardHttpStackOptions {
  /** Port of the HTTP sample container on 127.0.0.1. */
  containerPort: number;
  /** Worker max concurrency. */
  concurrency: number;
  /** Path of the function's inference URL (pexec routes). @default '/echo' */
  inferenceUrl?: string;
  /** When set, invocation and worker run with `--cpu-prof --cpu-prof-dir <dir>`. */
  profileDir?: string;
  /** Extra SWITCHYARD_* environment for the invocation service and the worker. */
  invocationEnv?: Record<string, string>;
  workerEnv?: Record<string, string>;
  /** Log level of invocation and worker. @default 'warn' */
  logLevel?: string;
}

/** A running Switchyard HTTP path. */
export interface SwitchyardHttpStack {
  /** The nats-server child. */
  nats: LaunchedChild;
  /** The redis-server child. */
  redis: LaunchedChild;
  /** Pid of redis-server. */
  redisPid: number | undefined;
  invocation: LaunchedChild;
  worker: LaunchedChild;
  /** Client listener port of the invocation service (HTTP/1.1 and h2c). */
  port: number;
  callbackPort: number;
  functionId: string;
  versionId: string;
  apiKey: string;
  /** Headers every request needs: `Authorization` and `Host: <functionId>.invocation.localhost`. */
  headers: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * Starts nats-server and redis-server, creates function `echo` (kind http, inference URL `/echo`)
 * and an API key for account `bench`, then the invocation service and one worker with
 * `SWITCHYARD_UPSTREAM=http://127.0.0.1:<containerPort>`; resolves when both printed their ready line.
 */
export async function startSwitchyardHttp(options: SwitchyardHttpStackOptions): Promise<SwitchyardHttpStack> {
  const profileFlags = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [];
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  const bench = await launchBenchRegion({
    stateDirPrefix: 'switchyard-bench-http-',
    redis: true,
    services: ['invocation'],
    fn: { name: 'echo', kind: 'http', inferenceUrl: options.inferenceUrl ?? '/echo' },
    logLevel: options.logLevel,
    nodeFlags: { invocation: profileFlags, worker: profileFlags },
    serviceEnv: { invocation: options.invocationEnv ?? {}, worker: options.workerEnv ?? {} },
    upstream: `http://127.0.0.1:${options.containerPort}`,
    concurrency: options.concurrency,
  });
  const { launch, region, functionId, versionId, apiKey } = bench;
  const redis = region.redis as LaunchedChild;
  return {
    nats: launch.nats.children[0],
    redis,
    redisPid: redis.pid,
    invocation: region.services.invocation as LaunchedChild,
    worker: bench.worker,
    port: region.ports.http,
    callbackPort: region.ports.httpCallback,
    functionId,
    versionId,
    apiKey,
    headers: { Authorization: `Bearer ${apiKey}`, Host: `${functionId}.invocation.localhost` },
    stop: bench.stop,
  };
}
