// Which function a request is for (H1, H2): the `function-id` / `function-version-id` headers, else
// the Host (`<function-id>.invocation.<anything>` or `<version-id>.<function-id>.invocation.<anything>`,
// the product page's `${FUNCTION_ID}.invocation.${GATEWAY_ADDR}` with a port included), else the
// `/v2/nvcf/pexec/...` API routes. Pure functions: no I/O.

import { isUuid, SwitchyardError } from '@switchyard/protocol';

/** A request for a function's own endpoint (path preserved, H3) or its inference URL (pexec, H2). */
export interface FunctionTarget {
  kind: 'function';
  functionId: string;
  /** Absent: any deployed version (H11). */
  versionId: string | undefined;
  /** True for `/v2/nvcf/pexec/functions/...`: the path becomes the function's inference URL. */
  pexec: boolean;
}

/** `GET /v2/nvcf/pexec/status/{requestId}` (H9). */
export interface StatusTarget {
  kind: 'status';
  requestId: string;
}

/** Nothing matched: 404 (H1). */
export interface NoTarget {
  kind: 'none';
  detail: string;
}

export type InvocationTarget = FunctionTarget | StatusTarget | NoTarget;

/** Path prefix of the API routes (H2). */
export const PEXEC_PREFIX = '/v2/nvcf/pexec/';

const PEXEC_FUNCTION = /^\/v2\/nvcf\/pexec\/functions\/([^/?]+)(?:\/versions\/([^/?]+))?\/?$/;
const PEXEC_STATUS = /^\/v2\/nvcf\/pexec\/status\/([^/?]+)\/?$/;

/**
 * Function and version named by a Host value (port ignored, case-insensitive): the labels before the
 * first `.invocation.` label; one label is a function ID, two are version ID then function ID.
 * `domains` (lower case), when not empty, lists what may follow `.invocation.` (port stripped).
 * @returns undefined when the Host is not an invocation host or the IDs are not UUIDs.
 */
export function parseInvocationHost(
  host: string | undefined,
  domains: readonly string[] = [],
): { functionId: string; versionId: string | undefined } | undefined {
  if (!host) return undefined;
  const lower = host.toLowerCase();
  const at = lower.indexOf('.invocation.');
  if (at <= 0) return undefined;
  const rest = lower.slice(at + '.invocation.'.length);
  if (rest === '') return undefined;
  if (domains.length > 0) {
    const domain = rest.replace(/:\d+$/, '');
    if (!domains.includes(domain)) return undefined;
  }
  const labels = lower.slice(0, at).split('.');
  if (labels.length === 1 && isUuid(labels[0])) return { functionId: labels[0], versionId: undefined };
  if (labels.length === 2 && isUuid(labels[0]) && isUuid(labels[1]))
    return { functionId: labels[1], versionId: labels[0] };
  return undefined;
}

/** First value of a header that may repeat. */
function headerValue(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined || v === '' ? undefined : v;
}

/**
 * A path segment with its %-escapes decoded.
 * @throws SwitchyardError SY_REQUEST_INVALID (400) when an escape is malformed (`%zz`, a cut UTF-8 sequence).
 */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new SwitchyardError('SY_REQUEST_INVALID', { detail: 'malformed %-escape in the path' });
  }
}

/**
 * Resolves the target of a request (H1, H2). Order: an invocation Host routes to the function with the
 * path unchanged (the headers may override its IDs); else the pexec API routes (IDs from the path);
 * else the `function-id` header routes with the path unchanged; else no target.
 * IDs are returned as given (authorize() checks their shape and answers 400/404).
 * @throws SwitchyardError SY_REQUEST_INVALID (400) when a pexec path segment has a malformed %-escape.
 */
export function resolveTarget(
  method: string,
  path: string,
  host: string | undefined,
  headers: Record<string, string | string[] | undefined>,
  domains: readonly string[] = [],
): InvocationTarget {
  const headerFunction = headerValue(headers['function-id']);
  const headerVersion = headerValue(headers['function-version-id']);
  const fromHost = parseInvocationHost(host, domains);
  if (fromHost) {
    // H1: the headers win over the Host.
    return {
      kind: 'function',
      functionId: headerFunction ?? fromHost.functionId,
      versionId: headerFunction ? headerVersion : (headerVersion ?? fromHost.versionId),
      pexec: false,
    };
  }
  const pathOnly = path.split('?')[0];
  if (pathOnly.startsWith(PEXEC_PREFIX)) {
    const status = PEXEC_STATUS.exec(pathOnly);
    if (status && (method === 'GET' || method === 'HEAD'))
      return { kind: 'status', requestId: decodeSegment(status[1]) };
    const fn = PEXEC_FUNCTION.exec(pathOnly);
    if (fn)
      return {
        kind: 'function',
        functionId: decodeSegment(fn[1]),
        versionId: fn[2] !== undefined ? decodeSegment(fn[2]) : headerVersion,
        pexec: true,
      };
  }
  if (headerFunction) return { kind: 'function', functionId: headerFunction, versionId: headerVersion, pexec: false };
  return {
    kind: 'none',
    detail: `no function route for Host ${JSON.stringify(host ?? '')} and ${method} ${pathOnly} (use Host <function-id>.invocation.<domain>, a function-id header, or ${PEXEC_PREFIX}functions/<function-id>)`,
  };
}

/**
 * The path sent to the container: the original path and query (H3), or for pexec the function's
 * inference URL with the original query.
 */
export function upstreamPath(target: FunctionTarget, originalPath: string, inferenceUrl: string): string {
  if (!target.pexec) return originalPath;
  const q = originalPath.indexOf('?');
  return q < 0 ? inferenceUrl : `${inferenceUrl}${originalPath.slice(q)}`;
}
