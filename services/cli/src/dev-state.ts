// `.switchyard/dev.json`: what a running (or last) dev stack looks like: endpoints, the admin token,
// the sample functions and API key, and child pids. Admin commands and `switchyard worker` read it;
// `switchyard dev` writes it (mode 0600: it holds the admin token and an API key).

import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/** Default state directory, relative to the working directory. */
export const DEFAULT_STATE_DIR = '.switchyard';
/** File name of the dev stack description inside the state directory. */
export const DEV_STATE_FILE = 'dev.json';

const SampleFunctionSchema = z.object({
  functionId: z.string().uuid(),
  versionId: z.string().uuid(),
  /** `grpc://127.0.0.1:<port>` or `http://127.0.0.1:<port>` of the sample container. */
  upstream: z.string(),
});

/** Schema of dev.json. */
export const DevStateSchema = z.object({
  region: z.string().min(1),
  endpoints: z.object({
    /** `host:port` of the gRPC proxy client listener. */
    grpc: z.string(),
    /** Callback URI workers dial (W1). */
    callback: z.string(),
    /** Base URL of the operator API. */
    api: z.string(),
    /** Base URL of the HTTP invocation service (H1); absent in dev.json files of older runs. */
    http: z.string().optional(),
    /** Callback URI workers dial for HTTP requests (W1). */
    httpCallback: z.string().optional(),
    /** NATS server URLs. */
    nats: z.array(z.string()).min(1),
    /** `redis://host:port`. */
    redis: z.string(),
    /** The live status page of every region (`<api>/ui`, admin sign-in); absent in dev.json files of older runs. */
    status: z.string().optional(),
  }),
  /**
   * Every region of a multi-region run (`switchyard dev --regions a,b`), by name; the fields above
   * describe the first one. Absent in single-region runs.
   */
  regions: z
    .record(
      z.string(),
      z.object({
        grpc: z.string(),
        callback: z.string(),
        api: z.string(),
        http: z.string(),
        httpCallback: z.string(),
        nats: z.array(z.string()).min(1),
        redis: z.string(),
        /** Address the dev geodns answers for this region (127.0.0.<n>). */
        dnsAddress: z.string(),
      }),
    )
    .optional(),
  /**
   * Metrics endpoints (`GET /metrics`; `/healthz` and `/readyz` beside it) by region, then by service
   * (`grpc-proxy`, `invocation`, `api`, `worker-<sample>`; a front end running N processes adds
   * `<service>/<index>` for process 1..N-1); the global geodns under `global`. As Prometheus targets:
   * `scripts/prometheus-targets.ts`.
   */
  metrics: z.record(z.string(), z.record(z.string(), z.string())).optional(),
  /** The dev geodns of a multi-region run: `host:port` and zone. */
  geodns: z.object({ dns: z.string(), domain: z.string() }).optional(),
  adminToken: z.string().min(16),
  apiKey: z.string(),
  apiKeyId: z.string().uuid(),
  /** URI prefixes workers may dial (W4). */
  callbackAllowList: z.array(z.string()).default(['http://127.0.0.1:']),
  functions: z.record(z.string(), SampleFunctionSchema),
  /** Pid of each child by name, and of the dev process itself under `dev`. */
  pids: z.record(z.string(), z.number().int()),
  /** Epoch ms. */
  startedAtMs: z.number().int(),
});
export type DevState = z.infer<typeof DevStateSchema>;

/** URL of the live status page served by the API at `api` (GET /ui). */
export function statusPageUrl(api: string): string {
  return `${api.replace(/\/+$/, '')}/ui`;
}

/** Absolute state directory for `stateDir` (relative to `cwd`). */
export function resolveStateDir(stateDir: string = DEFAULT_STATE_DIR, cwd: string = process.cwd()): string {
  return resolve(cwd, stateDir);
}

/**
 * Reads dev.json from `stateDir` (absolute).
 * @returns the state, or undefined when the file is missing or not a valid dev.json.
 */
export function readDevState(stateDir: string): DevState | undefined {
  const file = join(stateDir, DEV_STATE_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const parsed = DevStateSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes dev.json atomically (temp file + rename), readable by the owner only. */
export function writeDevState(stateDir: string, state: DevState): void {
  const file = join(stateDir, DEV_STATE_FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}
