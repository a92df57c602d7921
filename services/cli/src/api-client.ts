// The admin commands' HTTP client for the operator API (undici). Finds the endpoint and token
// (flags, then SWITCHYARD_API_URL / SWITCHYARD_ADMIN_TOKEN, then dev.json) and turns problem+json
// answers and connection failures into CliErrors that say what to do.

import { request } from 'undici';
import { CliError, CliErrorCode } from './cli-error.ts';
import { readDevState, resolveStateDir } from './dev-state.ts';

/** Where the API is and how to authenticate to it. */
export interface ApiEndpoint {
  /** Base URL, e.g. `http://127.0.0.1:8088`. */
  url: string;
  /** Admin bearer token. */
  adminToken: string;
}

/** Inputs of {@link resolveApiEndpoint}. */
export interface ResolveEndpointInput {
  /** `--api`. */
  api?: string;
  /** `--admin-token`. */
  adminToken?: string;
  /** `--state-dir` (relative to `cwd`). @default '.switchyard' */
  stateDir?: string;
  /** Environment (SWITCHYARD_API_URL, SWITCHYARD_ADMIN_TOKEN). */
  env: Record<string, string | undefined>;
  /** Working directory. */
  cwd: string;
}

/** Message when no endpoint can be found (also in docs/cli.md). */
export const NO_ENDPOINT_MESSAGE =
  'no .switchyard/dev.json found: run `npm start` first or pass --api and --admin-token';

/**
 * The API endpoint: each of URL and token from its flag, else its environment variable, else dev.json.
 * @throws CliError CLI_NO_ENDPOINT when the URL or the token cannot be found.
 */
export function resolveApiEndpoint(input: ResolveEndpointInput): ApiEndpoint {
  const nonEmpty = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  let url = nonEmpty(input.api) ?? nonEmpty(input.env.SWITCHYARD_API_URL);
  let adminToken = nonEmpty(input.adminToken) ?? nonEmpty(input.env.SWITCHYARD_ADMIN_TOKEN);
  if (url === undefined || adminToken === undefined) {
    const state = readDevState(resolveStateDir(input.stateDir, input.cwd));
    if (state === undefined) {
      if (url === undefined && adminToken === undefined)
        throw new CliError(CliErrorCode.noEndpoint, NO_ENDPOINT_MESSAGE);
      throw new CliError(
        CliErrorCode.noEndpoint,
        url === undefined
          ? 'no API URL: pass --api URL or set SWITCHYARD_API_URL'
          : 'no admin token: pass --admin-token T or set SWITCHYARD_ADMIN_TOKEN',
      );
    }
    url ??= state.endpoints.api;
    adminToken ??= state.adminToken;
  }
  return { url: url.replace(/\/+$/, ''), adminToken };
}

/** One API answer: status and parsed JSON body (undefined for 204). */
export interface ApiResponse<T> {
  status: number;
  body: T;
}

const HINTS: Record<string, string> = {
  SY_AUTH_MISSING: 'pass --admin-token or set SWITCHYARD_ADMIN_TOKEN (the dev stack writes it to .switchyard/dev.json)',
  SY_ADMIN_TOKEN_INVALID:
    'the admin token does not match the API: use the one in .switchyard/dev.json, --admin-token or SWITCHYARD_ADMIN_TOKEN',
  SY_FUNCTION_NOT_FOUND: 'list functions with `switchyard functions list`',
  SY_VERSION_NOT_FOUND: 'see the versions with `switchyard functions get FUNCTION_ID`',
  SY_API_KEY_NOT_FOUND: 'list keys with `switchyard keys list`',
  SY_SESSION_NOT_FOUND: 'list live sessions with `switchyard sessions list`',
  SY_DIRECTORY_UNAVAILABLE: 'the API cannot reach NATS: check that nats-server is running',
  SY_CONTROL_UNAVAILABLE: 'the API cannot reach NATS: check that nats-server is running',
};

/**
 * Calls the API.
 * @param method HTTP method; @param path e.g. `/v1/functions`; @param body JSON body, if any.
 * @returns status and body for 2xx answers.
 * @throws CliError CLI_API_UNREACHABLE when the connection fails; CLI_API_ERROR for any non-2xx
 *   answer (message from the problem document, hint by code).
 */
export async function callApi<T>(
  endpoint: ApiEndpoint,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<ApiResponse<T>> {
  const url = `${endpoint.url}${path}`;
  let res: Awaited<ReturnType<typeof request>>;
  try {
    res = await request(url, {
      method,
      headers: {
        authorization: `Bearer ${endpoint.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
  } catch (err) {
    throw new CliError(CliErrorCode.unreachable, `cannot reach the API at ${endpoint.url}: ${(err as Error).message}`, {
      hint: 'start the dev stack with `npm start` (or `switchyard dev`), or pass --api URL / set SWITCHYARD_API_URL',
      cause: err,
    });
  }
  const text = await res.body.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return { status: res.statusCode, body: parsed as T };
  const problem = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as {
    title?: string;
    detail?: string;
    code?: string;
    problems?: string[];
  };
  const what = problem.problems?.length ? problem.problems.join('; ') : (problem.detail ?? problem.title ?? text);
  throw new CliError(
    CliErrorCode.api,
    `${method} ${path} failed with HTTP ${res.statusCode}${problem.code ? ` ${problem.code}` : ''}: ${what}`,
    { hint: problem.code !== undefined ? HINTS[problem.code] : undefined },
  );
}
