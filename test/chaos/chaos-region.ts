// The region the chaos soak runs against (issue 11, item 7): real processes started by
// @switchyard/region-launcher: three nats-server nodes (R3 control buckets, session bucket and ticket
// stream, made before any service starts), Redis, two gRPC proxies, two invocation instances, the API,
// and three workers (two for a gRPC echo function, one for an HTTP function), each beside its own
// sample container. Every process can be SIGKILLed and restarted by name.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { ControlStore } from '@switchyard/control-store';
import { type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { SessionDirectory } from '@switchyard/session-directory';
import { TicketQueue } from '@switchyard/ticket-queue';

/** Region name of the chaos stack. */
export const CHAOS_REGION = 'chaos';

/** What the soak can kill: the kind of a process and its child name. */
export type ChaosTargetKind = 'nats' | 'grpc-proxy' | 'invocation' | 'worker' | 'redis';

/** A function of the stack. */
export interface ChaosFunction {
  functionId: string;
  versionId: string;
}

/** Worker child name -> the sample container instance it serves (the echo's `instance_id`). */
export const CHAOS_WORKERS = {
  'worker-echo-a': { sample: 'echo-a', fn: 'echo', scheme: 'grpc' },
  'worker-echo-b': { sample: 'echo-b', fn: 'echo', scheme: 'grpc' },
  'worker-http': { sample: 'http', fn: 'http', scheme: 'http' },
} as const;

/** The running chaos region. */
export class ChaosRegion {
  readonly launch: RegionsLaunch;
  readonly stateDir: string;
  readonly apiKey: string;
  readonly echo: ChaosFunction;
  readonly http: ChaosFunction;
  /** gRPC proxy client addresses (`127.0.0.1:port`), by child name. */
  readonly proxies: Record<string, string>;
  /** Invocation base URLs, by child name. */
  readonly invocations: Record<string, string>;

  private constructor(init: {
    launch: RegionsLaunch;
    stateDir: string;
    apiKey: string;
    echo: ChaosFunction;
    http: ChaosFunction;
    proxies: Record<string, string>;
    invocations: Record<string, string>;
  }) {
    this.launch = init.launch;
    this.stateDir = init.stateDir;
    this.apiKey = init.apiKey;
    this.echo = init.echo;
    this.http = init.http;
    this.proxies = init.proxies;
    this.invocations = init.invocations;
  }

  /**
   * Starts the region in `stateDir` (logs in `<stateDir>/logs`).
   * @throws LauncherError when a process does not start (the message names it with its last lines).
   */
  static async start(stateDir: string): Promise<ChaosRegion> {
    const adminToken = `chaos_${randomBytes(12).toString('hex')}`;
    const launch = await launchRegions({
      regions: [{ name: CHAOS_REGION }],
      stateDir,
      logDir: join(stateDir, 'logs'),
      natsServersPerRegion: 3,
      redis: true,
      services: ['api', 'grpc-proxy', 'invocation'],
      adminToken,
      samples: () => Object.values(CHAOS_WORKERS).map((w) => ({ name: w.sample, sample: w.fn, instanceId: w.sample })),
      // Three replicas of everything JetStream holds, so that one node down loses nothing.
      prepare: async (nats) => {
        const nc = await connect({ servers: nats.urls(CHAOS_REGION) });
        try {
          await (await ControlStore.open(nc, { replicas: 3 })).close();
          await SessionDirectory.open(nc, { region: CHAOS_REGION, replicas: 3 });
          await TicketQueue.open(nc, { region: CHAOS_REGION, replicas: 3 });
        } finally {
          await nc.close();
        }
      },
      serviceEnv: {
        api: { SWITCHYARD_NATS_REPLICAS: '3' },
        'grpc-proxy': { SWITCHYARD_NATS_REPLICAS: '3' },
        invocation: { SWITCHYARD_NATS_REPLICAS: '3' },
        worker: { SWITCHYARD_NATS_REPLICAS: '3' },
      },
    });
    try {
      const region = launch.regions[CHAOS_REGION];
      const proxy2 = await launch.startFrontEnd('grpc-proxy', CHAOS_REGION, 'grpc-proxy-2');
      const invocation2 = await launch.startFrontEnd('invocation', CHAOS_REGION, 'invocation-2');
      await launch.waitReady([proxy2.child, invocation2.child]);
      const api = async <T>(path: string, body: unknown): Promise<T> => {
        const res = await fetch(`${region.endpoints.api}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
        return (await res.json()) as T;
      };
      const echo = await api<ChaosFunction>('/v1/functions', { name: 'echo', kind: 'grpc' });
      const http = await api<ChaosFunction>('/v1/functions', { name: 'http', kind: 'http', inferenceUrl: '/echo' });
      const { key } = await api<{ key: string }>('/v1/keys', { functions: '*', description: 'chaos soak' });
      const fns = { echo, http };
      await launch.waitReady(
        Object.entries(CHAOS_WORKERS).map(([name, w]) =>
          launch.startWorker({
            region: CHAOS_REGION,
            name,
            functionId: fns[w.fn === 'echo' ? 'echo' : 'http'].functionId,
            versionId: fns[w.fn === 'echo' ? 'echo' : 'http'].versionId,
            upstream: `${w.scheme}://127.0.0.1:${region.samples[w.sample].port}`,
            concurrency: 32,
            callbackAllowList: ['http://127.0.0.1:'],
          }),
        ),
      );
      return new ChaosRegion({
        launch,
        stateDir,
        apiKey: key,
        echo,
        http,
        proxies: { 'grpc-proxy': region.endpoints.grpc, 'grpc-proxy-2': proxy2.client },
        invocations: { invocation: region.endpoints.http, 'invocation-2': invocation2.client },
      });
    } catch (err) {
      await launch.stop();
      throw err;
    }
  }

  /** The live child called `name` (a restarted child replaces the old one). */
  child(name: string): LaunchedChild {
    const child = this.launch.group.children.find((c) => c.name === name);
    if (child === undefined) throw new TypeError(`no child ${name}`);
    return child;
  }

  /** Child names of one kind. */
  names(kind: ChaosTargetKind): string[] {
    const all = this.launch.group.children.map((c) => c.name);
    switch (kind) {
      case 'nats':
        return all.filter((n) => n.startsWith('nats'));
      case 'redis':
        return all.filter((n) => n.startsWith('redis'));
      case 'worker':
        return Object.keys(CHAOS_WORKERS);
      default:
        return all.filter((n) => n === kind || n.startsWith(`${kind}-`));
    }
  }

  /**
   * Kills `name` (SIGKILL, or SIGTERM with `graceful`), waits for its exit, starts it again with the
   * same command, environment and ports, and waits until it is ready.
   */
  async restart(name: string, graceful = false): Promise<void> {
    const old = this.child(name);
    if (!graceful) old.kill('SIGKILL');
    const { child } = await this.launch.group.restart(old);
    await this.launch.waitReady([child]);
  }

  /** Resident set size (bytes) of every running service process, by child name. */
  rss(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const child of this.launch.group.children) {
      if (!child.running) continue;
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
        if (kib !== undefined) out[child.name] = Number(kib) * 1024;
      } catch {
        // exited between the check and the read
      }
    }
    return out;
  }

  /** Stops every process. */
  stop(): Promise<void> {
    return this.launch.stop();
  }
}
