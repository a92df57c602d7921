// The Switchyard path of the HTTP bench: nats-server and redis-server (testkit), an HTTP function and
// an API key in the control store, then the invocation service and one worker as child processes in
// front of a running HTTP sample container.

import { mkdirSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { freePort, type NatsServerHandle, type RedisHandle, startNats, startRedis } from '@switchyard/testkit';
import { type BenchChild, spawnChild } from './child.ts';
import { pidsByCommandLine } from './proc-stat.ts';
import { BENCH_ACCOUNT, BENCH_REGION, nodeCommand } from './switchyard-stack.ts';

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
  nats: NatsServerHandle;
  redis: RedisHandle;
  /** Pid of redis-server (the testkit handle has none), or undefined if it cannot be found. */
  redisPid: number | undefined;
  invocation: BenchChild;
  worker: BenchChild;
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
  const [nats, redis] = await Promise.all([startNats(), startRedis()]);
  // redis-server renames itself `redis-server 127.0.0.1:<port>` once running.
  const redisPid = pidsByCommandLine(
    (c) => c.includes('redis-server') && (c.includes(`:${redis.port}`) || c.includes(`--port ${redis.port} `)),
  )[0];
  let functionId: string;
  let versionId: string;
  let apiKey: string;
  const nc = await connect({ servers: nats.url });
  try {
    const store = await ControlStore.open(nc);
    const { fn, version } = await store.createFunction({
      accountId: BENCH_ACCOUNT,
      name: 'echo',
      kind: 'http',
      inferenceUrl: options.inferenceUrl ?? '/echo',
    });
    const { key } = await store.createApiKey({ accountId: BENCH_ACCOUNT });
    await store.close();
    functionId = fn.functionId;
    versionId = version.versionId;
    apiKey = key;
  } finally {
    await nc.close();
  }

  const [port, callbackPort] = await Promise.all([freePort(), freePort()]);
  const profileFlags = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [];
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  const common = {
    SWITCHYARD_REGION: BENCH_REGION,
    SWITCHYARD_NATS_SERVERS: nats.url,
    SWITCHYARD_LOG_LEVEL: options.logLevel ?? 'warn',
  };
  let invocation: BenchChild | undefined;
  try {
    invocation = await spawnChild(
      'invocation',
      ...nodeCommand([...SERVICE_NODE_OPTIONS.invocation, ...profileFlags, HTTP_SERVICE_ENTRIES.invocation]),
      {
        env: {
          ...common,
          SWITCHYARD_HOST: '127.0.0.1',
          SWITCHYARD_PORT: String(port),
          SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
          SWITCHYARD_CALLBACK_PORT: String(callbackPort),
          SWITCHYARD_CALLBACK_URI: `http://127.0.0.1:${callbackPort}`,
          SWITCHYARD_REDIS_URL: redis.url,
          ...options.invocationEnv,
        },
      },
    );
    const worker = await spawnChild(
      'worker',
      ...nodeCommand([...SERVICE_NODE_OPTIONS.worker, ...profileFlags, HTTP_SERVICE_ENTRIES.worker]),
      {
        env: {
          ...common,
          SWITCHYARD_FUNCTION_ID: functionId,
          SWITCHYARD_VERSION_ID: versionId,
          SWITCHYARD_UPSTREAM: `http://127.0.0.1:${options.containerPort}`,
          SWITCHYARD_CONCURRENCY: String(options.concurrency),
          SWITCHYARD_CALLBACK_ALLOW_LIST: 'http://127.0.0.1:',
          ...options.workerEnv,
        },
      },
    );
    const started = invocation;
    return {
      nats,
      redis,
      redisPid,
      invocation: started,
      worker,
      port,
      callbackPort,
      functionId,
      versionId,
      apiKey,
      headers: { Authorization: `Bearer ${apiKey}`, Host: `${functionId}.invocation.localhost` },
      async stop() {
        // Worker first, so the invocation service sees its tunnel close cleanly.
        await worker.stop();
        await started.stop();
        await Promise.all([nats.stop(), redis.stop()]);
      },
    };
  } catch (err) {
    await invocation?.stop();
    await Promise.all([nats.stop(), redis.stop()]);
    throw err;
  }
}
