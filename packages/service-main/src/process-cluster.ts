// One service instance as N processes (issue 12, "Every core"), with node:cluster: the primary forks
// N children, each a full replica (its own instance ID, callback port and metrics port) sharing the
// client port, which the primary accepts on and hands out round-robin (cluster's SCHED_RR, the
// default on Linux). The primary prints the one ready line once every child is ready, restarts a
// child that dies (with backoff), polls the other children's /readyz for child 0's `processes` check
// (process-readiness.ts), and on SIGTERM/SIGINT drains every child and exits.
import cluster, { type Worker } from 'node:cluster';
import { ConfigError, type ServiceName } from '@switchyard/config';
import type { createLogger } from '@switchyard/telemetry';
import { type ProcessesReportMessage, ProcessReadiness } from './process-readiness.ts';

/** How a service instance runs as several processes. */
export interface ProcessPlan {
  /** Processes to run; 1 = no cluster (the service runs in this process). */
  count: number;
  /**
   * The environment (`SWITCHYARD_*` overrides) of child `index` (0-based), over this process's own:
   * what makes the child its own replica (instance ID, callback and metrics ports).
   */
  childEnv(index: number): Record<string, string>;
  /**
   * A child whose `/readyz` gives no answer at all for this long is killed (SIGKILL) and restarted,
   * ms; 0 or unset = never (`SWITCHYARD_PROCESS_LIVENESS_TIMEOUT_MS`).
   */
  livenessTimeoutMs?: number;
}

/** What a cluster child sends the primary once ready: its stdout ready-line object. */
export interface ChildReadyMessage {
  switchyardReady: Record<string, unknown>;
}

/** First restart delay of a child that died, ms; doubled per quick death, up to {@link MAX_RESTART_DELAY_MS}. */
export const MIN_RESTART_DELAY_MS = 500;
/** Longest restart delay, ms. */
export const MAX_RESTART_DELAY_MS = 30_000;
/** A child that lived this long before dying restarts after {@link MIN_RESTART_DELAY_MS} again, ms. */
export const STABLE_CHILD_MS = 30_000;
/** After SIGTERM, children still running after this long are killed and the primary exits 1, ms. */
export const PRIMARY_DRAIN_TIMEOUT_MS = 20_000;

