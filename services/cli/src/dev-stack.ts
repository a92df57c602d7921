// `switchyard dev`: one local region as child processes (nats-server with JetStream, redis-server,
// api, grpc-proxy, the HTTP invocation service, the three sample containers and a worker for each),
// the sample functions and an API key created through the API, and `.switchyard/dev.json` describing
// it all. Ctrl-C stops it.

import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { SERVICE_NODE_OPTIONS } from '@switchyard/config';
import { natsServerBinary, redisPing, redisServerBinary } from '@switchyard/local-tools';
import { DefaultPorts } from '@switchyard/protocol';
import { request } from 'undici';
import { type ApiEndpoint, callApi } from './api-client.ts';
import { CliError, CliErrorCode } from './cli-error.ts';
import type { CliIo } from './cli-io.ts';
import { DevChild, type DevChildSpec, describeExit } from './dev-children.ts';
import { resolveDevPorts } from './dev-ports.ts';
import { type DevState, readDevState, writeDevState } from './dev-state.ts';
import { Entrypoints, node24Binary, requireEntrypoint } from './node-binary.ts';

/** Default time each child gets to print its ready line, ms. */
export const DEFAULT_DEV_READY_TIMEOUT_MS = 60_000;
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
/** Stop tiers: workers first (they end their sessions), NATS and Redis last. */
export const TIER_INFRA = 0;
export const TIER_SERVICES = 1;
export const TIER_WORKERS = 2;

/** `path` relative to the working directory when it is inside it, else absolute. */
export function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

export function childEnv(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  // The user's own SWITCHYARD_* settings (e.g. SWITCHYARD_PORT) must not leak into every child.
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('SWITCHYARD_') || key === 'SWITCHYARD_LOG_LEVEL') env[key] = value;
  return { ...env, ...extra };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function natsHealthy(monitorPort: number): Promise<boolean> {
  const res = await request(`http://127.0.0.1:${monitorPort}/healthz`, { headersTimeout: 1_000, bodyTimeout: 1_000 });
  await res.body.dump();
  return res.statusCode === 200;
}

/** The running stack: children in start order, stopped in reverse. */
export class Stack {
  readonly children: DevChild[] = [];
  readonly #io: CliIo;
  readonly #logDir: string;
  stopping = false;

  constructor(io: CliIo, logDir: string) {
    this.#io = io;
    this.#logDir = logDir;
  }

  readonly #tiers = new Map<DevChild, number>();

