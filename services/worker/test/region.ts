// A region for the worker suites: the grpc-proxy team's RegionHarness (real nats-server, control
// store, proxies, workers, echo containers) plus a session directory handle for the tests to read,
// opened first so that the bucket gets the TTL the test asks for (an existing bucket keeps its own).

import type { NatsConnection } from '@nats-io/nats-core';
import type { GrpcProxy } from '@switchyard/grpc-proxy';
import type { SampleServerHandle } from '@switchyard/sample-functions';
import { SessionDirectory } from '@switchyard/session-directory';
import type { NatsServerHandle } from '@switchyard/testkit';
import type { Worker } from '@switchyard/worker';

// Loaded by URL: a static relative import of another project's source is refused by tsc (TS2878,
// rewriteRelativeImportExtensions across project references); type-only imports are fine.
// The harness is the grpc-proxy suite's file. tsc refuses any relative reference into another
// project's sources here (TS2878 under rewriteRelativeImportExtensions), type-only ones included, so
// it is loaded by URL and the part these suites use is typed below.
const harnessUrl = new URL('../../grpc-proxy/test/region-harness.ts', import.meta.url).href;

export interface HarnessProxy {
  proxy: GrpcProxy;
  nc: NatsConnection;
  port: number;
  address: string;
  callbackPort: number;
  stop(): Promise<void>;
}

export interface HarnessWorker {
  worker: Worker;
  nc: NatsConnection;
  container: SampleServerHandle;
  stop(): Promise<void>;
}

export interface RegionHarness {
  readonly region: string;
  nats: NatsServerHandle;
  nc: NatsConnection;
  functionId: string;
  versionId: string;
  apiKey: string;
  readonly proxies: HarnessProxy[];
  readonly workers: HarnessWorker[];
  readonly containers: SampleServerHandle[];
  start(options?: { reconnectWindowMs?: number }): Promise<RegionHarness>;
  addProxy(overrides?: Record<string, unknown>): Promise<HarnessProxy>;
  addWorker(overrides?: Record<string, unknown>, container?: SampleServerHandle): Promise<HarnessWorker>;
  metadata(extra?: Record<string, string>): Record<string, string>;
  stop(): Promise<void>;
}

const harness = (await import(harnessUrl)) as { RegionHarness: new (region?: string) => RegionHarness };
export const { RegionHarness } = harness;

export interface TestRegion {
  h: RegionHarness;
  directory: SessionDirectory;
}

/** Starts a region whose session bucket has TTL `sessionTtlMs` (default 60 s). */
export async function startRegion(
  options: { sessionTtlMs?: number; reconnectWindowMs?: number } = {},
): Promise<TestRegion> {
  const h = new RegionHarness();
  await h.start({ reconnectWindowMs: options.reconnectWindowMs });
  const directory = await SessionDirectory.open(h.nc, {
    region: h.region,
    ttlMs: options.sessionTtlMs ?? 60_000,
    timeoutMs: 2_000,
  });
  return { h, directory };
}
