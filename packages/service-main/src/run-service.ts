// The start-up and drain sequence every service's main.ts runs, in one place: load config (every
// problem printed, exit 1), logger, Node options, telemetry, the service's own start, one ready line
// on stdout, and on SIGTERM/SIGINT an ordered drain, telemetry last, exit 0. A fault nothing handled
// (uncaught exception, unhandled rejection) is logged and drains too, then exit 1.
import cluster from 'node:cluster';
import { ConfigError, type ServiceName, startServiceRuntime } from '@switchyard/config';
import { createLogger, startTelemetry, type Telemetry } from '@switchyard/telemetry';
import { type ChildReadyMessage, type ProcessPlan, runPrimary } from './process-cluster.ts';
import { watchOtherProcesses } from './process-readiness.ts';

/** The pino logger every service writes with (as made by `createLogger`). */
export type ServiceLogger = ReturnType<typeof createLogger>;

/** Who this process is, derived from its config before anything starts. */
export interface ServiceIdentity {
  /**
   * Region this instance serves: `region` on every log line and `switchyard.region` on every metric.
   * Undefined for a global service (geodns): its log lines carry no region and its metrics say `global`.
   */
  region: string | undefined;
  /** Unique ID of this instance: telemetry's `service.instance.id`. */
  instanceId: string;
  /** Fields on every log line besides `service` and `region`, e.g. `{ proxyId }`. @default {} */
  logFields?: Record<string, unknown>;
  /**
   * Serve the metrics port (`/metrics`, `/healthz`, `/readyz`; its URL goes in the ready line as
   * `metrics`). @default false
   */
  metricsEnabled?: boolean;
  /** Address the metrics port binds. @default '127.0.0.1' */
  metricsHost?: string;
  /** Metrics port; 0 = ephemeral. Ignored unless `metricsEnabled`. */
  metricsPort: number;
  /**
   * Run `startServiceRuntime` (warn when the service's Node options are missing, start the buffer
   * reclaimer). @default false
   */
  nodeRuntime?: boolean;
}

/** What a service's `start` gets: its config and the logger and telemetry made for it. */
export interface ServiceContext<C> {
  /** The loaded, frozen config. */
  config: C;
  /** Logger with `service`, `region` and the identity's `logFields`. */
  logger: ServiceLogger;
  /** Started telemetry; its `meter` is where the service registers gauges. Shut down by the drain. */
  telemetry: Telemetry;
  /**
   * Awaits `listening` (a server's `listen()`); when it rejects, start-up stops with the
   * `could not listen` failure: a fatal log line, `<service>: could not listen: <message> (<hint>)`
   * on stderr, exit 1.
   * @param hint what to change, e.g. `set SWITCHYARD_PORT / SWITCHYARD_CALLBACK_PORT`.
   * @returns what `listening` resolved with (bound ports).
   */
  listen<T>(listening: Promise<T>, hint: string): Promise<T>;
}

/** One step of the drain, run in order after a signal. */
export interface DrainStep {
  /** Short name for the log line of a failed step, e.g. `heartbeat`, `nats`. */
  name: string;
  /** The work; awaited. A rejection (or throw) is logged at warn and the drain goes on. */
  run(): unknown;
}

/** A service that started: what the ready line says and how it drains. */
export interface RunningService {
  /** Fields of the `<service> ready` log line. */
  readyLog: Record<string, unknown>;
  /** Fields of the stdout ready line after `ready: true, service` (e.g. `{ port }`). */
  readyLine: Record<string, unknown>;
  /** What the drain does, for the `stopping: <drainMessage>` log line; `stopping` alone when undefined. */
  drainMessage?: string;
  /** After a signal, the process exits 1 when the drain has not ended within this many ms; undefined: never. */
  forceExitAfterMs?: number;
  /** Run in order on SIGTERM/SIGINT; telemetry is shut down after the last, then the process exits 0. */
  drain: readonly DrainStep[];
}

