// `switchyard dev --regions a,b[,c]`: several regions on one machine. Per region a 3-server NATS
// cluster (joined to the others by gateways into one supercluster, servers tagged region:<r>), Redis,
// api, grpc-proxy (looking sessions up in the other regions, G15), invocation (status polls from any
// region, H9), the sample containers and a worker for each; one geodns for all (D1) on port 5353.
// Functions and the API key are created once, through the first region's API: control data is
// shared by the supercluster.
//
// Ports: the first region keeps the documented defaults (10081, 10086, 8088, 8080, 10087); region i
// (0-based) adds DEV_REGION_PORT_STEP * i to each. NATS and Redis take free ports.

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { natsServerBinary, redisPing, redisServerBinary } from '@switchyard/local-tools';
import { request } from 'undici';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';
import { type DevChild, describeExit } from './dev-children.ts';
import { type DevNatsServerPlan, renderDevNatsConfig } from './dev-nats-config.ts';
import { resolveDevPorts } from './dev-ports.ts';
import {
  childEnv,
  DEV_CALLBACK_ALLOW_LIST,
  DEV_SAMPLE_FUNCTIONS,
  DEV_SAMPLE_SPECS,
  type DevOptions,
  ensureSampleFunctions,
  isAlive,
  natsHealthy,
  REGION_TOKEN,
  type SampleName,
  Stack,
  shown,
  TIER_INFRA,
  TIER_SERVICES,
  TIER_WORKERS,
} from './dev-stack.ts';
import { type DevState, readDevState, writeDevState } from './dev-state.ts';
import { Entrypoints, node24Binary, requireEntrypoint } from './node-binary.ts';

/** Offset added to every documented port per region index (region 0 keeps the defaults). */
export const DEV_REGION_PORT_STEP = 100;
/** NATS servers per region in the multi-region dev stack. */
export const DEV_REGION_NATS_SIZE = 3;
/** Port of the dev geodns (UDP and TCP). */
export const DEV_GEODNS_PORT = 5353;
/** Zone the dev geodns answers for. */
export const DEV_GEODNS_DOMAIN = 'switchyard.local';

/** Locations geodns uses for the well-known dev region names (degrees); others sit at 0,0. */
export const DEV_REGION_LOCATIONS: Readonly<Record<string, { lat: number; lon: number }>> = {
  'us-east': { lat: 39.0, lon: -77.5 },
  'us-west': { lat: 45.6, lon: -121.2 },
  'eu-west': { lat: 53.3, lon: -6.3 },
  'eu-central': { lat: 50.1, lon: 8.7 },
  'ap-south': { lat: 19.1, lon: 72.9 },
  'ap-northeast': { lat: 35.7, lon: 139.7 },
};

/** Endpoints of one region, as dev.json lists them under `regions`. */
export interface DevRegionEndpoints {
  grpc: string;
  callback: string;
  api: string;
  http: string;
  httpCallback: string;
  nats: string[];
  redis: string;
  /** Address geodns answers for this region (127.0.0.<i+1>). */
  dnsAddress: string;
}

/** Options of {@link runDevRegions}: those of `switchyard dev`, with several regions. */
export interface DevRegionsOptions extends Omit<DevOptions, 'region'> {
  /** Region names (NATS tokens, unique, at least 2). */
  regions: string[];
}

interface RegionPorts {
  grpc: number;
  callback: number;
  api: number;
  http: number;
  httpCallback: number;
  redis: number;
}

/** `base + step * index`, or 0 (any free port) when `base` is 0. */
function offset(base: number, index: number): number {
  return base === 0 ? 0 : base + DEV_REGION_PORT_STEP * index;
}

