// One bench region, as both single-region Switchyard paths (grpc, http) start it: a state directory,
// @switchyard/region-launcher with one function and API key written before the services start, then
// one worker in front of the bench's container. Everything is stopped and removed on failure.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import {
  type LaunchedChild,
  type LaunchedRegion,
  type LaunchRegionsOptions,
  launchRegions,
  type RegionsLaunch,
} from '@switchyard/region-launcher';
import { REPO_ROOT } from './child.ts';

/** Region name the bench stack runs as. */
export const BENCH_REGION = 'bench';
/** Account that owns the bench function and key. */
export const BENCH_ACCOUNT = 'bench';

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

/** Options of {@link launchBenchRegion}. */
export interface BenchRegionOptions
  extends Pick<
    LaunchRegionsOptions,
    'redis' | 'services' | 'logLevel' | 'nodeFlags' | 'serviceEnv' | 'noFileLimit' | 'readyTimeoutMs'
  > {
  /** Prefix of the temporary state directory, e.g. `switchyard-bench-`. */
  stateDirPrefix: string;
  /** The bench function (account `bench`). */
  fn: Parameters<typeof createBenchFunction>[1];
  /** The worker's upstream, e.g. `grpc://127.0.0.1:<port>`. */
  upstream: string;
  /** Worker max concurrency. */
  concurrency: number;
  /** Extra node flags of the worker (e.g. a preload). @default none */
  workerNodeFlags?: string[];
  /** Extra environment of the worker. @default none */
  workerEnv?: Record<string, string>;
}

/** A running bench region. */
export interface BenchRegion {
  launch: RegionsLaunch;
  region: LaunchedRegion;
  worker: LaunchedChild;
  functionId: string;
  versionId: string;
  apiKey: string;
  /** Stops every child (worker first) and removes the state directory. */
  stop(): Promise<void>;
}

/**
 * Starts the region and its worker; resolves when every child printed its ready line.
 * @throws LauncherError (a child did not start), or the control store's error.
 */
export async function launchBenchRegion(options: BenchRegionOptions): Promise<BenchRegion> {
  const stateDir = mkdtempSync(join(tmpdir(), options.stateDirPrefix));
  let created: { functionId: string; versionId: string; apiKey: string } | undefined;
  const launch = await launchRegions({
    regions: [{ name: BENCH_REGION }],
    stateDir,
    cwd: REPO_ROOT,
    env: { ...process.env },
    redis: options.redis,
    services: options.services,
    prepare: async (nats) => {
      created = await createBenchFunction(nats.urls(BENCH_REGION), options.fn);
    },
    logLevel: options.logLevel ?? 'warn',
    nodeFlags: options.nodeFlags,
    serviceEnv: options.serviceEnv,
    noFileLimit: options.noFileLimit,
    readyTimeoutMs: options.readyTimeoutMs,
  }).catch((err) => {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  });
  const stop = async () => {
    // Worker first (tiers), so it deletes its sessions and the front end sees tunnels close cleanly.
    await launch.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const { functionId, versionId, apiKey } = created as NonNullable<typeof created>;
    const worker = launch.startWorker({
      region: BENCH_REGION,
      name: 'worker',
      functionId,
      versionId,
      upstream: options.upstream,
      concurrency: options.concurrency,
      callbackAllowList: ['http://127.0.0.1:'],
      env: options.workerEnv,
      nodeFlags: options.workerNodeFlags,
    });
    await launch.waitReady([worker]);
    return { launch, region: launch.regions[BENCH_REGION], worker, functionId, versionId, apiKey, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
