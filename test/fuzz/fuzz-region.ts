// The region the black-box fuzz runs and the malformed-frame set run against: NATS, Redis, the API,
// a gRPC proxy, an invocation service, an echo gRPC container and an HTTP container, and a worker for
// each, all separate processes (packages/region-launcher). Listener timeouts are shortened so that
// every silent or trickling connection is closed well within the 5 s the fuzz oracle allows.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LaunchedChild, launchRegions, type RegionsLaunch } from '@switchyard/region-launcher';
import { echoClient, unary } from '../../services/worker/test/helpers.ts';

const REGION = 'fz';
/** SWITCHYARD_MAX_HEADER_LIST_BYTES of the front ends in the fuzz region (the cases go near and over it). */
export const FUZZ_MAX_HEADER_LIST_BYTES = 16_384;
/** SWITCHYARD_FIRST_BYTE_TIMEOUT_MS / _HEADERS_TIMEOUT_MS of the front ends (well under the oracle's 5 s). */
const FIRST_BYTE_TIMEOUT_MS = 2_000;
const HEADERS_TIMEOUT_MS = 3_000;

/** Ports of the listeners under test. */
export interface FuzzPorts {
  /** gRPC proxy client listener (G). */
  grpc: number;
  /** gRPC proxy callback listener (W1). */
  grpcCallback: number;
  /** Invocation client listener (H). */
  http: number;
  /** Invocation callback listener (W1). */
  httpCallback: number;
  /** Operator API. */
  api: number;
}

/** A listener name of {@link FuzzPorts}. */
export type FuzzListener = keyof FuzzPorts;

/** A function of the fuzz region. */
export interface FuzzFunction {
  functionId: string;
  versionId: string;
}

/** The running fuzz region. */
export interface FuzzRegion {
  ports: FuzzPorts;
  apiKey: string;
  adminToken: string;
  /** gRPC echo function (reconnect window 1 s, so fuzzed sessions free their unit soon). */
  echo: FuzzFunction;
  /** HTTP echo function (inference URL /echo). */
  httpEcho: FuzzFunction;
  /**
   * True when the API closes a connection with a partial request head within 5 s (its listener has
   * a headers timeout). Main's API has none yet (node's default check runs every 30 s); the bounds
   * work gives it SWITCHYARD_HEADERS_TIMEOUT_MS. Until then the oracle reports such cases apart.
   */
  apiHeadersBounded: boolean;
  /** Every child process (NATS, Redis, services, containers, workers). */
  children: () => LaunchedChild[];
  /**
   * Problems found now: a child that exited or whose PID is gone, a valid gRPC call, HTTP call or
   * API read that fails. Empty when the region is healthy.
   */
  check: () => Promise<string[]>;
  stop: () => Promise<void>;
}

function portOf(url: string): number {
  return Number(new URL(url.includes('://') ? url : `http://${url}`).port);
}

/** True when a process with `pid` exists. */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One valid HTTP invocation (H1): resolves with the status and body. */
function validHttpCall(port: number, fn: FuzzFunction, apiKey: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/echo',
        agent: false,
        headers: {
          host: `${fn.functionId}.invocation.127.0.0.1:${port}`,
          authorization: `Bearer ${apiKey}`,
          'content-type': 'text/plain',
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('valid HTTP call timed out')));
    req.on('error', reject);
    req.end('fuzz-liveness');
  });
}

/** True when `port` closes a connection that sent a partial HTTP/1.1 request head within 5 s. */
async function closesPartialHead(port: number): Promise<boolean> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write('GET / HTTP/1.1\r\n');
  const closed = new Promise<boolean>((resolve) => socket.once('close', () => resolve(true)));
  const timer = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000));
  const answer = await Promise.race([closed, timer]);
  socket.destroy();
  return answer;
}

