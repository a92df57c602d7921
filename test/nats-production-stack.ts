// The production NATS files of infra/nats/production run for real: three nats-servers (us-east-1,
// us-east-2 routed together, eu-west-1 behind a gateway) with TLS on client, route and gateway ports,
// the accounts, permissions and users files as they are in the repository (symlinked), only ports,
// paths and nkeys given through the environment, plus this deployment's routes.conf, gateways.conf
// and the generated worker users added to users.conf as README.md says. Services run as processes
// from their main.ts, each with its own nkey seed, client certificate and inbox prefix.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nkeys } from '@nats-io/nats-core';
import { SERVICE_NODE_OPTIONS, type ServiceName } from '@switchyard/config';
import { renderWorkerNatsUser, workerInboxPrefix } from '@switchyard/nats-connect';
import {
  freePort,
  type NatsFileServerHandle,
  startNatsFromFile,
  type TestCertificates,
  waitFor,
  writeTestCertificates,
} from '@switchyard/testkit';

async function getMonitorJson(port: number, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return res.json();
}

const REPO = fileURLToPath(new URL('../', import.meta.url));
/** The files under test. */
export const PRODUCTION_DIR = join(REPO, 'infra/nats/production');
const STATIC_FILES = ['server.conf', 'accounts.conf', 'permissions.conf'] as const;
/** The line of users.conf below which generated worker users go (README.md, "Worker users"). */
const WORKER_USERS_MARKER = '# worker users (switchyard nats-user worker ...) go below this line';

/** Service roles with a static user in users.conf. */
export const ROLES = ['grpc-proxy', 'invocation', 'api', 'geodns'] as const;
export type Role = (typeof ROLES)[number];

/** A user's credentials as a service gets them. */
export interface NatsIdentity {
  /** Path of the nkey seed file (SWITCHYARD_NATS_NKEY_SEED). */
  seedFile: string;
  /** Public nkey (in the server's users.conf). */
  publicKey: string;
  /** SWITCHYARD_NATS_INBOX_PREFIX of this user. */
  inboxPrefix: string;
}

interface ServerPlan {
  name: string;
  region: string;
  client: number;
  monitor: number;
  route: number;
  gateway: number;
}

function identity(dir: string, name: string, inboxPrefix: string, seed?: string): NatsIdentity {
  const pair = seed === undefined ? nkeys.createUser() : nkeys.fromSeed(new TextEncoder().encode(seed));
  const seedFile = join(dir, `${name}.nk`);
  writeFileSync(seedFile, `${new TextDecoder().decode(pair.getSeed())}\n`, { mode: 0o600 });
  return { seedFile, publicKey: pair.getPublicKey(), inboxPrefix };
}

/** Three servers from the production files, with users per role and (see addWorkers) one worker user per version. */
export class ProductionNats {
  readonly dir: string;
  readonly certs: TestCertificates;
  readonly users: Record<Role, NatsIdentity>;
  readonly workers = new Map<string, NatsIdentity>();
  readonly servers: NatsFileServerHandle[] = [];
  #plans: ServerPlan[] = [];

  private constructor(dir: string, seeds: Partial<Record<Role, string>>) {
    this.dir = dir;
    this.certs = writeTestCertificates(dir, ['us-east-1', 'us-east-2', 'eu-west-1', 'client']);
    this.users = Object.fromEntries(ROLES.map((r) => [r, identity(dir, r, `_INBOX_${r}`, seeds[r])])) as Record<
      Role,
      NatsIdentity
    >;
  }

