// A real Prometheus server for end-to-end tests: Debian's /usr/bin/prometheus on a free loopback port
// with a temporary storage directory, a 1 s scrape and evaluation interval, file-based scrape targets
// (labelled with `switchyard_region` and `switchyard_service`, as infra/prometheus/scrape-config.example.yaml
// asks), and the repository's rule files, the alerts with their `for:` shortened so a test can see one fire.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts } from '@switchyard/region-launcher';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { PROMETHEUS, ROOT, ruleFiles } from './observability-queries.ts';

/** One scrape target: the metrics URL of an instance, with its region and service. */
export interface ScrapeTarget {
  /** `http://HOST:PORT/metrics`. */
  url: string;
  region: string;
  service: string;
}

/** One series of an instant query result. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An alert as /api/v1/alerts lists it. */
export interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

/** A running Prometheus; {@link PrometheusServer.stop} ends it. */
export class PrometheusServer {
  /** Base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly #child: ChildProcess;
  #log = '';

  private constructor(url: string, child: ChildProcess) {
    this.url = url;
    this.#child = child;
    child.stdout?.on('data', (d) => this.#append(String(d)));
    child.stderr?.on('data', (d) => this.#append(String(d)));
  }

  #append(s: string): void {
    this.#log = (this.#log + s).slice(-20_000);
  }

  /** The last lines Prometheus printed (for failure messages). */
  get log(): string {
    return this.#log;
  }

  /**
   * Writes the configuration, rule files and targets into `dir` and starts Prometheus there.
   * @param dir an empty temporary directory (storage, config, targets).
   * @param targets scrape targets.
   * @param alertFor the `for:` every alert gets (e.g. `1s`), so one can fire within a test.
   * @throws Error when Prometheus does not become ready within 30 s (with its log).
   */
  static async start(dir: string, targets: readonly ScrapeTarget[], alertFor = '1s'): Promise<PrometheusServer> {
    mkdirSync(join(dir, 'rules'), { recursive: true });
    const rules: string[] = [];
    for (const file of ruleFiles()) {
      const doc = parseYaml(readFileSync(join(ROOT, file), 'utf8')) as {
        groups: { rules: { alert?: string; for?: string }[] }[];
      };
      for (const g of doc.groups) for (const r of g.rules) if (r.alert !== undefined) r.for = alertFor;
      const out = join(dir, 'rules', file.split('/').pop() ?? file);
      writeFileSync(out, stringifyYaml(doc));
      rules.push(out);
    }
    const groups = new Map<string, ScrapeTarget[]>();
    for (const t of targets)
      groups.set(`${t.region}/${t.service}`, [...(groups.get(`${t.region}/${t.service}`) ?? []), t]);
    writeFileSync(
      join(dir, 'targets.json'),
      JSON.stringify(
        [...groups.values()].map((ts) => ({
          targets: ts.map((t) => new URL(t.url).host),
          labels: { switchyard_region: ts[0].region, switchyard_service: ts[0].service },
        })),
      ),
    );
    writeFileSync(
      join(dir, 'prometheus.yml'),
      stringifyYaml({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: rules,
        scrape_configs: [
          {
            job_name: 'switchyard',
            honor_labels: true,
            file_sd_configs: [{ files: [join(dir, 'targets.json')], refresh_interval: '1s' }],
          },
        ],
      }),
    );
    const [port] = await freePorts(1, 'prometheus');
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}:\n${server.log}`);
      const ok = await fetch(`${server.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return server;
      await new Promise((r) => setTimeout(r, 200));
    }
    await server.stop();
    throw new Error(`prometheus not ready in 30 s:\n${server.log}`);
  }

  async #api<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.errorType} ${body.error}`);
    return body.data;
  }

  /**
   * Runs an instant PromQL query now.
   * @returns the result vector (scalars come back as one sample without labels).
   * @throws Error with Prometheus's error for a bad query.
   */
  async query(expr: string): Promise<Sample[]> {
    const data = await this.#api<{ resultType: string; result: Sample[] | [number, string] }>(
      `/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    if (data.resultType === 'scalar') return [{ metric: {}, value: data.result as [number, string] }];
    return data.result as Sample[];
  }

  /** Scrape targets with their health (`up`, `down`, `unknown`). */
  async targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]> {
    return (
      await this.#api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('/api/v1/targets')
    ).activeTargets;
  }

  /** Pending and firing alerts. */
  async alerts(): Promise<PromAlert[]> {
    return (await this.#api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
  }

  /** Stops Prometheus (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = once(this.#child, 'exit');
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
