// The Switchyard path of a bench: nats-server (testkit), a function and an API key in the control
// store, and the grpc-proxy and one worker as child processes in front of a running echo container.

import { mkdirSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { freePort, type NatsServerHandle, startNats } from '@switchyard/testkit';
import { type BenchChild, nodeBinary, spawnChild } from './child.ts';

/** Region name the bench stack runs as. */
export const BENCH_REGION = 'bench';
/** Account that owns the bench function and key. */
export const BENCH_ACCOUNT = 'bench';

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
  if (limit === undefined) return [nodeBinary(), args];
  const script = `ulimit -n ${limit} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  return ['sh', ['-c', script, nodeBinary(), ...args]];
}

/** A running Switchyard path. */
export interface SwitchyardStack {
  nats: NatsServerHandle;
  proxy: BenchChild;
  worker: BenchChild;
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
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  let functionId: string;
  let versionId: string;
  let apiKey: string;
  try {
    const store = await ControlStore.open(nc);
    const { fn, version } = await store.createFunction({ accountId: BENCH_ACCOUNT, name: 'echo', kind: 'grpc' });
    const { key } = await store.createApiKey({ accountId: BENCH_ACCOUNT });
    await store.close();
    functionId = fn.functionId;
    versionId = version.versionId;
    apiKey = key;
  } finally {
    await nc.close();
  }

  const [port, callbackPort] = await Promise.all([freePort(), freePort()]);
  const logLevel = options.logLevel ?? 'warn';
  const profileFlags = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [];
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  const common = { SWITCHYARD_REGION: BENCH_REGION, SWITCHYARD_NATS_SERVERS: nats.url, SWITCHYARD_LOG_LEVEL: logLevel };
  let proxy: BenchChild | undefined;
  try {
    proxy = await spawnChild(
      'grpc-proxy',
      ...nodeCommand([...profileFlags, ...(options.proxyNodeFlags ?? []), SERVICE_ENTRIES.proxy], options.noFileLimit),
      {
        env: {
          ...common,
          SWITCHYARD_HOST: '127.0.0.1',
          SWITCHYARD_PORT: String(port),
          SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
          SWITCHYARD_CALLBACK_PORT: String(callbackPort),
          SWITCHYARD_CALLBACK_URI: `http://127.0.0.1:${callbackPort}`,
          ...options.proxyEnv,
        },
      },
    );
    const worker = await spawnChild(
      'worker',
      ...nodeCommand(
        [...SERVICE_NODE_OPTIONS.worker, ...profileFlags, ...(options.workerNodeFlags ?? []), SERVICE_ENTRIES.worker],
        options.noFileLimit,
      ),
      {
        env: {
          ...common,
          SWITCHYARD_FUNCTION_ID: functionId,
          SWITCHYARD_VERSION_ID: versionId,
          SWITCHYARD_UPSTREAM: `grpc://127.0.0.1:${options.containerPort}`,
          SWITCHYARD_CONCURRENCY: String(options.concurrency),
          SWITCHYARD_CALLBACK_ALLOW_LIST: 'http://127.0.0.1:',
          ...options.workerEnv,
        },
      },
    );
    const started = proxy;
    return {
      nats,
      proxy: started,
      worker,
      port,
      callbackPort,
      functionId,
      versionId,
      apiKey,
      headers: { authorization: `Bearer ${apiKey}`, 'function-id': functionId },
      async stop() {
        // Worker first, so it deletes its sessions and the proxy sees tunnels close cleanly.
        await worker.stop();
        await started.stop();
        await nats.stop();
      },
    };
  } catch (err) {
    await proxy?.stop();
    await nats.stop();
    throw err;
  }
}