  /**
   * Generates keys and certificates, renders the per-deployment files and starts the three servers.
   * @param seeds nkey seeds (SU...) of some roles' users instead of generated ones (e.g. a chart's).
   */
  static async start(dir: string, seeds: Partial<Record<Role, string>> = {}): Promise<ProductionNats> {
    const nats = new ProductionNats(dir, seeds);
    const layout: [string, string][] = [
      ['us-east-1', 'us-east'],
      ['us-east-2', 'us-east'],
      ['eu-west-1', 'eu-west'],
    ];
    for (const [name, region] of layout)
      nats.#plans.push({
        name,
        region,
        client: await freePort(),
        monitor: await freePort(),
        route: await freePort(),
        gateway: await freePort(),
      });
    const sys = identity(dir, 'sys', '_INBOX');
    for (const plan of nats.#plans) {
      const serverDir = join(dir, plan.name);
      mkdirSync(join(serverDir, 'jetstream'), { recursive: true });
      for (const file of STATIC_FILES) symlinkSync(join(PRODUCTION_DIR, file), join(serverDir, file));
      const routes = nats.#plans
        .filter((p) => p.region === plan.region)
        .map((p) => `  nats-route://127.0.0.1:${p.route}`);
      writeFileSync(join(serverDir, 'routes.conf'), `routes: [\n${routes.join('\n')}\n]\n`);
      const gateways = ['us-east', 'eu-west'].map(
        (r) =>
          `  { name: "${r}", urls: [ ${nats.#plans
            .filter((p) => p.region === r)
            .map((p) => `"tls://127.0.0.1:${p.gateway}"`)
            .join(', ')} ] }`,
      );
      writeFileSync(join(serverDir, 'gateways.conf'), `gateways: [\n${gateways.join('\n')}\n]\n`);
    }
    const envOf = (plan: ServerPlan): Record<string, string> => {
      const leaf = nats.certs.leaves[plan.name];
      return {
        SERVER_NAME: plan.name,
        REGION: plan.region,
        REGION_TAG: `region:${plan.region}`,
        STORE_DIR: join(dir, plan.name, 'jetstream'),
        CLIENT_LISTEN: `127.0.0.1:${plan.client}`,
        MONITOR_LISTEN: `127.0.0.1:${plan.monitor}`,
        ROUTE_LISTEN: `127.0.0.1:${plan.route}`,
        GATEWAY_LISTEN: `127.0.0.1:${plan.gateway}`,
        TLS_CA: nats.certs.ca,
        TLS_CLIENT_CERT: leaf.cert,
        TLS_CLIENT_KEY: leaf.key,
        TLS_ROUTE_CERT: leaf.cert,
        TLS_ROUTE_KEY: leaf.key,
        TLS_GATEWAY_CERT: leaf.cert,
        TLS_GATEWAY_KEY: leaf.key,
        GRPC_PROXY_NKEY: nats.users['grpc-proxy'].publicKey,
        INVOCATION_NKEY: nats.users.invocation.publicKey,
        API_NKEY: nats.users.api.publicKey,
        GEODNS_NKEY: nats.users.geodns.publicKey,
        SYS_NKEY: sys.publicKey,
      };
    };
    nats.#writeUsers();
    const started = await Promise.all(
      nats.#plans.map((plan) =>
        startNatsFromFile({
          name: plan.name,
          configFile: join(dir, plan.name, 'server.conf'),
          env: envOf(plan),
          monitorPort: plan.monitor,
          healthQuery: '?js-enabled-only=true',
          readyTimeoutMs: 60_000,
        }),
      ),
    );
    nats.servers.push(...started);
    // One JetStream meta group over both regions: every server must know its leader, and the
    // gateways must be up both ways, before a bucket can be created.
    await waitFor(
      async () => {
        for (const plan of nats.#plans) {
          const jsz = (await getMonitorJson(plan.monitor, '/jsz')) as { meta_cluster?: { leader?: string } };
          if (!jsz.meta_cluster?.leader) return false;
          const gw = (await getMonitorJson(plan.monitor, '/gatewayz')) as { outbound_gateways?: object };
          if (Object.keys(gw.outbound_gateways ?? {}).length < 1) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 250, what: 'JetStream meta leader and gateways' },
    );
    return nats;
  }

  /** Each server's users.conf: the repository's, with a generated block per worker version below the marker. */
  #writeUsers(): void {
    let users = readFileSync(join(PRODUCTION_DIR, 'users.conf'), 'utf8');
    if (!users.includes(WORKER_USERS_MARKER))
      throw new Error(`users.conf lost its marker line: ${WORKER_USERS_MARKER}`);
    const blocks = [...this.workers].map(([versionId, id]) =>
      renderWorkerNatsUser({ versionId, regions: ['us-east', 'eu-west'], nkey: id.publicKey }),
    );
    users = users.replace(WORKER_USERS_MARKER, `${WORKER_USERS_MARKER}\n${blocks.join('')}`);
    for (const plan of this.#plans) writeFileSync(join(this.dir, plan.name, 'users.conf'), users);
  }

  /**
   * Adds a worker user per version (`switchyard nats-user worker`'s block) to every server's
   * users.conf and reloads the servers (SIGHUP), waiting until each says it reloaded.
   */
  async addWorkers(versionIds: readonly string[]): Promise<void> {
    for (const v of versionIds) this.workers.set(v, identity(this.dir, `worker-${v}`, workerInboxPrefix(v)));
    this.#writeUsers();
    const before = this.servers.map((s) => s.logLines('Reloaded server configuration').length);
    for (const s of this.servers) if (s.pid !== undefined) process.kill(s.pid, 'SIGHUP');
    await waitFor(() => this.servers.every((s, i) => s.logLines('Reloaded server configuration').length > before[i]), {
      timeoutMs: 20_000,
      what: 'config reload of every server',
    });
  }

  /** The generated user of a worker version (after {@link addWorkers}). */
  workerUser(versionId: string): NatsIdentity {
    const id = this.workers.get(versionId);
    if (id === undefined) throw new Error(`no worker user for version ${versionId}`);
    return id;
  }

  /** Seed file of a fresh nkey that is no user of the servers. */
  newSeed(name: string): string {
    return identity(this.dir, name, '_INBOX').seedFile;
  }

  /** `tls://127.0.0.1:<port>` client URLs of a region's servers. */
  urls(region: string): string[] {
    return this.#plans.filter((p) => p.region === region).map((p) => `tls://127.0.0.1:${p.client}`);
  }

  /** Monitoring URLs (`http://127.0.0.1:<port>`) of a region's servers: /connz, /varz, ... */
  monitorUrls(region: string): string[] {
    return this.#plans.filter((p) => p.region === region).map((p) => `http://127.0.0.1:${p.monitor}`);
  }

  /** SWITCHYARD_NATS_* of a service connecting to `region` as `id` over mutual TLS. */
  natsEnv(region: string, id: NatsIdentity): Record<string, string> {
    return {
      SWITCHYARD_NATS_SERVERS: this.urls(region).join(','),
      SWITCHYARD_NATS_NKEY_SEED: id.seedFile,
      SWITCHYARD_NATS_INBOX_PREFIX: id.inboxPrefix,
      SWITCHYARD_NATS_TLS_CA: this.certs.ca,
      SWITCHYARD_NATS_TLS_CERT: this.certs.leaves.client.cert,
      SWITCHYARD_NATS_TLS_KEY: this.certs.leaves.client.key,
    };
  }

  /** Every `Publish Violation - ...` / `Subscription Violation - ...` line the servers logged. */
  violations(): string[] {
    return this.servers.flatMap((s) => s.logLines('Violation - '));
  }

  /** Stops the servers. */
  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** One service run from its `src/main.ts` as a child process, every output line kept. */
