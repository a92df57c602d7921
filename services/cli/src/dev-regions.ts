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
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  launchRegions,
  metricsUrls,
  type RegionEndpoints,
  type RegionsLaunch,
  shownPath,
} from '@switchyard/region-launcher';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';
import { resolveDevPorts } from './dev-ports.ts';
import { DevSession, refuseSecondStack, requireDevTools } from './dev-session.ts';
import {
  DEV_CALLBACK_ALLOW_LIST,
  DEV_SAMPLE_FUNCTIONS,
  type DevOptions,
  devSamples,
  devUpstreams,
  ensureSampleFunctions,
  REGION_TOKEN,
  type SampleName,
} from './dev-stack.ts';
import { type DevState, readDevState, statusPageUrl, writeDevState } from './dev-state.ts';

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

/** Endpoints of one region, as dev.json lists them under `regions` (Redis and the DNS address always set). */
export type DevRegionEndpoints = Omit<RegionEndpoints, 'redis' | 'dnsAddress'> & {
  redis: string;
  /** Address geodns answers for this region (127.0.0.<i+1>). */
  dnsAddress: string;
};

/** Options of {@link runDevRegions}: those of `switchyard dev`, with several regions. */
export interface DevRegionsOptions extends Omit<DevOptions, 'region'> {
  /** Region names (NATS tokens, unique, at least 2). */
  regions: string[];
}

/** `base + step * index`, or 0 (any free port) when `base` is 0. */
function offset(base: number, index: number): number {
  return base === 0 ? 0 : base + DEV_REGION_PORT_STEP * index;
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
  refuseSecondStack(previous, options.stateDir);
  requireDevTools(true);

  // Documented ports, offset per region; NATS and Redis take free ports (the launcher picks them).
  const specs = [];
  for (const [i, region] of regions.entries()) {
    const [grpc, callback, api, http, httpCallback] = await resolveDevPorts([
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
    ]);
    specs.push({ name: region, ports: { grpc, callback, api, http, httpCallback } });
  }
  const logDir = join(options.stateDir, 'logs');
  mkdirSync(options.stateDir, { recursive: true });
  const adminToken = previous?.adminToken ?? `dev_${randomBytes(24).toString('base64url')}`;

  const session = new DevSession(io);
  let launch: RegionsLaunch | undefined;
  let state: DevState & { regions: Record<string, DevRegionEndpoints>; geodns: { dns: string; domain: string } };
  try {
    io.stderr(`starting Switchyard dev regions ${regions.join(', ')} (logs in ${shownPath(logDir)}/)...\n`);
    // 1-2. The NATS supercluster, a Redis per region, then per region api, grpc-proxy, invocation and
    // the sample containers (the first region's API alone first: the control buckets live there).
    launch = await launchRegions({
      regions: specs,
      stateDir: options.stateDir,
      logDir,
      natsServersPerRegion: DEV_REGION_NATS_SIZE,
      redis: true,
      services: ['api', 'grpc-proxy', 'invocation'],
      adminToken,
      dnsAddresses: true,
      samples: (region) => devSamples(region),
      readyTimeoutMs: options.readyTimeoutMs,
      signal: session.signal,
    });
    const started = launch;
    const endpoints: Record<string, DevRegionEndpoints> = Object.fromEntries(
      regions.map((region) => {
        const e = started.regions[region].endpoints;
        return [region, { ...e, redis: e.redis ?? '', dnsAddress: e.dnsAddress ?? '' }];
      }),
    );

    // 3. Functions and key once (first region's API), then the workers of every region.
    const ensured = await ensureSampleFunctions({ url: endpoints[regions[0]].api, adminToken }, previous);
    const upstreamsByRegion: Record<string, Record<SampleName, string>> = {};
    const workers = regions.flatMap((region) => {
      upstreamsByRegion[region] = devUpstreams(started, region);
      return DEV_SAMPLE_FUNCTIONS.map((name) =>
        started.startWorker({
          region,
          name: `worker-${name}`,
          workerId: `dev-${name}-${region}-${randomBytes(3).toString('hex')}`,
          functionId: ensured.functions[name].functionId,
          versionId: ensured.functions[name].versionId,
          upstream: upstreamsByRegion[region][name],
          concurrency: options.workerConcurrency,
          // Loopback: every region's proxies, so a resume in another region can be dialled back (G15).
          callbackAllowList: DEV_CALLBACK_ALLOW_LIST,
        }),
      );
    });
    await launch.waitReady(workers);

    // 4. One geodns for every region (D1): 127.0.0.<i+1> stands for region i.
    const unknown = regions.filter((r) => DEV_REGION_LOCATIONS[r] === undefined);
    if (unknown.length > 0) io.stderr(`note: no location known for ${unknown.join(', ')}; geodns places them at 0,0\n`);
    const geodns = launch.startGeodns({
      port: DEV_GEODNS_PORT,
      domain: DEV_GEODNS_DOMAIN,
      locations: DEV_REGION_LOCATIONS,
    });
    // Ready means geodns answers for every region: it has seen each region's heartbeats (its ready
    // line, or a later `healthy regions changed` line, lists them), else its first answers would send
    // clients to the regions it has heard from so far.
    const hearsAll = (line: Record<string, unknown> | undefined) =>
      Array.isArray(line?.healthyRegions) && regions.every((r) => (line.healthyRegions as unknown[]).includes(r));
    const heard = geodns.nextJson(hearsAll, options.readyTimeoutMs, { stderr: true }).then(
      () => undefined,
      (err: Error) => err,
    );
    await launch.waitReady([geodns]);
    if (!hearsAll(geodns.readyLine)) {
      const err = await heard;
      if (err !== undefined)
        throw new CliError(
          CliErrorCode.devStart,
          `geodns did not see every region healthy within ${options.readyTimeoutMs} ms: ${err.message}`,
          { hint: "each region is healthy once its gRPC proxy beats its heartbeat on NATS; see the proxies' logs" },
        );
    }

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
        status: statusPageUrl(first.api),
      },
      regions: endpoints,
      metrics: {
        ...Object.fromEntries(
          regions.map((region) => [
            region,
            metricsUrls({
              ...started.regions[region].services,
              ...Object.fromEntries(
                workers
                  .filter((w) => w.spec.name.endsWith(`-${region}`))
                  .map((w) => [w.spec.name.slice(0, -region.length - 1), w]),
              ),
            }),
          ]),
        ),
        global: metricsUrls({ geodns }),
      },
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
      pids: { dev: process.pid, ...Object.fromEntries(launch.group.children.map((c) => [c.spec.name, c.pid])) },
      startedAtMs: startedMs,
    };
    writeDevState(options.stateDir, state);
    io.stdout(summary(state, ((Date.now() - startedMs) / 1000).toFixed(1)));
  } catch (err) {
    return session.failed(launch, err);
  }
  return session.supervise(launch, options.stateDir, state, `Switchyard dev regions ${regions.join(', ')} stopped\n`);
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
    `  status page  ${state.endpoints.status}   (every region; sign in with the admin token; or \`switchyard status\`)`,
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
