// The Switchyard path of a bench: a region from @switchyard/region-launcher (nats-server and the
// grpc-proxy as child processes), a function and an API key in the control store, and one worker in
// front of a running echo container.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { type LaunchedChild, nodeCommand as launcherNodeCommand, launchRegions } from '@switchyard/region-launcher';
import { nodeBinary, REPO_ROOT } from './child.ts';

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

/** Writes function `name` (kind `kind`) and an API key for account `bench` into the control store at `natsUrls`. */
export async function createBenchFunction(
  natsUrls: string[],
  fn: { name: string; kind: 'grpc' | 'http'; inferenceUrl?: string },
): Promise<{ functionId: string; versionId: string; apiKey: string }> {
  const nc = await connect({ servers: natsUrls });
  try {
    const store = await ControlStore.open(nc);
    const { fn: created, version } = await store.createFunction({ accountId: BENCH_ACCOUNT, ...fn });
    const { key } = await store.createApiKey({ accountId: BENCH_ACCOUNT });
    await store.close();
    return { functionId: created.functionId, versionId: version.versionId, apiKey: key };
  } finally {
    await nc.close();
  }
}

/**
 * Starts nats-server, creates function `echo` (kind grpc) and an API key for account `bench`, then
 * the proxy and one worker pointed at the container; resolves when both printed their ready line.
 */
export async function startSwitchyard(options: SwitchyardStackOptions): Promise<SwitchyardStack> {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  const profileFlags = options.profileDir ? ['--cpu-prof', '--cpu-prof-dir', options.profileDir] : [];
  if (options.profileDir) mkdirSync(options.profileDir, { recursive: true });
  let created: { functionId: string; versionId: string; apiKey: string } | undefined;
  const launch = await launchRegions({
    regions: [{ name: BENCH_REGION }],
    stateDir,
    cwd: REPO_ROOT,
    env: { ...process.env },
    redis: false,
    services: ['grpc-proxy'],
    prepare: async (nats) => {
      created = await createBenchFunction(nats.urls(BENCH_REGION), { name: 'echo', kind: 'grpc' });
    },
    logLevel: options.logLevel ?? 'warn',
    nodeFlags: {
      'grpc-proxy': [...profileFlags, ...(options.proxyNodeFlags ?? [])],
      worker: [...profileFlags, ...(options.workerNodeFlags ?? [])],
    },
    serviceEnv: { 'grpc-proxy': options.proxyEnv ?? {}, worker: options.workerEnv ?? {} },
    noFileLimit: options.noFileLimit,
  }).catch((err) => {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  });
  const stop = async () => {
    // Worker first (tiers), so it deletes its sessions and the proxy sees tunnels close cleanly.
    await launch.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const { functionId, versionId, apiKey } = created as NonNullable<typeof created>;
    const region = launch.regions[BENCH_REGION];
    const worker = launch.startWorker({
      region: BENCH_REGION,
      name: 'worker',
      functionId,
      versionId,
      upstream: `grpc://127.0.0.1:${options.containerPort}`,
      concurrency: options.concurrency,
      callbackAllowList: ['http://127.0.0.1:'],
    });
    await launch.waitReady([worker]);
    return {
      nats: launch.nats.children[0],
      proxy: region.services['grpc-proxy'] as LaunchedChild,
      worker,
      port: region.ports.grpc,
      callbackPort: region.ports.callback,
      functionId,
      versionId,
      apiKey,
      headers: { authorization: `Bearer ${apiKey}`, 'function-id': functionId },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