export class ServiceProcess {
  readonly name: string;
  readonly lines: string[] = [];
  readyLine: Record<string, unknown> | undefined;
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;

  constructor(name: string, service: ServiceName, env: Record<string, string>) {
    this.name = name;
    const main = join(REPO, 'services', service, 'src/main.ts');
    this.#child = spawn(process.execPath, [...SERVICE_NODE_OPTIONS[service], main], {
      env: { PATH: process.env.PATH ?? '', SWITCHYARD_METRICS_PORT: '0', SWITCHYARD_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    const onData = (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        if (this.readyLine === undefined && line.startsWith('{"ready":true')) this.readyLine = JSON.parse(line);
      }
    };
    this.#child.stdout?.on('data', onData);
    this.#child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => this.#child.once('exit', (code) => resolve(code)));
    live.add(this.#child);
    this.#child.once('exit', () => live.delete(this.#child));
  }

  /** Resolves with the ready line; rejects with the output when the process exits or times out first. */
  async ready(timeoutMs = 60_000): Promise<Record<string, unknown>> {
    let code: number | null | undefined;
    void this.exited.then((c) => {
      code = c;
    });
    await waitFor(
      () => {
        if (code !== undefined) throw new Error(`${this.name} exited ${code}:\n${this.lines.slice(-30).join('\n')}`);
        return this.readyLine !== undefined;
      },
      { timeoutMs, intervalMs: 50, what: `${this.name} ready\n${this.lines.slice(-30).join('\n')}` },
    ).catch((err) => {
      throw new Error(`${this.name} did not start:\n${this.lines.slice(-30).join('\n')}`, { cause: err });
    });
    return this.readyLine as Record<string, unknown>;
  }

  /** Waits for an output line matching `pattern`. */
  async line(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    let found: string | undefined;
    await waitFor(
      () => {
        found = this.lines.find((l) => pattern.test(l));
        return found !== undefined;
      },
      { timeoutMs, intervalMs: 50, what: `${this.name}: a line matching ${pattern}` },
    ).catch((err) => {
      throw new Error(`${this.name}: no line matching ${pattern}:\n${this.lines.slice(-30).join('\n')}`, {
        cause: err,
      });
    });
    return found as string;
  }

  /** SIGTERM, SIGKILL after 10 s; resolves with the exit code. */
  async stop(): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      const code = await this.exited;
      clearTimeout(timer);
      return code;
    }
    return this.exited;
  }
}
