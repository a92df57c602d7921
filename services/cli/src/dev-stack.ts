// `switchyard dev`: one local region as child processes (nats-server with JetStream, redis-server,
// api, grpc-proxy, the HTTP invocation service, the three sample containers and a worker for each),
// the sample functions and an API key created through the API, and `.switchyard/dev.json` describing
// it all. Ctrl-C stops it.

import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DefaultPorts } from '@switchyard/protocol';
import {
  DEFAULT_LAUNCH_READY_TIMEOUT_MS,
  launchRegions,
  metricsUrls,
  type RegionsLaunch,
  type SampleSpec,
  shownPath,
} from '@switchyard/region-launcher';
import { type ApiEndpoint, callApi } from './api-client.ts';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';
import { resolveDevPorts } from './dev-ports.ts';
import { DevSession, refuseSecondStack, requireDevTools } from './dev-session.ts';
import { type DevState, readDevState, statusPageUrl, writeDevState } from './dev-state.ts';

/** Default time each child gets to print its ready line, ms. */
export const DEFAULT_DEV_READY_TIMEOUT_MS = DEFAULT_LAUNCH_READY_TIMEOUT_MS;
/** URI prefixes dev workers may dial (W4). */
export const DEV_CALLBACK_ALLOW_LIST = ['http://127.0.0.1:'] as const;
/** Sample functions the dev stack runs, each with one worker. */
export const DEV_SAMPLE_FUNCTIONS = ['echo', 'inference', 'http-echo'] as const;

/**
 * How each sample is created and run: its function kind, the sample-functions kind of its container
 * (`main.ts <sample>`), and for HTTP functions the inference URL the pexec route calls (H2).
 */
export const DEV_SAMPLE_SPECS = {
  echo: { kind: 'grpc', sample: 'echo' },
  inference: { kind: 'grpc', sample: 'inference' },
  'http-echo': { kind: 'http', sample: 'http', inferenceUrl: '/echo' },
} as const satisfies Record<string, { kind: 'grpc' | 'http'; sample: string; inferenceUrl?: string }>;

/** Options of {@link runDev}. */
export interface DevOptions {
  /** Region name (a NATS token). @default 'local' */
  region: string;
  /** State directory (absolute): NATS store, logs, dev.json. */
  stateDir: string;
  /** gRPC proxy client port; 0 = any free port. @default 10081 */
  grpcPort: number;
  /** gRPC proxy callback (tunnel) port; 0 = any free port. @default 10086 */
  callbackPort: number;
  /** Operator API port; 0 = any free port. @default 8088 */
  apiPort: number;
  /** HTTP invocation service port; 0 = any free port. @default 8080 */
  httpPort: number;
  /** HTTP invocation callback (tunnel) port; 0 = any free port. @default 10087 */
  httpCallbackPort: number;
  /** Time each child gets to become ready, ms. @default 60_000 */
  readyTimeoutMs: number;
  /** Worker concurrency (sessions per worker). @default 8 */
  workerConcurrency: number;
}

export type SampleName = (typeof DEV_SAMPLE_FUNCTIONS)[number];

export const REGION_TOKEN = /^[A-Za-z0-9_-]+$/;

/** The sample containers of a dev region (child `sample-<name>`, instance `dev-<name>[-<region>]`). */
export function devSamples(region?: string): SampleSpec[] {
  return DEV_SAMPLE_FUNCTIONS.map((name) => ({
    name: `sample-${name}`,
    sample: DEV_SAMPLE_SPECS[name].sample,
    instanceId: region === undefined ? `dev-${name}` : `dev-${name}-${region}`,
  }));
}

/** The sample containers' upstream URLs of a launched region, by sample name. */
export function devUpstreams(launch: RegionsLaunch, region: string): Record<SampleName, string> {
  return Object.fromEntries(
    DEV_SAMPLE_FUNCTIONS.map((name) => [
      name,
      `${DEV_SAMPLE_SPECS[name].kind === 'http' ? 'http' : 'grpc'}://127.0.0.1:${launch.regions[region].samples[`sample-${name}`].port}`,
    ]),
  ) as Record<SampleName, string>;
}

/**
 * Makes sure the sample functions and an all-functions API key exist, reusing those of `previous`
 * (dev.json of an earlier run on the same NATS store) when they still do.
 */
