// One region with every part a process, for tests that measure or configure the services as they
// run in production (issue 11 item 2): @switchyard/region-launcher's nats-server (and Redis), the
// front ends named, one sample container and one worker per function, functions and an API key
// written to the control store before any service starts. `stop()` removes everything.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { type LaunchRegionsOptions, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';

/** One function of the region, served by its own sample container and worker. */
export interface ProcessFunctionSpec {
  /** Function name; also names its container (`<name>`) and worker (`worker-<name>`). */
  name: string;
  kind: 'grpc' | 'http';
  /** Sample container kind (`echo`, `http`). */
  sample: string;
  /** Inference URL of an HTTP function. */
  inferenceUrl?: string;
}

/** Options of {@link launchProcessRegion}. */
export interface ProcessRegionOptions extends Pick<LaunchRegionsOptions, 'redis' | 'services' | 'serviceEnv'> {
  /** Region name (also the account of the functions and key). */
  region: string;
  functions: readonly ProcessFunctionSpec[];
  /** Worker max concurrency. */
  concurrency: number;
}

/** A running process region. */
export interface ProcessRegion {
  launch: RegionsLaunch;
  /** The API key (every function of the account). */
  apiKey: string;
  /** Function and version IDs by function name. */
  fns: Record<string, { functionId: string; versionId: string }>;
  /** Stops every child and removes the state directory. */
  stop(): Promise<void>;
}

/** Starts the region, its containers and workers; resolves when every child printed its ready line. */
export async function launchProcessRegion(options: ProcessRegionOptions): Promise<ProcessRegion> {
  const stateDir = mkdtempSync(join(tmpdir(), `switchyard-${options.region}-`));
  const fns: ProcessRegion['fns'] = {};
  let apiKey = '';
  let launch: RegionsLaunch | undefined;
  const stop = async () => {
    await launch?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    launch = await launchRegions({
      regions: [{ name: options.region }],
      stateDir,
      logDir: join(stateDir, 'logs'),
      redis: options.redis,
      services: options.services,
      serviceEnv: options.serviceEnv,
      logLevel: 'warn',
      samples: () => options.functions.map((f) => ({ name: f.name, sample: f.sample, instanceId: f.name })),
      prepare: async (nats) => {
        const nc = await connect({ servers: nats.urls(options.region) });
        try {
          const store = await ControlStore.open(nc);
          for (const f of options.functions) {
            const { fn, version } = await store.createFunction({
              accountId: options.region,
              name: f.name,
              kind: f.kind,
              inferenceUrl: f.inferenceUrl,
            });
            fns[f.name] = { functionId: fn.functionId, versionId: version.versionId };
          }
          apiKey = (await store.createApiKey({ accountId: options.region })).key;
          await store.close();
        } finally {
          await nc.close();
        }
      },
    });
    const started = launch;
    const region = started.regions[options.region];
    await started.waitReady(
      options.functions.map((f) =>
        started.startWorker({
          region: options.region,
          name: `worker-${f.name}`,
          functionId: fns[f.name].functionId,
          versionId: fns[f.name].versionId,
          upstream: `${f.kind}://127.0.0.1:${region.samples[f.name].port}`,
          concurrency: options.concurrency,
          callbackAllowList: ['http://127.0.0.1:'],
        }),
      ),
    );
    return { launch: started, apiKey, fns, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