  /**
   * Starts a child in a stop tier: higher tiers stop first, all children of a tier together
   * (workers, then proxy/api/containers, then NATS and Redis).
   */
  start(tier: number, spec: Omit<DevChildSpec, 'logFile'>): DevChild {
    const child = new DevChild({ ...spec, logFile: join(this.#logDir, `${spec.name}.log`) });
    this.children.push(child);
    this.#tiers.set(child, tier);
    return child;
  }

  /** Stops every child, tier by tier from the highest; each child gets SIGTERM, then SIGKILL after 5 s. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    const tiers = [...new Set(this.#tiers.values())].sort((a, b) => b - a);
    for (const tier of tiers)
      await Promise.all(this.children.filter((c) => this.#tiers.get(c) === tier).map((c) => c.stop()));
  }

  failureReport(child: DevChild, headline: string): string {
    const tail = child.tail(20);
    const logFile = shown(child.spec.logFile);
    return [
      headline,
      ...(tail.length > 0 ? [`last lines of ${child.spec.name} (${logFile}):`, ...tail.map((l) => `  ${l}`)] : []),
    ].join('\n');
  }

  printFailure(child: DevChild, headline: string): void {
    this.#io.stderr(`${this.failureReport(child, headline)}\n`);
  }
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
  const dir = shown(stateDir);
  return [
    '',
    `  gRPC proxy   ${state.endpoints.grpc}   (worker callback ${state.endpoints.callback})`,
    `  API          ${state.endpoints.api}   (admin token in ${dir}/dev.json)`,
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
  const previousDevPid = previous?.pids.dev;
  if (previousDevPid !== undefined && previousDevPid !== process.pid && isAlive(previousDevPid))
    throw new CliError(
      CliErrorCode.devStart,
      `a dev stack is already running (pid ${previousDevPid}, ${options.stateDir})`,
      {
        hint: `stop it first (Ctrl-C in its terminal, or kill ${previousDevPid}), or use another --state-dir`,
      },
    );

  const node = node24Binary();
  const entry = {
    api: requireEntrypoint(Entrypoints.api, 'services/api'),
    grpcProxy: requireEntrypoint(Entrypoints.grpcProxy, 'services/grpc-proxy'),
    invocation: requireEntrypoint(Entrypoints.invocation, 'services/invocation'),
    worker: requireEntrypoint(Entrypoints.worker, 'services/worker'),
    samples: requireEntrypoint(Entrypoints.sampleFunctions, 'packages/sample-functions'),
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

  const [grpcPort, callbackPort, apiPort, httpPort, httpCallbackPort, natsPort, natsMonitorPort, redisPort] =
    await resolveDevPorts([
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
      { what: 'NATS', flag: '', envVar: '', port: 0 },
      { what: 'NATS monitoring', flag: '', envVar: '', port: 0 },
      { what: 'Redis', flag: '', envVar: '', port: 0 },
    ]);

  const logDir = join(options.stateDir, 'logs');
  const natsStore = join(options.stateDir, 'nats');
  const redisDir = join(options.stateDir, 'redis');
  for (const dir of [options.stateDir, logDir, natsStore, redisDir]) mkdirSync(dir, { recursive: true });
  const natsConf = join(options.stateDir, 'nats.conf');
  writeFileSync(
    natsConf,
    [
      `server_name: ${JSON.stringify(`switchyard-dev-${options.region}`)}`,
      `listen: "127.0.0.1:${natsPort}"`,
      `http: "127.0.0.1:${natsMonitorPort}"`,
      'logtime: true',
      `jetstream { store_dir: ${JSON.stringify(natsStore)} }`,
      '',
    ].join('\n'),
  );

  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const callbackUri = `http://127.0.0.1:${callbackPort}`;
  const httpCallbackUri = `http://127.0.0.1:${httpCallbackPort}`;
  const adminToken = previous?.adminToken ?? `dev_${randomBytes(24).toString('base64url')}`;
  const common = { SWITCHYARD_REGION: options.region, SWITCHYARD_NATS_SERVERS: natsUrl, SWITCHYARD_METRICS_PORT: '0' };

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

  let state: DevState;
  try {
    io.stderr(`starting Switchyard dev region '${options.region}' (logs in ${shown(logDir)}/)...\n`);
    const nats = stack.start(TIER_INFRA, {
      name: 'nats',
      command: natsBinary,
      args: ['-c', natsConf],
      env: childEnv({}),
      ready: () => natsHealthy(natsMonitorPort),
    });
    const redis = stack.start(TIER_INFRA, {
      name: 'redis',
      command: redisBinary,
      args: ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
      env: childEnv({}),
      ready: () => redisPing(redisPort),
    });
    await waitAll([nats, redis]);

    const api = stack.start(TIER_SERVICES, {
      name: 'api',
      command: node,
      args: [entry.api],
      env: childEnv({
        ...common,
        SWITCHYARD_HOST: '127.0.0.1',
        SWITCHYARD_PORT: String(apiPort),
        SWITCHYARD_ADMIN_TOKEN: adminToken,
      }),
      ready: 'ready-line',
    });
    const proxy = stack.start(TIER_SERVICES, {
      name: 'grpc-proxy',
      command: node,
      args: [entry.grpcProxy],
      env: childEnv({
        ...common,
        SWITCHYARD_HOST: '127.0.0.1',
        SWITCHYARD_PORT: String(grpcPort),
        SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
        SWITCHYARD_CALLBACK_PORT: String(callbackPort),
        SWITCHYARD_CALLBACK_URI: callbackUri,
        SWITCHYARD_REDIS_URL: redisUrl,
      }),
      ready: 'ready-line',
    });
    const invocation = stack.start(TIER_SERVICES, {
      name: 'invocation',
      command: node,
      args: [...SERVICE_NODE_OPTIONS.invocation, entry.invocation],
      env: childEnv({
        ...common,
        SWITCHYARD_HOST: '127.0.0.1',
        SWITCHYARD_PORT: String(httpPort),
        SWITCHYARD_CALLBACK_HOST: '127.0.0.1',
        SWITCHYARD_CALLBACK_PORT: String(httpCallbackPort),
        SWITCHYARD_CALLBACK_URI: httpCallbackUri,
        SWITCHYARD_REDIS_URL: redisUrl,
      }),
      ready: 'ready-line',
    });
    const samples = DEV_SAMPLE_FUNCTIONS.map((name) =>
      stack.start(TIER_SERVICES, {
        name: `sample-${name}`,
        command: node,
        args: [
          entry.samples,
          DEV_SAMPLE_SPECS[name].sample,
          '--port',
          '0',
          '--host',
          '127.0.0.1',
          '--instance-id',
          `dev-${name}`,
        ],
        env: childEnv({}),
        ready: 'ready-line',
      }),
    );
    await waitAll([api, proxy, invocation, ...samples]);

    const apiUrl = `http://127.0.0.1:${apiPort}`;
    const ensured = await ensureSampleFunctions({ url: apiUrl, adminToken }, previous);
    const upstreams = Object.fromEntries(
      DEV_SAMPLE_FUNCTIONS.map((name, i) => [
        name,
        `${DEV_SAMPLE_SPECS[name].kind === 'http' ? 'http' : 'grpc'}://127.0.0.1:${samples[i].readyLine?.port}`,
      ]),
    ) as Record<SampleName, string>;

    const workers = DEV_SAMPLE_FUNCTIONS.map((name) =>
      stack.start(TIER_WORKERS, {
        name: `worker-${name}`,
        command: node,
        args: [...SERVICE_NODE_OPTIONS.worker, entry.worker],
        env: childEnv({
          ...common,
          SWITCHYARD_WORKER_ID: `dev-${name}-${randomBytes(3).toString('hex')}`,
          SWITCHYARD_FUNCTION_ID: ensured.functions[name].functionId,
          SWITCHYARD_VERSION_ID: ensured.functions[name].versionId,
          SWITCHYARD_UPSTREAM: upstreams[name],
          SWITCHYARD_CONCURRENCY: String(options.workerConcurrency),
          SWITCHYARD_CALLBACK_ALLOW_LIST: DEV_CALLBACK_ALLOW_LIST.join(','),
        }),
        ready: 'ready-line',
      }),
    );
    await waitAll(workers);

    state = {
      region: options.region,
      endpoints: {
        grpc: `127.0.0.1:${grpcPort}`,
        callback: callbackUri,
        api: apiUrl,
        http: `http://127.0.0.1:${httpPort}`,
        httpCallback: httpCallbackUri,
        nats: [natsUrl],
        redis: redisUrl,
      },
      adminToken,
      apiKey: ensured.apiKey,
      apiKeyId: ensured.apiKeyId,
      callbackAllowList: [...DEV_CALLBACK_ALLOW_LIST],
      functions: Object.fromEntries(
        DEV_SAMPLE_FUNCTIONS.map((name) => [name, { ...ensured.functions[name], upstream: upstreams[name] }]),
      ),
      pids: { dev: process.pid, ...Object.fromEntries(stack.children.map((c) => [c.spec.name, c.pid])) },
      startedAtMs: startedMs,
    };
    writeDevState(options.stateDir, state);
    if (ensured.reused) io.stderr('reusing the sample functions and API key of the previous run\n');
    io.stdout(summary(state, options.stateDir, ((Date.now() - startedMs) / 1000).toFixed(1)));
  } catch (err) {
    await stack.stopAll();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    if (err === interrupt.signal || interrupt.signal.aborted) return 0;
    throw err;
  }

  // Supervise: a requested stop ends with 0; a child that exits on its own stops everything with 1.
  const unexpected = new Promise<DevChild>((resolve) => {
    for (const child of stack.children)
      void child.exited.then(() => {
        if (!stack.stopping) resolve(child);
      });
  });
  const requested = new Promise<void>((resolve) =>
    interrupt.signal.addEventListener('abort', () => resolve(), { once: true }),
  );
  const first = await Promise.race([unexpected, requested]);
  let code = 0;
  if (first instanceof DevChild) {
    code = 1;
    stack.stopping = true;
    stack.printFailure(
      first,
      `${first.spec.name} exited unexpectedly (${describeExit(await first.exited)}); stopping the dev stack`,
    );
  }
  await stack.stopAll();
  writeDevState(options.stateDir, { ...state, pids: {} });
  process.off('SIGINT', onSigint);
  process.off('SIGTERM', onSigterm);
  io.stderr(`Switchyard dev region '${options.region}' stopped\n`);
  return code;
}

/** Default listener ports of the dev stack (the documented ones). */
export const DEV_DEFAULT_PORTS = {
  grpc: DefaultPorts.grpcProxy,
  callback: DefaultPorts.grpcProxyCallback,
  api: DefaultPorts.api,
  http: DefaultPorts.invocation,
  httpCallback: DefaultPorts.invocationCallback,
} as const;
