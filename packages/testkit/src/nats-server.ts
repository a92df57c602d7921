// One nats-server process from a region-launcher plan (the one plan and config renderer of local
// NATS, shared with `switchyard dev` and the benches), readiness checks on the monitoring endpoint,
// and stop / kill / restart for failure tests. startNats: a standalone server in its own temp dir.

import { dirname } from 'node:path';
import { type NatsServerPlan, planNatsServers, writeNatsConfigs } from '@switchyard/region-launcher';
import { natsServerBinary } from './binaries.ts';
import { getMonitor } from './monitor.ts';
import { canConnect } from './ports.ts';
import { type ManagedProcess, makeTempDir, registerResource, removeTempDir, spawnManaged } from './process-registry.ts';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';
import { waitFor } from './wait-for.ts';

/** Default time a single server gets to become ready, in milliseconds. */
export const DEFAULT_NATS_READY_TIMEOUT_MS = 20_000;
/**
 * How long `restart()` waits for a server to be ready, in milliseconds. Longer than a first start: a
 * restarted member of a cluster or supercluster must also reach a JetStream meta leader again, which
 * took over 20 s on a loaded 2-core machine.
 */
export const NATS_RESTART_READY_TIMEOUT_MS = 60_000;

/** A running (or stopped, restartable) nats-server started by the kit. */
export interface NatsServerHandle {
  /** `server_name`, unique among servers of a cluster/supercluster. */
  name: string;
  /** Client port on 127.0.0.1. */
  port: number;
  /** `nats://127.0.0.1:<port>`. */
  url: string;
  /** Route (cluster) port, when the server is part of a cluster. */
  clusterPort?: number;
  /** Gateway port, when the server's cluster is part of a supercluster. */
  gatewayPort?: number;
  /** HTTP monitoring port (`/healthz`, `/jsz`, `/varz`, ...). */
  monitorPort: number;
  /** JetStream store directory (inside the server's temp dir). */
  storeDir: string;
  /** Pid of the current process; undefined while stopped. */
  pid: number | undefined;
  /**
   * SIGTERM, wait for exit (SIGKILL after 5 s). The temp dir is kept so `restart()` finds its data;
   * it is removed by the owning cluster's `stop()`, by `stopAll()` or at process exit.
   */
  stop(): Promise<void>;
  /** SIGKILL now (a crash), wait for exit. */
  kill(): Promise<void>;
  /**
   * Start again with the same ports, config and store dir (JetStream data survives); a running server
   * is stopped first. Resolves when /healthz says ok (and, in a cluster, a meta leader is known),
   * within NATS_RESTART_READY_TIMEOUT_MS (60 s).
   * @throws {TestkitError} `TESTKIT_NOT_READY` / `TESTKIT_PROCESS_EXITED` when it does not come back.
   */
  restart(): Promise<void>;
}

/** Options for {@link startNats}. */
export interface StartNatsOptions {
  /**
   * Enable JetStream (store in the server's temp dir).
   * @default true
   */
  jetstream?: boolean;
  /**
   * `server_name`.
   * @default 'nats-<port>'
   */
  serverName?: string;
  /**
   * `server_tags`, e.g. `['region:a']`.
   * @default []
   */
  tags?: string[];
  /**
   * Time allowed to become ready, in milliseconds.
   * @default 20000
   */
  readyTimeoutMs?: number;
}

/** Internal server object: the public handle plus what clusters need. */
export interface NatsServerInternal extends NatsServerHandle {
  /** Spawn the process (no readiness wait). */
  launch(): void;
  /** Wait for TCP + /healthz ok, and a JetStream meta leader when `metaLeader`. */
  waitReady(options: { timeoutMs: number; metaLeader: boolean }): Promise<void>;
  /** Last log lines. */
  logTail(): string;
  /** Stop for good; the handle cannot be restarted afterwards (its owner removes the files). */
  dispose(): Promise<void>;
}

/**
 * Creates (without starting) a server from a plan whose config file is written
 * (`writeNatsConfigs` of @switchyard/region-launcher).
 * @param plan ports, names, tags, cluster and gateway of the server, its config file and store.
 */