export async function ensureSampleFunctions(
  api: ApiEndpoint,
  previous: DevState | undefined,
): Promise<{
  functions: Record<SampleName, { functionId: string; versionId: string }>;
  apiKey: string;
  apiKeyId: string;
  reused: boolean;
}> {
  const functions = {} as Record<SampleName, { functionId: string; versionId: string }>;
  let reused = true;
  for (const name of DEV_SAMPLE_FUNCTIONS) {
    const before = previous?.functions[name];
    if (before !== undefined) {
      try {
        const { body } = await callApi<{ versions: { versionId: string; status: string }[] }>(
          api,
          'GET',
          `/v1/functions/${before.functionId}`,
        );
        if (body.versions.some((v) => v.versionId === before.versionId && v.status === 'deployed')) {
          functions[name] = { functionId: before.functionId, versionId: before.versionId };
          continue;
        }
      } catch (err) {
        if (!(err instanceof CliError && err.code === CliErrorCode.api)) throw err;
      }
    }
    reused = false;
    const spec: { kind: string; inferenceUrl?: string } = DEV_SAMPLE_SPECS[name];
    const { body } = await callApi<{ functionId: string; versionId: string }>(api, 'POST', '/v1/functions', {
      name,
      kind: spec.kind,
      ...(spec.inferenceUrl !== undefined ? { inferenceUrl: spec.inferenceUrl } : {}),
    });
    functions[name] = { functionId: body.functionId, versionId: body.versionId };
  }
  if (previous !== undefined) {
    const { body } = await callApi<{ keys: { keyId: string; revokedAtMs?: number; functions: unknown }[] }>(
      api,
      'GET',
      '/v1/keys',
    );
    const key = body.keys.find((k) => k.keyId === previous.apiKeyId);
    if (key !== undefined && key.revokedAtMs === undefined && key.functions === '*')
      return { functions, apiKey: previous.apiKey, apiKeyId: previous.apiKeyId, reused };
  }
  const { body } = await callApi<{ keyId: string; key: string }>(api, 'POST', '/v1/keys', {
    functions: '*',
    description: 'switchyard dev',
  });
  return { functions, apiKey: body.key, apiKeyId: body.keyId, reused: false };
}