/** What the primary uses of `process` (the real one in production). */
export interface PrimaryProcess {
  exit(code: number): void;
  stdout(text: string): void;
  onSignal(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
}

/**
 * The environment of child `index` for a front end (gRPC proxy, invocation): `<idVar>=<id>-<index>`,
 * the callback and metrics ports offset by `index` (0 stays 0: each child binds its own ephemeral
 * port), and a configured callback URI's port offset likewise (the ticket must name the child's own
 * callback port: a tunnel reaches the process that issued its token).
 * @param input `idVar` e.g. `SWITCHYARD_PROXY_ID`; `id` the configured instance ID.
 */
export function frontEndChildEnv(input: FrontEndProcessInput, index: number): Record<string, string> {
  const env: Record<string, string> = {
    [input.idVar]: `${input.id}-${index}`,
    SWITCHYARD_CALLBACK_PORT: String(input.callbackPort === 0 ? 0 : input.callbackPort + index),
    SWITCHYARD_METRICS_PORT: String(input.metricsPort === 0 ? 0 : input.metricsPort + index),
  };
  if (input.callbackUri !== undefined && input.callbackPort !== 0) {
    const url = new URL(input.callbackUri);
    const base = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    url.port = String(base + index);
    env.SWITCHYARD_CALLBACK_URI = url.toString().replace(/\/$/, '');
  }
  return env;
}

/** What {@link frontEndProcessPlan} reads of a front end's config. */
export interface FrontEndProcessInput {
  /** Variable of the instance ID, e.g. `SWITCHYARD_PROXY_ID`. */
  idVar: string;
  /** The configured instance ID; child `i` gets `<id>-<i>`. */
  id: string;
  callbackPort: number;
  callbackUri?: string;
  metricsPort: number;
  /** See {@link ProcessPlan.livenessTimeoutMs}, ms. @default 0 (never) */
  livenessTimeoutMs?: number;
}

/**
 * The process plan of a gRPC proxy or invocation instance: `count` children, each with
 * {@link frontEndChildEnv}.
 * @throws ConfigError when `count` > 1 with `SWITCHYARD_CALLBACK_PORT=0` and a configured
 *   `SWITCHYARD_CALLBACK_URI` (each child's ephemeral callback port cannot be named in one URI).
 */
export function frontEndProcessPlan(service: ServiceName, count: number, input: FrontEndProcessInput): ProcessPlan {
  if (count > 1 && input.callbackPort === 0 && input.callbackUri !== undefined)
    throw new ConfigError(service, [
      `SWITCHYARD_PROCESSES (processes): ${count} processes cannot share SWITCHYARD_CALLBACK_URI with SWITCHYARD_CALLBACK_PORT=0; set a callback port (each process gets port + index, and the URI's port is offset likewise) or leave the URI unset`,
    ]);
  return { count, childEnv: (index) => frontEndChildEnv(input, index), livenessTimeoutMs: input.livenessTimeoutMs };
}

/**
 * Runs the cluster primary: forks `plan.count` children (this same entry point), prints
 * `{"ready":true,"service",processes,...child 0's fields,"children":[...]}` on stdout once all are
 * ready, restarts a child that exits after that (delay {@link MIN_RESTART_DELAY_MS} doubling per
 * quick death up to {@link MAX_RESTART_DELAY_MS}; a replacement binds the metrics port its predecessor
 * bound, ephemeral ones included, so the URLs of the ready line stay valid), and exits 1 when a child exits before the first
 * ready line (a config or listen problem the child printed). Meanwhile it polls children 1..N-1 on
 * their `/readyz` every second and sends child 0 the ones not ready ({@link ProcessReadiness}), which
 * child 0's `/readyz` reports as its `processes` check, and kills (SIGKILL, then restarts) one that gave
 * no answer at all for `plan.livenessTimeoutMs`. SIGTERM/SIGINT: SIGTERM to every child
 * (each drains as a single process would), exit 0 when all exited 0, else 1 (also after
 * {@link PRIMARY_DRAIN_TIMEOUT_MS}, remaining children killed).
 */
export function runPrimary(
  service: ServiceName,
  plan: ProcessPlan,
  logger: ReturnType<typeof createLogger>,
  proc: PrimaryProcess,
): void {
  const log = logger.child({ role: 'primary' });
  const ready: (Record<string, unknown> | undefined)[] = new Array(plan.count).fill(undefined);
  const fails: number[] = new Array(plan.count).fill(0);
  const live = new Map<Worker, { index: number; startedAt: number; reusedMetricsPort: boolean }>();
  // The ephemeral metrics port each child bound (SWITCHYARD_METRICS_PORT=0): its replacement binds the
  // same one, so the URL in the ready line (dev.json, Prometheus targets) stays the child's.
  const metricsPorts: (number | undefined)[] = new Array(plan.count).fill(undefined);
  const byIndex: (Worker | undefined)[] = new Array(plan.count).fill(undefined);
  const readiness = new ProcessReadiness({
    count: plan.count,
    livenessTimeoutMs: plan.livenessTimeoutMs,
    onUnresponsive: (index, pid, message) => {
      const child = byIndex[index];
      if (child?.process.pid !== pid) return;
      // Its share of the connections would hang: kill it; the exit restarts it as any death does.
      log.error({ index, pid }, `${message}: killing it (SIGKILL)`);
      child.process.kill('SIGKILL');
    },
    send: (report: ProcessesReportMessage) => {
      const first = byIndex[0];
      // Child 0 not running (restarting): its replacement is sent the report once ready.
      if (first?.isConnected()) first.send(report, undefined, () => {});
    },
  });
  let printed = false;
  let stopping = false;
  let failed = false;

  const fork = (index: number): void => {
    const env = plan.childEnv(index);
    const keep = metricsPorts[index];
    const reusedMetricsPort = env.SWITCHYARD_METRICS_PORT === '0' && keep !== undefined;
    if (reusedMetricsPort) env.SWITCHYARD_METRICS_PORT = String(keep);
    const child = cluster.fork({ ...env, SWITCHYARD_PROCESS_INDEX: String(index) });
    live.set(child, { index, startedAt: Date.now(), reusedMetricsPort });
    byIndex[index] = child;
    readiness.forked(index, child.process.pid);
    child.on('message', (msg: Partial<ChildReadyMessage>) => {
      if (msg?.switchyardReady === undefined) return;
      ready[index] = msg.switchyardReady;
      metricsPorts[index] ??= portOf(msg.switchyardReady.metrics);
      readiness.ready(index, child.process.pid, msg.switchyardReady.metrics);
      const fields = { index, pid: child.process.pid, ...msg.switchyardReady };
      // A replacement's readiness is logged at warn, beside the `process exited` that caused it.
      if (printed) log.warn(fields, 'process restarted and ready');
      else log.info(fields, 'process ready');
      if (!printed && ready.every((r) => r !== undefined)) {
        printed = true;
        const { ready: _r, service: _s, ...first } = ready[0] as Record<string, unknown>;
        const children = ready.map((r, i) => {
          const { ready: _cr, service: _cs, ...fields } = r as Record<string, unknown>;
          return { index: i, ...fields };
        });
        proc.stdout(`${JSON.stringify({ ready: true, service, processes: plan.count, ...first, children })}\n`);
      }
    });
  };

  const maybeExit = (): void => {
    if (live.size === 0) proc.exit(failed ? 1 : 0);
  };

  cluster.on('exit', (child, code, signal) => {
    const info = live.get(child);
    if (!info) return;
    live.delete(child);
    if (stopping) {
      if (code !== 0) {
        failed = true; // a child whose drain failed (or was killed) fails the instance's exit
        log.warn({ index: info.index, pid: child.process.pid, code, signal }, 'process exited non-zero while draining');
      }
      return maybeExit();
    }
    log.error({ index: info.index, pid: child.process.pid, code, signal }, 'process exited');
    if (!printed) {
      // A child that cannot start (config, listen) would fail again: stop the instance.
      stopping = true;
      readiness.stop();
      for (const other of live.keys()) other.process.kill('SIGTERM');
      failed = true;
      return maybeExit();
    }
    // A replacement that died before it was ready may have found its old port taken: the next one
    // binds an ephemeral port again.
    if (info.reusedMetricsPort && ready[info.index] === undefined) metricsPorts[info.index] = undefined;
    ready[info.index] = undefined;
    fails[info.index] = Date.now() - info.startedAt >= STABLE_CHILD_MS ? 0 : fails[info.index] + 1;
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, MIN_RESTART_DELAY_MS * 2 ** Math.max(0, fails[info.index] - 1));
    if (byIndex[info.index] === child) byIndex[info.index] = undefined;
    readiness.exited(info.index, code, signal, delayMs);
    log.warn({ index: info.index, delayMs }, 'restarting process');
    setTimeout(() => {
      if (!stopping) fork(info.index);
    }, delayMs);
  });

  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    readiness.stop();
    log.info({ signal, processes: live.size }, 'stopping: draining every process');
    for (const child of live.keys()) child.process.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const child of live.keys()) child.process.kill('SIGKILL');
      proc.exit(1);
    }, PRIMARY_DRAIN_TIMEOUT_MS);
    force.unref();
    maybeExit();
  };
  proc.onSignal('SIGTERM', () => shutdown('SIGTERM'));
  proc.onSignal('SIGINT', () => shutdown('SIGINT'));

  for (let i = 0; i < plan.count; i++) fork(i);
  readiness.start();
}

/** The port of a ready line's `metrics` URL (`http://host:port/metrics`), or undefined. */
function portOf(url: unknown): number | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    const port = Number(new URL(url).port);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