/** Options of {@link runService}. */
export interface RunServiceOptions<C> {
  /** Service name: the logs' `service`, telemetry's `service.name`, the ready line's `service`. */
  service: ServiceName;
  /** Reads and validates config; a `ConfigError` is printed (every problem) and the process exits 1. */
  loadConfig(): C;
  /** The instance's identity, from its config. */
  identify(config: C): ServiceIdentity;
  /**
   * Connects, builds and listens. main.ts does this part itself (it is the one place of a service
   * that calls NATS `connect()`). Any rejection ends start-up with exit 1.
   */
  start(context: ServiceContext<C>): Promise<RunningService>;
  /**
   * How many processes the instance runs and what makes each its own replica (`SWITCHYARD_PROCESSES`,
   * issue 12). A count above 1 makes this process the node:cluster primary ({@link runPrimary});
   * undefined or 1: the service runs in this process, as before. A `ConfigError` it throws is
   * printed like a config problem (exit 1).
   */
  processes?(config: C): ProcessPlan;
}

/** What {@link runService} uses of `process`; tests pass their own. */
export interface ServiceProcess {
  /** Ends the process with `code` (never returns in a real process). */
  exit(code: number): void;
  /** Writes to stdout. */
  stdout(text: string): void;
  /** Writes to stderr. */
  stderr(text: string): void;
  /** Calls `handler` on `signal`. */
  onSignal(signal: 'SIGTERM' | 'SIGINT', handler: () => void): void;
  /**
   * Calls `handler` on an exception nothing caught or a rejection nothing handled (Node's
   * `uncaughtException` and `unhandledRejection`); with a handler installed Node does not end the
   * process by itself, so the handler must.
   */
  onFatal(handler: (kind: FatalKind, err: unknown) => void): void;
}

/** Which of Node's last-resort events fired. */
export type FatalKind = 'uncaughtException' | 'unhandledRejection';

/** How long a drain after a fatal error may take when the service set no `forceExitAfterMs`, ms. */
export const FATAL_DRAIN_TIMEOUT_MS = 10_000;

/** The real process. */
const realProcess: ServiceProcess = {
  exit: (code) => process.exit(code),
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  onSignal: (signal, handler) => void process.on(signal, handler),
  onFatal: (handler) => {
    process.on('uncaughtException', (err) => handler('uncaughtException', err));
    process.on('unhandledRejection', (reason) => handler('unhandledRejection', reason));
  },
};

/** Raised through `context.listen` so the start-up failure says `could not listen` with its hint. */
class ListenFailed extends Error {
  readonly hint: string;
  constructor(hint: string, cause: unknown) {
    super((cause as Error)?.message ?? String(cause), { cause });
    this.name = 'ListenFailed';
    this.hint = hint;
  }
}

/**
 * Runs a service's main: loads config (a `ConfigError` prints its message on stderr, exit 1), makes
 * the logger, runs the Node-options check when asked, starts telemetry, calls `start`, logs
 * `<service> ready` and prints `{"ready":true,"service":...,...readyLine}` as the one line on stdout.
 * On the first SIGTERM or SIGINT: logs `stopping`, runs the drain steps in order, shuts telemetry
 * down and exits 0 (exit 1 when `forceExitAfterMs` passes first). A failure to listen prints
 * `<service>: could not listen: ...`, any other start-up failure `<service> failed to start: <stack>`;
 * both exit 1. An uncaught exception or unhandled rejection is logged at fatal with its kind and
 * error; before the ready line it exits 1 at once, after it the drain runs and the process exits 1
 * (forced after `forceExitAfterMs`, else {@link FATAL_DRAIN_TIMEOUT_MS}); one during the drain exits 1 now.
 * @param proc the process to exit and write to. @default the real one
 * @returns once the service is ready (or the process was told to exit).
 */