function summary(state: DevState, stateDir: string, seconds: string): string {
  const echo = state.functions.echo;
  const inference = state.functions.inference;
  const httpEcho = state.functions['http-echo'];
  const httpHost = (state.endpoints.http ?? '').replace(/^https?:\/\//, '');
  const [host, port] = state.endpoints.grpc.split(':');
  const dir = shownPath(stateDir);
  return [
    '',
    `  gRPC proxy   ${state.endpoints.grpc}   (worker callback ${state.endpoints.callback})`,
    `  API          ${state.endpoints.api}   (admin token in ${dir}/dev.json)`,
    `  Status page  ${state.endpoints.status}   (sign in with the admin token; or \`switchyard status\`)`,
    `  HTTP         ${state.endpoints.http}   (worker callback ${state.endpoints.httpCallback})`,
    `  NATS         ${state.endpoints.nats.join(', ')}`,
    `  Redis        ${state.endpoints.redis}`,
    `  logs         ${dir}/logs/`,
    '',
    `  echo         function-id ${echo.functionId}  version-id ${echo.versionId}`,
    `  inference    function-id ${inference.functionId}  version-id ${inference.versionId}`,
    `  http-echo    function-id ${httpEcho.functionId}  version-id ${httpEcho.versionId}`,
    `  API key      ${state.apiKey}`,
    '',
    '  Try it:',
    `    grpcurl -plaintext -import-path packages/sample-functions/protos -proto echo.proto \\`,
    `      -H 'authorization: Bearer ${state.apiKey}' -H 'function-id: ${echo.functionId}' \\`,
    `      -d '{"payload":"aGVsbG8="}' ${state.endpoints.grpc} switchyard.echo.v1.Echo/Unary`,
    '    test/python/gen.sh /tmp/kserve   # KServe v2 stubs (Debian: apt-get install python3-grpcio python3-grpc-tools)',
    `    KSERVE_GEN_DIR=/tmp/kserve GRPC_GATEWAY_ADDR=${host} GRPC_GATEWAY_PORT=${port} FUNCTION_ID=${inference.functionId} \\`,
    `      FUNCTION_VERSION_ID=${inference.versionId} API_KEY=${state.apiKey} /usr/bin/python3 test/python/kserve_client.py`,
    `    curl -X POST ${state.endpoints.http}/echo -H 'Host: ${httpEcho.functionId}.invocation.${httpHost}' \\`,
    `      -H 'Authorization: Bearer ${state.apiKey}' -H 'Content-Type: application/json' -d '{"message": "hello"}'`,
    '    switchyard functions list',
    '',
    `Switchyard dev region '${state.region}' is ready (${seconds}s). Ctrl-C stops it.`,
    '',
  ].join('\n');
}

/**
 * Runs the dev stack until SIGINT/SIGTERM (or a child exits unexpectedly).
 * @returns the exit code: 0 after a requested stop, 1 when a child exited unexpectedly.
 * @throws CliError CLI_USAGE (bad region), CLI_PORT_IN_USE, CLI_MISSING (binaries, entry files),
 *   CLI_DEV_START (a child did not start: the message names it with its last output lines), after
 *   stopping whatever had started.
 */
export async function runDev(options: DevOptions, io: CliIo): Promise<number> {
  const startedMs = Date.now();
  if (!REGION_TOKEN.test(options.region))
    throw new CliError(
      CliErrorCode.usage,
      `--region must be letters, digits, _ or -, got ${JSON.stringify(options.region)}`,
    );
  const previous = readDevState(options.stateDir);
  refuseSecondStack(
    previous,
    options.stateDir,
    `stop it first (Ctrl-C in its terminal, or kill ${previous?.pids.dev}), or use another --state-dir`,
  );
  requireDevTools(false);

  const [grpc, callback, api, http, httpCallback] = await resolveDevPorts([
    { what: 'gRPC proxy', flag: '--grpc-port', envVar: 'SWITCHYARD_DEV_GRPC_PORT', port: options.grpcPort },
    {
      what: 'gRPC proxy callback',
      flag: '--callback-port',
      envVar: 'SWITCHYARD_DEV_CALLBACK_PORT',
      port: options.callbackPort,
    },
    { what: 'API', flag: '--api-port', envVar: 'SWITCHYARD_DEV_API_PORT', port: options.apiPort },
    { what: 'HTTP invocation', flag: '--http-port', envVar: 'SWITCHYARD_DEV_HTTP_PORT', port: options.httpPort },
    {
      what: 'HTTP invocation callback',
      flag: '--http-callback-port',
      envVar: 'SWITCHYARD_DEV_HTTP_CALLBACK_PORT',
      port: options.httpCallbackPort,
    },
  ]);
  const logDir = join(options.stateDir, 'logs');
  mkdirSync(options.stateDir, { recursive: true });
  const adminToken = previous?.adminToken ?? `dev_${randomBytes(24).toString('base64url')}`;

  const session = new DevSession(io);
  let launch: RegionsLaunch | undefined;
  let state: DevState;
  try {
    io.stderr(`starting Switchyard dev region '${options.region}' (logs in ${shownPath(logDir)}/)...\n`);
    launch = await launchRegions({
      regions: [{ name: options.region, ports: { grpc, callback, api, http, httpCallback } }],
      stateDir: options.stateDir,
      logDir,
      redis: true,
      services: ['api', 'grpc-proxy', 'invocation'],
      adminToken,
      samples: () => devSamples(),
      readyTimeoutMs: options.readyTimeoutMs,
      signal: session.signal,
    });
    const region = launch.regions[options.region];
    const ensured = await ensureSampleFunctions({ url: region.endpoints.api, adminToken }, previous);
    const upstreams = devUpstreams(launch, options.region);
    const started = launch;
    const workers = DEV_SAMPLE_FUNCTIONS.map((name) =>
      started.startWorker({
        region: options.region,
        name: `worker-${name}`,
        workerId: `dev-${name}-${randomBytes(3).toString('hex')}`,
        functionId: ensured.functions[name].functionId,
        versionId: ensured.functions[name].versionId,
        upstream: upstreams[name],
        concurrency: options.workerConcurrency,
        callbackAllowList: DEV_CALLBACK_ALLOW_LIST,
      }),
    );
    await launch.waitReady(workers);

    const e = region.endpoints;
    state = {
      region: options.region,
      endpoints: {
        grpc: e.grpc,
        callback: e.callback,
        api: e.api,
        http: e.http,
        httpCallback: e.httpCallback,
        nats: e.nats,
        redis: e.redis ?? '',
        status: statusPageUrl(e.api),
      },
      metrics: {
        [options.region]: metricsUrls({
          ...region.services,
          ...Object.fromEntries(DEV_SAMPLE_FUNCTIONS.map((name, i) => [`worker-${name}`, workers[i]])),
        }),
      },
      adminToken,
      apiKey: ensured.apiKey,
      apiKeyId: ensured.apiKeyId,
      callbackAllowList: [...DEV_CALLBACK_ALLOW_LIST],
      functions: Object.fromEntries(
        DEV_SAMPLE_FUNCTIONS.map((name) => [name, { ...ensured.functions[name], upstream: upstreams[name] }]),
      ),
      pids: { dev: process.pid, ...Object.fromEntries(launch.group.children.map((c) => [c.spec.name, c.pid])) },
      startedAtMs: startedMs,
    };
    writeDevState(options.stateDir, state);
    if (ensured.reused) io.stderr('reusing the sample functions and API key of the previous run\n');
    io.stdout(summary(state, options.stateDir, ((Date.now() - startedMs) / 1000).toFixed(1)));
  } catch (err) {
    return session.failed(launch, err);
  }
  return session.supervise(launch, options.stateDir, state, `Switchyard dev region '${options.region}' stopped\n`);
}

/** Default listener ports of the dev stack (the documented ones). */
export const DEV_DEFAULT_PORTS = {
  grpc: DefaultPorts.grpcProxy,
  callback: DefaultPorts.grpcProxyCallback,
  api: DefaultPorts.api,
  http: DefaultPorts.invocation,
  httpCallback: DefaultPorts.invocationCallback,
} as const;
