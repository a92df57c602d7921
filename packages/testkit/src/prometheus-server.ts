// A throwaway Prometheus server (Debian's `prometheus` package) on a free loopback port, scraping the
// given targets every second; query() runs an instant PromQL query over its HTTP API.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { makeTempDir, registerResource, removeTempDir, spawnManaged } from './process-registry.ts';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** One series of an instant query result: its labels and value. */
export interface PromSample {
  /** Labels, `__name__` included. */
  metric: Record<string, string>;
  /** The sample value as a number. */
  value: number;
}

/** A running Prometheus started by {@link startPrometheus}. */
export interface PrometheusHandle {
  /** `http://127.0.0.1:<port>` of its web API. */
  url: string;
  /** Runs an instant query. @throws Error when the API answers with an error (bad PromQL). */
  query(promql: string): Promise<PromSample[]>;
  /** SIGTERM, wait for exit, remove the temp dir. */
  stop(): Promise<void>;
}

/**
 * Path of prometheus: `SWITCHYARD_PROMETHEUS` when set, else /usr/bin/prometheus (Debian package
 * `prometheus`; .ci/run installs it).
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING` when neither exists.
 */
export function prometheusBinary(): string {
  const path = process.env.SWITCHYARD_PROMETHEUS ?? '/usr/bin/prometheus';
  if (!existsSync(path))
    throw new TestkitError(
      TestkitErrorCode.binaryMissing,
      `prometheus not found at ${path}: apt-get install -y prometheus (then stop its system service), or set SWITCHYARD_PROMETHEUS`,
    );
  return path;
}

/**
 * Starts Prometheus with a generated config scraping `targets` (`host:port`, path /metrics) every
 * second under job `switchyard`, and resolves once its /-/ready answers 200.
 * @param targets scrape targets as `host:port`.
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING`, or `TESTKIT_NOT_READY` with its log tail.
 */
export async function startPrometheus(targets: string[]): Promise<PrometheusHandle> {
  const binary = prometheusBinary();
  const port = await freePort();
  const dir = makeTempDir(`prometheus-${port}`);
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: ${JSON.stringify(targets)}\n`,
  );
  // biome-ignore format: flag/value pairs read better one pair per line
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ];
  const proc = spawnManaged(`prometheus-${port}`, binary, args, dir);
  const url = `http://127.0.0.1:${port}`;
  const handle: PrometheusHandle = {
    url,
    async query(promql) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
      return (body.data?.result ?? []).map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async stop() {
      unregister();
      try {
        await proc.terminate();
      } finally {
        removeTempDir(dir);
      }
    },
  };
  const unregister = registerResource(handle);
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 30_000,
      what: 'prometheus /-/ready',
    });
  } catch (err) {
    const tail = proc.logTail();
    await handle.stop().catch(() => {});
    throw new TestkitError(TestkitErrorCode.notReady, `prometheus not ready: ${(err as Error).message}\n${tail}`, {
      cause: err,
    });
  }
  return handle;
}