export async function runService<C>(options: RunServiceOptions<C>, proc: ServiceProcess = realProcess): Promise<void> {
  const { service } = options;
  let config: C;
  let plan: ProcessPlan | undefined;
  try {
    config = options.loadConfig();
    plan = options.processes?.(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    proc.stderr(`${err.message}\n`);
    return proc.exit(1);
  }
  const identity = options.identify(config);
  let logger = createLogger({ service, ...(identity.region !== undefined ? { region: identity.region } : {}) });
  if (plan !== undefined && plan.count > 1 && cluster.isPrimary) {
    return runPrimary(service, plan, logger, proc);
  }
  if (cluster.isWorker) logger = logger.child({ processIndex: Number(process.env.SWITCHYARD_PROCESS_INDEX ?? 0) });
  if (identity.logFields !== undefined) logger = logger.child(identity.logFields);
  let running: RunningService | undefined;
  let telemetry: Telemetry | undefined;
  // The process policy: a fault nothing handled is logged with its context and ends the process with
  // exit 1, after the drain once the service is up (a supervisor restarts it), never a silent hang.
  let fatal: ((kind: FatalKind, err: unknown) => void) | undefined;
  proc.onFatal((kind, err) => {
    logger.fatal({ err, kind }, `${kind}: ${(err as Error)?.message ?? String(err)}`);
    if (fatal) return fatal(kind, err);
    proc.stderr(`${service}: ${kind}: ${(err as Error)?.stack ?? String(err)}\n`);
    proc.exit(1);
  });
  try {
    // Node options checked, spent body Buffers reclaimed (docs/configuration.md, "Node options").
    if (identity.nodeRuntime === true) startServiceRuntime(service, logger);
    telemetry = await startTelemetry({
      service,
      region: identity.region ?? 'global',
      instanceId: identity.instanceId,
      metricsPort: identity.metricsEnabled === true ? identity.metricsPort : undefined,
      metricsHost: identity.metricsHost,
    });
    // Child 0 of several processes: its /readyz also covers the others (`processes`, from the primary).
    watchOtherProcesses(telemetry);
    running = await options.start({
      config,
      logger,
      telemetry,
      listen: (listening, hint) =>
        listening.catch((err: unknown) => {
          throw new ListenFailed(hint, err);
        }),
    });
  } catch (err) {
    if (err instanceof ListenFailed) {
      logger.fatal({ err: err.cause }, 'could not listen');
      proc.stderr(`${service}: could not listen: ${err.message} (${err.hint})\n`);
    } else {
      logger.fatal({ err }, 'failed to start');
      proc.stderr(`${service} failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    return proc.exit(1);
  }
  const started = telemetry;
  const up = running;
  let stopping = false;
  const shutdown = async (signal: string, exitCode = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info(
      exitCode === 0 ? { signal } : { fault: signal },
      up.drainMessage === undefined ? 'stopping' : `stopping: ${up.drainMessage}`,
    );
    const forceAfterMs = up.forceExitAfterMs ?? (exitCode === 0 ? undefined : FATAL_DRAIN_TIMEOUT_MS);
    if (forceAfterMs !== undefined) {
      const force = setTimeout(() => proc.exit(1), forceAfterMs);
      force.unref();
    }
    for (const step of [...up.drain, { name: 'telemetry', run: () => started.shutdown() }]) {
      try {
        await step.run();
      } catch (err) {
        logger.warn({ err, step: step.name }, 'drain step failed');
      }
    }
    proc.exit(exitCode);
  };
  // Handled before the ready line is out: whoever reads it may signal at once, and a signal that
  // arrives before the handler exists takes its default action (killed, 143, no drain).
  proc.onSignal('SIGTERM', () => void shutdown('SIGTERM'));
  proc.onSignal('SIGINT', () => void shutdown('SIGINT'));
  // A cluster child whose primary is gone (killed) drains rather than serve on unsupervised.
  if (cluster.isWorker) process.once('disconnect', () => void shutdown('disconnect'));
  logger.info(running.readyLog, `${service} ready`);
  const metricsLine = telemetry.metricsUrl !== undefined ? { metrics: telemetry.metricsUrl } : {};
  const readyLine = { ready: true, service, ...running.readyLine, ...metricsLine };
  // A cluster child tells the primary, which prints the instance's one ready line.
  if (cluster.isWorker)
    process.send?.({ switchyardReady: { ...readyLine, pid: process.pid } } satisfies ChildReadyMessage);
  else proc.stdout(`${JSON.stringify(readyLine)}\n`);
  fatal = (kind) => {
    if (stopping) return proc.exit(1); // a fault during the drain: stop now
    void shutdown(kind, 1);
  };
}