/** Launches the fuzz region; resolves once every worker is ready. */
export async function startFuzzRegion(): Promise<FuzzRegion> {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchyard-fuzz-'));
  const adminToken = `fuzz_${randomBytes(12).toString('hex')}`;
  const limits = {
    SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: String(FIRST_BYTE_TIMEOUT_MS),
    SWITCHYARD_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
    SWITCHYARD_MAX_HEADER_LIST_BYTES: String(FUZZ_MAX_HEADER_LIST_BYTES),
  };
  let launch: RegionsLaunch | undefined;
  try {
    launch = await launchRegions({
      regions: [{ name: REGION }],
      stateDir,
      logDir: join(stateDir, 'logs'),
      redis: true,
      services: ['api', 'grpc-proxy', 'invocation'],
      adminToken,
      serviceEnv: {
        // A call that finds no free worker unit is answered DEADLINE_EXCEEDED (G10) well within 5 s.
        'grpc-proxy': { ...limits, SWITCHYARD_ATTACH_TIMEOUT_MS: '3000' },
        invocation: limits,
        api: limits,
      },
      samples: () => [
        { name: 'echo', sample: 'echo', instanceId: 'echo' },
        { name: 'http', sample: 'http', instanceId: 'http' },
      ],
    });
    const region = launch.regions[REGION];
    const apiUrl = region.endpoints.api;
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
      return (await res.json()) as T;
    };
    const echo = await api<FuzzFunction>('POST', '/v1/functions', {
      name: 'echo',
      kind: 'grpc',
      reconnectWindowMs: 1_000,
    });
    const httpEcho = await api<FuzzFunction>('POST', '/v1/functions', {
      name: 'http-echo',
      kind: 'http',
      inferenceUrl: '/echo',
    });
    const { key: apiKey } = await api<{ key: string }>('POST', '/v1/keys', { functions: '*', description: 'fuzz' });
    const running = launch;
    await running.waitReady([
      running.startWorker({
        region: REGION,
        name: 'worker-echo',
        functionId: echo.functionId,
        versionId: echo.versionId,
        upstream: `grpc://127.0.0.1:${region.samples.echo.port}`,
        concurrency: 64,
        callbackAllowList: ['http://127.0.0.1:'],
      }),
      running.startWorker({
        region: REGION,
        name: 'worker-http',
        functionId: httpEcho.functionId,
        versionId: httpEcho.versionId,
        upstream: `http://127.0.0.1:${region.samples.http.port}`,
        concurrency: 32,
        callbackAllowList: ['http://127.0.0.1:'],
      }),
    ]);
    const ports: FuzzPorts = {
      grpc: portOf(region.endpoints.grpc),
      grpcCallback: portOf(region.endpoints.callback),
      http: portOf(region.endpoints.http),
      httpCallback: portOf(region.endpoints.httpCallback),
      api: portOf(apiUrl),
    };
    const apiHeadersBounded = await closesPartialHead(ports.api);
    const children = () => [...running.group.children];
    const check = async (): Promise<string[]> => {
      const problems: string[] = [];
      for (const child of children()) {
        if (!child.running || !pidAlive(child.pid)) problems.push(`${child.name} (pid ${child.pid}) is not running`);
      }
      const client = echoClient(region.endpoints.grpc);
      try {
        const { res } = await unary(
          client,
          { payload: Buffer.from('liveness') },
          { authorization: `Bearer ${apiKey}`, 'function-id': echo.functionId },
          { deadlineMs: 10_000 },
        );
        if (Buffer.from(res.payload).toString() !== 'liveness') problems.push('valid gRPC call: wrong payload');
      } catch (err) {
        problems.push(`valid gRPC call failed: ${(err as Error).message}`);
      } finally {
        client.close();
      }
      try {
        const r = await validHttpCall(ports.http, httpEcho, apiKey);
        if (r.status !== 200 || !r.body.includes('fuzz-liveness'))
          problems.push(`valid HTTP call: ${r.status} ${r.body.slice(0, 200)}`);
      } catch (err) {
        problems.push(`valid HTTP call failed: ${(err as Error).message}`);
      }
      try {
        await api('GET', '/v1/functions');
      } catch (err) {
        problems.push(`API read failed: ${(err as Error).message}`);
      }
      return problems;
    };
    return {
      ports,
      apiKey,
      adminToken,
      echo,
      httpEcho,
      apiHeadersBounded,
      children,
      check,
      stop: async () => {
        await running.stop();
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await launch?.stop();
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
}