export function createNatsServer(plan: NatsServerPlan): NatsServerInternal {
  const dir = dirname(plan.configFile);
  let proc: ManagedProcess | undefined;
  let disposed = false;

  const running = () => proc !== undefined && !proc.hasExited();
  const describe = () => `nats-server ${plan.serverName} (127.0.0.1:${plan.clientPort})`;
  const port = plan.clientPort;

  const handle: NatsServerInternal = {
    name: plan.serverName,
    port,
    url: `nats://127.0.0.1:${port}`,
    clusterPort: plan.routePort,
    gatewayPort: plan.gatewayPort,
    monitorPort: plan.monitorPort,
    storeDir: plan.storeDir,
    pid: undefined,
    launch() {
      if (disposed) throw new TestkitError(TestkitErrorCode.invalidState, `${describe()} was disposed`);
      if (running()) return;
      proc = spawnManaged(plan.serverName, natsServerBinary(), ['-c', plan.configFile], dir);
      handle.pid = proc.child.pid;
      void proc.exited.then(() => {
        if (handle.pid === proc?.child.pid) handle.pid = undefined;
      });
    },
    async waitReady({ timeoutMs, metaLeader }) {
      const current = proc;
      if (current === undefined) throw new TestkitError(TestkitErrorCode.invalidState, `${describe()} not started`);
      const abort = new AbortController();
      const exitedEarly = current.exited.then((info) => {
        if (abort.signal.aborted) return;
        throw new TestkitError(
          TestkitErrorCode.exited,
          `${describe()} exited while starting (code ${info.code}, signal ${info.signal})\n--- last log lines ---\n${current.logTail()}`,
        );
      });
      let stage = 'client port to accept TCP';
      const ready = (async () => {
        const deadline = Date.now() + timeoutMs;
        const left = () => Math.max(1, deadline - Date.now());
        const common = { signal: abort.signal, intervalMs: 100 };
        await waitFor(() => canConnect(port), { ...common, timeoutMs: left(), what: stage });
        stage = '/healthz to report ok';
        await waitFor(
          async () => {
            const res = await getMonitor(plan.monitorPort, '/healthz');
            if (res.status !== 200) throw new Error(`/healthz ${res.status} ${JSON.stringify(res.body)}`);
            return true;
          },
          { ...common, timeoutMs: left(), what: stage },
        );
        if (metaLeader) {
          stage = 'a JetStream meta leader (/jsz)';
          await waitFor(
            async () => {
              const res = await getMonitor(plan.monitorPort, '/jsz');
              const meta = (res.body as { meta_cluster?: { leader?: string } } | undefined)?.meta_cluster;
              if (!meta?.leader) throw new Error(`/jsz meta_cluster ${JSON.stringify(meta)}`);
              return true;
            },
            { ...common, timeoutMs: left(), what: stage },
          );
        }
      })();
      try {
        await Promise.race([ready, exitedEarly]);
      } catch (err) {
        if (err instanceof TestkitError && err.code === TestkitErrorCode.exited) throw err;
        const reason = err instanceof Error ? err.message : String(err);
        throw new TestkitError(
          TestkitErrorCode.notReady,
          `${describe()} not ready after ${timeoutMs} ms (waiting for ${stage}): ${reason}\n--- last log lines ---\n${current.logTail()}`,
          { cause: err },
        );
      } finally {
        abort.abort();
        ready.catch(() => {});
        exitedEarly.catch(() => {});
      }
    },
    logTail: () => proc?.logTail() ?? '',
    async stop() {
      await proc?.terminate();
    },
    async kill() {
      await proc?.killNow();
    },
    async restart() {
      await proc?.terminate();
      handle.launch();
      await handle.waitReady({ timeoutMs: NATS_RESTART_READY_TIMEOUT_MS, metaLeader: plan.routePort !== undefined });
    },
    async dispose() {
      disposed = true;
      await proc?.terminate();
    },
  };
  return handle;
}

/** Starts of {@link startNats} on fresh ports when a port was taken between planning and binding. */
const PORT_RACE_ATTEMPTS = 3;

/**
 * Starts one nats-server on free loopback ports (client and monitoring), JetStream on by default,
 * and resolves when it accepts TCP and /healthz reports ok. A server that exits at once because
 * another process took one of its ports meanwhile ("address already in use") is started again on
 * fresh ports, up to 3 times.
 *
 * @param options JetStream, server name, tags, readiness timeout.
 * @returns the running server; `stopAll()` also stops it.
 * @throws {TestkitError} `TESTKIT_BINARY_MISSING`, `TESTKIT_NOT_READY` or `TESTKIT_PROCESS_EXITED`
 *   (the message ends with the server's last log lines).
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsServerHandle> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsOnce(options);
    } catch (err) {
      const portTaken =
        err instanceof TestkitError &&
        err.code === TestkitErrorCode.exited &&
        /address already in use/.test(err.message);
      if (!portTaken || attempt >= PORT_RACE_ATTEMPTS) throw err;
    }
  }
}

async function startNatsOnce(options: StartNatsOptions): Promise<NatsServerHandle> {
  const dir = makeTempDir('nats');
  let server: NatsServerInternal | undefined;
  const dispose = async () => {
    try {
      await server?.dispose();
    } finally {
      removeTempDir(dir);
    }
  };
  const unregister = registerResource({ stop: dispose });
  try {
    const [plan] = await planNatsServers({
      regions: ['local'],
      topology: 'standalone',
      jetstream: options.jetstream ?? true,
      stateDir: dir,
    });
    plan.serverName = options.serverName ?? `nats-${plan.clientPort}`;
    plan.tags = options.tags ?? [];
    writeNatsConfigs([plan]);
    server = createNatsServer(plan);
    server.launch();
    await server.waitReady({ timeoutMs: options.readyTimeoutMs ?? DEFAULT_NATS_READY_TIMEOUT_MS, metaLeader: false });
  } catch (err) {
    unregister();
    await dispose();
    throw err;
  }
  return toPublic(server);
}

/** Views an internal server as its public handle (same object, so `pid` stays current). */
export function toPublic(server: NatsServerInternal): NatsServerHandle {
  return server;
}
