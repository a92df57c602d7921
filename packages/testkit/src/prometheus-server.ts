// A throwaway Prometheus server (Debian's `prometheus` package) on a free loopback port, for every test
// that needs a real one: scrape targets (plain `host:port`, or with labels such as `switchyard_region`,
// as infra/prometheus/scrape-config.example.yaml asks) read from a file_sd file, a 1 s scrape and
// evaluation interval, optional rule files; query(), targets() and alerts() read its HTTP API.

import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { makeTempDir, registerResource, removeTempDir, spawnManaged } from './process-registry.ts';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** One series of an instant query result: its labels and value. */
export interface PromSample {
  /** Labels, `__name__` included (empty for a scalar result). */
  metric: Record<string, string>;
  /** The sample value as a number (NaN and ±Inf as such). */
  value: number;
}

/** A scrape target with labels of its own. */
export interface PrometheusTarget {
  /** `host:port`; scraped at /metrics. */
  address: string;
  /** Labels the target's series get (e.g. `switchyard_region`, `switchyard_service`). */
  labels?: Record<string, string>;
}

/** Options of {@link startPrometheus}. */
export interface StartPrometheusOptions {
  /** Rule files (absolute paths) loaded and evaluated every second. Default none. */
  ruleFiles?: readonly string[];
  /**
   * `honor_labels`: a scraped series keeps its own label where the target has one of the same name
   * (infra/prometheus/scrape-config.example.yaml sets it). Default false, as in Prometheus.
   */
  honorLabels?: boolean;
}

/** A scrape target as /api/v1/targets lists it. */
export interface PromTargetHealth {
  scrapeUrl: string;
  /** `up`, `down` or `unknown` (not scraped yet). */
  health: string;
  /** Error of the last scrape; empty when it succeeded. */
  lastError: string;
}

/** A pending or firing alert as /api/v1/alerts lists it. */
export interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

/** A running Prometheus started by {@link startPrometheus}. */
export interface PrometheusHandle {
  /** `http://127.0.0.1:<port>` of its web API. */
  url: string;
  /**
   * Runs an instant query now; a scalar comes back as one sample without labels.
   * @throws Error when the API answers with an error (bad PromQL).
   */
  query(promql: string): Promise<PromSample[]>;
  /** Active scrape targets with their health. @throws Error when the API answers with an error. */
  targets(): Promise<PromTargetHealth[]>;
  /** Pending and firing alerts. @throws Error when the API answers with an error. */
  alerts(): Promise<PromAlert[]>;
  /** The last lines Prometheus printed (for failure messages). */
  logTail(): string;
  /** SIGTERM (SIGKILL after 5 s), wait for exit, remove the temp dir. */
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
 * Starts Prometheus scraping `targets` (path /metrics) every second under job `switchyard`, with
 * `options.ruleFiles` evaluated every second, and resolves once its /-/ready answers 200. The config
 * is JSON (a YAML subset); targets sharing the same labels form one file_sd group.
 * @param targets `host:port`, or {@link PrometheusTarget} with labels.
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING`, or `TESTKIT_NOT_READY` with its log tail.
 */
export async function startPrometheus(
  targets: readonly (string | PrometheusTarget)[],
  options: StartPrometheusOptions = {},
): Promise<PrometheusHandle> {
  const binary = prometheusBinary();
  const port = await freePort();
  const dir = makeTempDir(`prometheus-${port}`);
  const groups = new Map<string, { targets: string[]; labels: Record<string, string> }>();
  for (const t of targets) {
    const { address, labels = {} } = typeof t === 'string' ? { address: t } : t;
    const key = JSON.stringify(Object.entries(labels).sort());
    const group = groups.get(key) ?? { targets: [], labels };
    group.targets.push(address);
    groups.set(key, group);
  }
  const targetsFile = join(dir, 'targets.json');
  writeFileSync(targetsFile, JSON.stringify([...groups.values()]));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: [
        {
          job_name: 'switchyard',
          honor_labels: options.honorLabels ?? false,
          file_sd_configs: [{ files: [targetsFile], refresh_interval: '1s' }],
        },
      ],
    }),
  );
  // biome-ignore format: flag/value pairs read better one pair per line
  const args = [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ];
  const proc = spawnManaged(`prometheus-${port}`, binary, args, dir);
  const url = `http://127.0.0.1:${port}`;
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.errorType} ${body.error}`);
    return body.data;
  };
  const handle: PrometheusHandle = {
    url,
    async query(promql) {
      const data = await api<
        | { resultType: 'scalar'; result: [number, string] }
        | { resultType: 'vector'; result: { metric: Record<string, string>; value: [number, string] }[] }
      >(`/api/v1/query?query=${encodeURIComponent(promql)}`);
      if (data.resultType === 'scalar') return [{ metric: {}, value: Number(data.result[1]) }];
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async targets() {
      return (await api<{ activeTargets: PromTargetHealth[] }>('/api/v1/targets')).activeTargets.map(
        ({ scrapeUrl, health, lastError }) => ({ scrapeUrl, health, lastError }),
      );
    },
    async alerts() {
      return (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
    },
    logTail: () => proc.logTail(),
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
  // One that exits (a bad config or rule file) fails at once rather than after the 30 s.
  const exited = new AbortController();
  void proc.exited.then((info) => exited.abort(new Error(`prometheus exited (${info.code ?? info.signal})`)));
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200, {
      timeoutMs: 30_000,
      what: 'prometheus /-/ready',
      signal: exited.signal,
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