async function natsReady(monitorPort: number, otherRegions: string[]): Promise<boolean> {
  if (!(await natsHealthy(monitorPort))) return false;
  const res = await request(`http://127.0.0.1:${monitorPort}/gatewayz`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
  const body = (await res.body.json()) as { outbound_gateways?: Record<string, unknown> };
  const outbound = Object.keys(body.outbound_gateways ?? {});
  return otherRegions.every((r) => outbound.includes(r));
}

/**
 * Resolves once every server names the same JetStream meta leader, twice in a row. Each region elects its own leader before the gateways join; the groups then
 * merge, and the leader changes a few times: a bucket created meanwhile fails, so services wait.
 * @throws CliError CLI_DEV_START after `timeoutMs`.
 */
async function waitMetaLeader(monitorPorts: number[], timeoutMs: number, signal: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let agreed = 0;
  let last = '';
  while (Date.now() < deadline && !signal.aborted) {
    const views = await Promise.all(
      monitorPorts.map(async (port) => {
        try {
          const res = await request(`http://127.0.0.1:${port}/jsz`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
          const body = (await res.body.json()) as { meta_cluster?: { leader?: string; cluster_size?: number } };
          return `${body.meta_cluster?.leader ?? ''}/${body.meta_cluster?.cluster_size ?? 0}`;
        } catch {
          return '';
        }
      }),
    );
    last = views.join(', ');
    // Same leader everywhere. cluster_size is not required to equal the server count: followers, and
    // after a restart with an old store even the leader, may report a stale size for a long time.
    const leaders = views.map((v) => v.split('/')[0]);
    const same = leaders[0] !== '' && leaders.every((l) => l === leaders[0]);
    agreed = same ? agreed + 1 : 0;
    if (agreed >= 2) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (signal.aborted) throw signal;
  throw new CliError(CliErrorCode.devStart, `the NATS supercluster did not agree on a JetStream meta leader: ${last}`);
}

/**
 * Runs the multi-region dev stack until SIGINT/SIGTERM (or a child exits unexpectedly).
 * @returns 0 after a requested stop, 1 when a child exited unexpectedly.
 * @throws CliError CLI_USAGE (bad or duplicate regions), CLI_PORT_IN_USE, CLI_MISSING, CLI_DEV_START
 *   (after stopping whatever had started).
 */
export async function runDevRegions(options: DevRegionsOptions, io: CliIo): Promise<number> {
  const startedMs = Date.now();
  const { regions } = options;
  const bad = regions.find((r) => !REGION_TOKEN.test(r));
  if (bad !== undefined || new Set(regions).size !== regions.length || regions.length < 2)
    throw new CliError(
      CliErrorCode.usage,
      `--regions must list 2 or more unique names of letters, digits, _ or -, got ${regions.join(',')}`,
    );
  const previous = readDevState(options.stateDir);
  const previousDevPid = previous?.pids.dev;
  if (previousDevPid !== undefined && previousDevPid !== process.pid && isAlive(previousDevPid))
    throw new CliError(
      CliErrorCode.devStart,
      `a dev stack is already running (pid ${previousDevPid}, ${options.stateDir})`,
    );

  const node = node24Binary();
  const entry = {
    api: requireEntrypoint(Entrypoints.api, 'services/api'),
    grpcProxy: requireEntrypoint(Entrypoints.grpcProxy, 'services/grpc-proxy'),
    invocation: requireEntrypoint(Entrypoints.invocation, 'services/invocation'),
    worker: requireEntrypoint(Entrypoints.worker, 'services/worker'),
    samples: requireEntrypoint(Entrypoints.sampleFunctions, 'packages/sample-functions'),
    geodns: requireEntrypoint(Entrypoints.geodns, 'services/geodns'),
  };
  let natsBinary: string;
  let redisBinary: string;
  try {
    natsBinary = natsServerBinary();
    redisBinary = redisServerBinary();
  } catch (err) {
    throw new CliError(CliErrorCode.missing, (err as Error).message, {
      hint: 'run `bash scripts/ensure-tools.sh` (what `npm start` does first)',
      cause: err,
    });
  }

  // Documented ports (offset per region), then free ports for NATS (4 per server) and Redis.
  const ports: RegionPorts[] = [];
  for (const [i, region] of regions.entries()) {
    const [grpc, callback, api, http, httpCallback, redis] = await resolveDevPorts([
      {
        what: `${region} gRPC proxy`,
        flag: '--grpc-port',
        envVar: 'SWITCHYARD_DEV_GRPC_PORT',
        port: offset(options.grpcPort, i),
      },
      {
        what: `${region} gRPC proxy callback`,
        flag: '--callback-port',
        envVar: 'SWITCHYARD_DEV_CALLBACK_PORT',
        port: offset(options.callbackPort, i),
      },
      {
        what: `${region} API`,
        flag: '--api-port',
        envVar: 'SWITCHYARD_DEV_API_PORT',
        port: offset(options.apiPort, i),
      },
      {
        what: `${region} HTTP`,
        flag: '--http-port',
        envVar: 'SWITCHYARD_DEV_HTTP_PORT',
        port: offset(options.httpPort, i),
      },
      {
        what: `${region} HTTP callback`,
        flag: '--http-callback-port',
        envVar: 'SWITCHYARD_DEV_HTTP_CALLBACK_PORT',
        port: offset(options.httpCallbackPort, i),
      },
      { what: `${region} Redis`, flag: '', envVar: '', port: 0 },
    ]);
    ports.push({ grpc, callback, api, http, httpCallback, redis });
  }
  const natsStoreRoot = join(options.stateDir, 'nats-regions');
  const natsFree = await resolveDevPorts(
    Array.from({ length: regions.length * DEV_REGION_NATS_SIZE * 4 }, () => ({
      what: 'NATS',
      flag: '',
      envVar: '',
      port: 0,
    })),
  );
  const natsPlans: DevNatsServerPlan[] = regions.flatMap((region, r) =>
    Array.from({ length: DEV_REGION_NATS_SIZE }, (_, s) => {
      const base = (r * DEV_REGION_NATS_SIZE + s) * 4;
      return {
        region,
        index: s + 1,
        clientPort: natsFree[base],
        monitorPort: natsFree[base + 1],
        routePort: natsFree[base + 2],
        gatewayPort: natsFree[base + 3],
        storeDir: join(natsStoreRoot, `${region}-${s + 1}`),
      };
    }),
  );

  const logDir = join(options.stateDir, 'logs');
  for (const dir of [options.stateDir, logDir, natsStoreRoot]) mkdirSync(dir, { recursive: true });
  const adminToken = previous?.adminToken ?? `dev_${randomBytes(24).toString('base64url')}`;
  const natsUrls = (region: string) =>
    natsPlans.filter((p) => p.region === region).map((p) => `nats://127.0.0.1:${p.clientPort}`);
  const endpoints: Record<string, DevRegionEndpoints> = Object.fromEntries(
    regions.map((region, i) => [
      region,
      {
        grpc: `127.0.0.1:${ports[i].grpc}`,
        callback: `http://127.0.0.1:${ports[i].callback}`,
        api: `http://127.0.0.1:${ports[i].api}`,
        http: `http://127.0.0.1:${ports[i].http}`,
        httpCallback: `http://127.0.0.1:${ports[i].httpCallback}`,
        nats: natsUrls(region),
        redis: `redis://127.0.0.1:${ports[i].redis}`,
        dnsAddress: `127.0.0.${i + 1}`,
      },
    ]),
  );

  const stack = new Stack(io, logDir);
  const interrupt = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopSignal !== undefined) return;
    stopSignal = signal;
    io.stderr(`\n${signal}: stopping the dev stack...\n`);
    interrupt.abort();
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  const waitAll = async (children: DevChild[]) => {
    const results = await Promise.allSettled(
      children.map((c) => c.waitReady(options.readyTimeoutMs, interrupt.signal)),
    );
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed === -1) return;
    if (interrupt.signal.aborted) throw interrupt.signal;
    const child = children[failed];
    throw new CliError(
      CliErrorCode.devStart,
      stack.failureReport(child, ((results[failed] as PromiseRejectedResult).reason as Error).message),
      { hint: `see ${shown(join(logDir, `${child.spec.name}.log`))}` },
    );
  };

  let state: DevState & { regions: Record<string, DevRegionEndpoints>; geodns: { dns: string; domain: string } };
  try {
    io.stderr(`starting Switchyard dev regions ${regions.join(', ')} (logs in ${shown(logDir)}/)...\n`);
    // 1. NATS supercluster and one Redis per region.
    const infra: DevChild[] = [];
    for (const plan of natsPlans) {
      mkdirSync(plan.storeDir, { recursive: true });
      const conf = join(natsStoreRoot, `${plan.region}-${plan.index}.conf`);
      writeFileSync(conf, renderDevNatsConfig(plan, natsPlans));
      const others = regions.filter((r) => r !== plan.region);
      infra.push(
        stack.start(TIER_INFRA, {
          name: `nats-${plan.region}-${plan.index}`,
          command: natsBinary,
          args: ['-c', conf],
          env: childEnv({}),
          ready: () => natsReady(plan.monitorPort, others),
        }),
      );
    }
    for (const [i, region] of regions.entries()) {
      const redisDir = join(options.stateDir, 'redis', region);
      mkdirSync(redisDir, { recursive: true });
      const port = ports[i].redis;
      infra.push(
        stack.start(TIER_INFRA, {
          name: `redis-${region}`,
          command: redisBinary,
          args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
          env: childEnv({}),
          ready: () => redisPing(port),
        }),
      );
    }
    await waitAll(infra);
    await waitMetaLeader(
      natsPlans.map((p) => p.monitorPort),
      options.readyTimeoutMs,
      interrupt.signal,
    );

    // 2. Per region: api, grpc-proxy, invocation, sample containers. The first region's API starts
    // alone: it creates the control buckets, so they live in the first (home) region and concurrent
    // creations from every region cannot race (docs/architecture.md, "Control data across regions").
    const samplesByRegion: Record<string, DevChild[]> = {};
    const services: DevChild[] = [];
    for (const [i, region] of regions.entries()) {
      const e = endpoints[region];
      const common = {
        SWITCHYARD_REGION: region,
        SWITCHYARD_NATS_SERVERS: e.nats.join(','),
        SWITCHYARD_METRICS_PORT: '0',
      };
      const api = stack.start(TIER_SERVICES, {
        name: `api-${region}`,
        command: node,
        args: [entry.api],
        env: childEnv({
          ...common,
          SWITCHYARD_HOST: '127.0.0.1',
          SWITCHYARD_PORT: String(ports[i].api),
          SWITCHYARD_ADMIN_TOKEN: adminToken,
        }),
        ready: 'ready-line',
      });
      if (i === 0) await waitAll([api]);
      else services.push(api);
      services.push(
        stack.start(TIER_SERVICES, {
          name: `grpc-proxy-${region}`,
          command: node,
          args: [entry.grpcProxy],
          env: childEnv({
            ...common,
            SWITCHYARD_HOST: '127.0.0.1',
            SWITCHYARD_PORT: String(ports[i].grpc),
            SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
            SWITCHYARD_CALLBACK_PORT: String(ports[i].callback),
            SWITCHYARD_CALLBACK_URI: e.callback,
            SWITCHYARD_REDIS_URL: e.redis,
            SWITCHYARD_REMOTE_REGIONS: regions.filter((r) => r !== region).join(','),
            SWITCHYARD_ADVERTISE_ADDRESSES: e.dnsAddress,
          }),
          ready: 'ready-line',
        }),
        stack.start(TIER_SERVICES, {
          name: `invocation-${region}`,
          command: node,
          args: [...SERVICE_NODE_OPTIONS.invocation, entry.invocation],
          env: childEnv({
            ...common,
            SWITCHYARD_HOST: '127.0.0.1',
            SWITCHYARD_PORT: String(ports[i].http),
            SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
            SWITCHYARD_CALLBACK_PORT: String(ports[i].httpCallback),
            SWITCHYARD_CALLBACK_URI: e.httpCallback,
            SWITCHYARD_REDIS_URL: e.redis,
            SWITCHYARD_REMOTE_REGIONS: regions.filter((r) => r !== region).join(','),
          }),
          ready: 'ready-line',
        }),
      );
      samplesByRegion[region] = DEV_SAMPLE_FUNCTIONS.map((name) =>
        stack.start(TIER_SERVICES, {
          name: `sample-${name}-${region}`,
          command: node,
          args: [
            entry.samples,
            DEV_SAMPLE_SPECS[name].sample,
            '--port',
            '0',
            '--host',
            '127.0.0.1',
            '--instance-id',
            `dev-${name}-${region}`,
          ],
          env: childEnv({}),
          ready: 'ready-line',
        }),
      );
      services.push(...samplesByRegion[region]);
    }
    await waitAll(services);

    // 3. Functions and key once (first region's API), then the workers of every region.
    const firstApi = endpoints[regions[0]].api;
    const ensured = await ensureSampleFunctions({ url: firstApi, adminToken }, previous);
    const workers: DevChild[] = [];
    const upstreamsByRegion: Record<string, Record<SampleName, string>> = {};
    for (const region of regions) {
      const upstreams = Object.fromEntries(
        DEV_SAMPLE_FUNCTIONS.map((name, s) => [
          name,
          `${DEV_SAMPLE_SPECS[name].kind === 'http' ? 'http' : 'grpc'}://127.0.0.1:${samplesByRegion[region][s].readyLine?.port}`,
        ]),
      ) as Record<SampleName, string>;
      upstreamsByRegion[region] = upstreams;
      for (const name of DEV_SAMPLE_FUNCTIONS)
        workers.push(
          stack.start(TIER_WORKERS, {
            name: `worker-${name}-${region}`,
            command: node,
            args: [...SERVICE_NODE_OPTIONS.worker, entry.worker],
            env: childEnv({
              SWITCHYARD_REGION: region,
              SWITCHYARD_NATS_SERVERS: endpoints[region].nats.join(','),
              SWITCHYARD_METRICS_PORT: '0',
              SWITCHYARD_WORKER_ID: `dev-${name}-${region}-${randomBytes(3).toString('hex')}`,
              SWITCHYARD_FUNCTION_ID: ensured.functions[name].functionId,
              SWITCHYARD_VERSION_ID: ensured.functions[name].versionId,
              SWITCHYARD_UPSTREAM: upstreams[name],
              SWITCHYARD_CONCURRENCY: String(options.workerConcurrency),
              // Loopback: every region's proxies, so a resume in another region can be dialled back (G15).
              SWITCHYARD_CALLBACK_ALLOW_LIST: DEV_CALLBACK_ALLOW_LIST.join(','),
            }),
            ready: 'ready-line',
          }),
        );
    }
    await waitAll(workers);

    // 4. One geodns for every region (D1): 127.0.0.<i+1> stands for region i.
    const geoRegions = Object.fromEntries(
      regions.map((region) => {
        const at = DEV_REGION_LOCATIONS[region] ?? { lat: 0, lon: 0 };
        const a = [endpoints[region].dnsAddress];
        return [region, { ...at, addresses: { grpc: a, http: a, api: a } }];
      }),
    );
    const unknown = regions.filter((r) => DEV_REGION_LOCATIONS[r] === undefined);
    if (unknown.length > 0) io.stderr(`note: no location known for ${unknown.join(', ')}; geodns places them at 0,0\n`);
    const geodns = stack.start(TIER_SERVICES, {
      name: 'geodns',
      command: node,
      args: [entry.geodns],
      env: childEnv({
        SWITCHYARD_NATS_SERVERS: endpoints[regions[0]].nats.join(','),
        SWITCHYARD_HOST: '127.0.0.1',
        SWITCHYARD_PORT: String(DEV_GEODNS_PORT),
        SWITCHYARD_DOMAIN: DEV_GEODNS_DOMAIN,
        SWITCHYARD_GEO_REGIONS: JSON.stringify(geoRegions),
        SWITCHYARD_DEFAULT_REGION: regions[0],
        SWITCHYARD_METRICS_PORT: '0',
      }),
      ready: 'ready-line',
    });
    await waitAll([geodns]);

    const first = endpoints[regions[0]];
    state = {
      region: regions[0],
      endpoints: {
        grpc: first.grpc,
        callback: first.callback,
        api: first.api,
        http: first.http,
        httpCallback: first.httpCallback,
        nats: first.nats,
        redis: first.redis,
      },
      regions: endpoints,
      geodns: { dns: `127.0.0.1:${DEV_GEODNS_PORT}`, domain: DEV_GEODNS_DOMAIN },
      adminToken,
      apiKey: ensured.apiKey,
      apiKeyId: ensured.apiKeyId,
      callbackAllowList: [...DEV_CALLBACK_ALLOW_LIST],
      functions: Object.fromEntries(
        DEV_SAMPLE_FUNCTIONS.map((name) => [
          name,
          { ...ensured.functions[name], upstream: upstreamsByRegion[regions[0]][name] },
        ]),
      ),
      pids: { dev: process.pid, ...Object.fromEntries(stack.children.map((c) => [c.spec.name, c.pid])) },
      startedAtMs: startedMs,
    };
    writeDevState(options.stateDir, state);
    io.stdout(summary(state, ((Date.now() - startedMs) / 1000).toFixed(1)));
  } catch (err) {
    await stack.stopAll();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (err === interrupt.signal || interrupt.signal.aborted) return 0;
    throw err;
  }

  const unexpected = new Promise<DevChild>((resolve) => {
    for (const child of stack.children)
      void child.exited.then(() => {
        if (!stack.stopping) resolve(child);
      });
  });
  const requested = new Promise<void>((resolve) =>
    interrupt.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const firstDone = await Promise.race([unexpected, requested]);
  let code = 0;
  if (firstDone !== undefined) {
    code = 1;
    stack.stopping = true;
    stack.printFailure(
      firstDone,
      `${firstDone.spec.name} exited unexpectedly (${describeExit(await firstDone.exited)}); stopping the dev stack`,
    );
  }
  await stack.stopAll();
  writeDevState(options.stateDir, { ...state, pids: {} });
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  io.stderr(`Switchyard dev regions ${regions.join(', ')} stopped\n`);
  return code;
}

function summary(
  state: DevState & { regions: Record<string, DevRegionEndpoints>; geodns: { dns: string; domain: string } },
  seconds: string,
): string {
  const echo = state.functions.echo;
  const lines = [''];
  for (const [region, e] of Object.entries(state.regions))
    lines.push(
      `  ${region.padEnd(12)} gRPC ${e.grpc}  HTTP ${e.http}  API ${e.api}  (DNS answer ${e.dnsAddress})`,
      `  ${''.padEnd(12)} NATS ${e.nats.join(', ')}  Redis ${e.redis}`,
    );
  const [a, b] = Object.keys(state.regions);
  lines.push(
    `  geodns       ${state.geodns.dns} (zone ${state.geodns.domain})`,
    '',
    `  echo         function-id ${echo.functionId}  version-id ${echo.versionId}`,
    `  API key      ${state.apiKey}`,
    '',
    '  Try it: start a session in one region, resume it in the other (G15):',
    `    dig @127.0.0.1 -p ${DEV_GEODNS_PORT} grpc.${state.geodns.domain} +subnet=81.2.69.0/24   # a European client`,
    `    grpcurl -plaintext -import-path packages/sample-functions/protos -proto echo.proto -v \\`,
    `      -H 'authorization: Bearer ${state.apiKey}' -H 'function-id: ${echo.functionId}' \\`,
    `      -d '{"payload":"aGVsbG8="}' ${state.regions[a].grpc} switchyard.echo.v1.Echo/Unary`,
    `    # then the same call to ${state.regions[b].grpc} with -H 'nvcf-reqid: <the nvcf-reqid above>'`,
    '',
    `Switchyard dev regions ${Object.keys(state.regions).join(', ')} are ready (${seconds}s). Ctrl-C stops them.`,
    '',
  );
  return lines.join('\n');
}
