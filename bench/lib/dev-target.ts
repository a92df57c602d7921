// Where the HTTP scripts (scripts/soak-http.ts, scripts/http-long-call.ts) send their requests: the
// invocation endpoint, function and API key of a running dev stack (`.switchyard/dev.json`), each
// overridable by a flag, plus the pids of the processes whose memory the soak watches.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './child.ts';

/** Default location of the dev stack's state file. */
export const DEFAULT_DEV_JSON: string = join(REPO_ROOT, '.switchyard/dev.json');
/** Sample function the scripts call when no --function-id is given. */
export const DEV_HTTP_FUNCTION = 'http-echo';

/** Flags a script passes in; any of them wins over dev.json. */
export interface HttpTargetOptions {
  devJson?: string;
  url?: string;
  functionId?: string;
  apiKey?: string;
  /** `name=pid` or bare pids, comma-separated. */
  pids?: string;
}

/** A resolved target. */
export interface HttpTarget {
  /** `http://host:port` of the invocation service. */
  url: string;
  functionId: string;
  apiKey: string;
  /** `Host` header routing to the function: `<functionId>.invocation.<host:port>`, as on the product page. */
  host: string;
  /** Processes to watch (invocation, the function's worker), by name. */
  pids: Record<string, number>;
  /** Where each value came from (flags or dev.json). */
  source: string;
}

interface DevJson {
  endpoints?: { http?: string };
  apiKey?: string;
  functions?: Record<string, { functionId?: string }>;
  pids?: Record<string, number>;
}

function parsePids(raw: string): Record<string, number> {
  const out: Record<string, number> = {};
  raw
    .split(',')
    .filter((s) => s.trim() !== '')
    .forEach((item, i) => {
      const [name, pid] = item.includes('=') ? (item.split('=', 2) as [string, string]) : [`pid${i + 1}`, item];
      const value = Number(pid);
      if (!Number.isInteger(value) || value <= 0) throw new TypeError(`--pids: not a pid: ${item}`);
      out[name.trim()] = value;
    });
  return out;
}

/**
 * Resolves URL, function, key and pids from flags, falling back to dev.json (`endpoints.http`,
 * `functions['http-echo']`, `apiKey`, `pids.invocation`, `pids['worker-http-echo']`).
 * @throws TypeError naming what is missing.
 */
export function resolveHttpTarget(options: HttpTargetOptions): HttpTarget {
  const file = options.devJson ?? DEFAULT_DEV_JSON;
  let dev: DevJson = {};
  if (existsSync(file)) dev = JSON.parse(readFileSync(file, 'utf8')) as DevJson;
  const url = (options.url ?? dev.endpoints?.http)?.replace(/\/+$/, '');
  const functionId = options.functionId ?? dev.functions?.[DEV_HTTP_FUNCTION]?.functionId;
  const apiKey = options.apiKey ?? dev.apiKey;
  const missing = [
    url ? undefined : '--url (or endpoints.http in dev.json)',
    functionId ? undefined : `--function-id (or functions['${DEV_HTTP_FUNCTION}'] in dev.json)`,
    apiKey ? undefined : '--api-key (or apiKey in dev.json)',
  ].filter((m) => m !== undefined);
  if (missing.length > 0 || !url || !functionId || !apiKey)
    throw new TypeError(`no target: missing ${missing.join(', ')}; dev.json looked for at ${file}`);
  let pids: Record<string, number> = {};
  if (options.pids !== undefined) pids = parsePids(options.pids);
  else if (dev.pids) {
    for (const name of ['invocation', `worker-${DEV_HTTP_FUNCTION}`]) {
      const pid = dev.pids[name];
      if (pid !== undefined) pids[name] = pid;
    }
  }
  const parsed = new URL(url);
  return {
    url,
    functionId,
    apiKey,
    host: `${functionId}.invocation.${parsed.host}`,
    pids,
    source: options.url && options.functionId && options.apiKey ? 'flags' : `${file} (flags override)`,
  };
}
