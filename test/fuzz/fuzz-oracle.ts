// The fuzz oracle: what the contract (shared/spec/NVCF-WIRE.md) allows as the answer to one case.
// The gRPC proxy's early answers are predicted exactly from the metadata (G2, G3, G7, G8; control
// paths NOT_FOUND); a call that passes them may end with any status the function gives. The
// invocation service's answers are checked by shape (H10 problem documents), never 2xx without a
// valid key, 404 for control paths (H1), and never a platform 500. Every request that is well formed
// must be answered; anything else must be answered or closed; nothing may take longer than 5 s.
import { parseInvocationHost } from '@switchyard/invocation';
import { isUuid } from '@switchyard/protocol';
import { echoServiceDefinition } from '@switchyard/sample-functions';
import type { FuzzCase, FuzzMetadata, H2Case, Http1Case } from './fuzz-cases.ts';
import { h2Fields, h2ListSize, hostValue, http1Bytes, type Outcome } from './fuzz-exec.ts';
import { FUZZ_MAX_HEADER_LIST_BYTES, type FuzzRegion } from './fuzz-region.ts';

/** G3: the HTTP status of a proxy-made error to a non-gRPC request. */
const HTTP_OF_GRPC: Record<number, number> = {
  3: 400,
  16: 401,
  7: 403,
  5: 404,
  6: 409,
  8: 429,
  4: 504,
  12: 501,
  14: 503,
};
const BEARER = /^bearer +(\S+) *$/i;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']);
const CONTROL_PREFIX = '/_switchyard/';
const ECHO_PATH = echoServiceDefinition().Unary.path;

/**
 * What the proxy must answer before any worker is involved: a gRPC code, or 'routed' (any), or
 * 'resumeOrRouted' (NOT_FOUND for a resume, or any).
 * `http1`: HTTP/1.1 strips whitespace around field values (RFC 9110 §5.5); HTTP/2 passes them as sent.
 */
export function proxyExpected(
  region: FuzzRegion,
  method: string,
  path: string,
  md: FuzzMetadata,
  http1: boolean,
): number | 'routed' | 'resumeOrRouted' {
  const ows = (v: string) => (http1 ? v.replace(/^[ \t]+|[ \t]+$/g, '') : v);
  if (method === 'OPTIONS') return 'routed';
  if (path.startsWith(CONTROL_PREFIX)) return 5;
  const auth =
    md.auth.kind === 'none'
      ? undefined
      : md.auth.kind === 'raw'
        ? ows(md.auth.value)
        : md.auth.kind === 'wrongKey'
          ? 'Bearer wrong'
          : `Bearer ${region.apiKey}`;
  const m = auth === undefined ? null : BEARER.exec(auth);
  if (m === null || m[1] !== region.apiKey || md.auth.kind === 'wrongKey') return 16;
  const id = (c: FuzzMetadata['functionId'], valid: string) =>
    c.kind === 'none' ? undefined : c.kind === 'valid' ? valid : ows(c.value) || undefined;
  const fid = id(md.functionId, region.echo.functionId);
  const vid = id(md.versionId, region.echo.versionId);
  if (fid === undefined || !isUuid(fid)) return 3;
  if (vid !== undefined && !isUuid(vid)) return 3;
  if (fid !== region.echo.functionId) return 5;
  if (vid !== undefined && vid !== region.echo.versionId) return 5;
  if (md.reqId.kind !== 'none' && isUuid(ows(md.reqId.value))) return 5; // G8: no such session
  // A request ID in a cookie or subprotocol entry (G7) may resume (5: no such session) or not.
  if (md.extra.some(([k]) => k === 'cookie' || k === 'sec-websocket-protocol')) return 'resumeOrRouted';
  return 'routed';
}

/** True when the key the metadata carries is the region's (any casing of "Bearer"). */
function validKey(md: FuzzMetadata): boolean {
  return md.auth.kind === 'valid' || md.auth.kind === 'validLowercase';
}

/** H2 routes (the spec's, restated): `functions/{id}[/versions/{id}]`, `status/{reqId}`. */
const PEXEC_FUNCTION = /^\/v2\/nvcf\/pexec\/functions\/([^/?]+)(?:\/versions\/([^/?]+))?\/?$/;
const PEXEC_STATUS = /^\/v2\/nvcf\/pexec\/status\/([^/?]+)\/?$/;

/** True when a segment's %-escapes do not decode. */
function badEscape(segment: string): boolean {
  try {
    decodeURIComponent(segment);
    return false;
  } catch {
    return true;
  }
}

/**
 * True when the request routes by an H2 pexec path (no invocation Host) whose ID segment has a
 * malformed %-escape: answered 400 at once (issue 11: keep it so).
 */
function pexecEscapeError(method: string, path: string, host: string | undefined): boolean {
  if (parseInvocationHost(host) !== undefined) return false;
  const p = path.split('?')[0];
  const status = PEXEC_STATUS.exec(p);
  if (status && (method === 'GET' || method === 'HEAD')) return badEscape(status[1]);
  const fn = PEXEC_FUNCTION.exec(p);
  return fn !== null && (badEscape(fn[1]) || (fn[2] !== undefined && badEscape(fn[2])));
}

/** Checks a response of the invocation service (H1, H2, H5, H10). */
function judgeInvocation(
  o: Extract<Outcome, { kind: 'response' }>,
  method: string,
  path: string,
  md: FuzzMetadata,
  host: string | undefined,
): string | undefined {
  if (path.startsWith(CONTROL_PREFIX) && method !== 'OPTIONS' && o.status !== 404)
    return `control path answered ${o.status}, want 404`;
  if (
    !path.startsWith(CONTROL_PREFIX) &&
    method !== 'OPTIONS' &&
    pexecEscapeError(method, path, host) &&
    o.status !== 400
  )
    return `malformed %-escape in a pexec path answered ${o.status}, want 400`;
  const ct = o.headers['content-type'] ?? '';
  if (ct.includes('problem+json') && method !== 'HEAD') {
    let doc: { status?: unknown; title?: unknown; type?: unknown };
    try {
      doc = JSON.parse(o.body);
    } catch {
      return `problem+json body is not JSON: ${o.body.slice(0, 120)}`;
    }
    if (doc.status !== o.status) return `problem status ${String(doc.status)} != HTTP ${o.status}`;
    if (typeof doc.title !== 'string' || typeof doc.type !== 'string') return 'problem document without type/title';
    if (o.status >= 500 && o.status !== 503 && o.status !== 504)
      return `platform error ${o.status}: ${o.body.slice(0, 200)}`;
  }
  if (!validKey(md) && o.status >= 200 && o.status < 300 && method !== 'OPTIONS')
    return `answered ${o.status} without a valid key`;
  return undefined;
}

/** Checks a response of the proxy against {@link proxyExpected}. */
function judgeProxy(
  region: FuzzRegion,
  o: Extract<Outcome, { kind: 'response' }>,
  method: string,
  path: string,
  md: FuzzMetadata,
  grpc: boolean,
  http1: boolean,
): string | undefined {
  const expected = proxyExpected(region, method, path, md, http1);
  const want = expected === 'resumeOrRouted' ? 'routed' : expected;
  if (grpc) {
    if (want !== 'routed' && o.status !== 200) return `gRPC request answered HTTP ${o.status}, want 200 (G3)`;
    if (want !== 'routed' && o.grpcStatus !== want) return `grpc-status ${o.grpcStatus}, want ${want}`;
    if (o.status === 200 && o.grpcStatus === undefined) return 'gRPC response without grpc-status';
    return undefined;
  }
  if (want !== 'routed' && o.status !== HTTP_OF_GRPC[want])
    return `HTTP ${o.status}, want ${HTTP_OF_GRPC[want]} (G3 code ${want})`;
  return undefined;
}

/** RFC 9113 §8.2.1: field values without leading/trailing whitespace; :authority of host characters. */
function h2WellFormed(fields: [string, string][]): boolean {
  return fields.every(([k, v]) => !/^[ \t]|[ \t]$/.test(v) && (k !== ':authority' || /^[A-Za-z0-9._~:[\]-]+$/.test(v)));
}

function judgeH2(region: FuzzRegion, c: H2Case, o: Outcome): string | undefined {
  const fields = h2Fields(region, c);
  const over = h2ListSize(fields) > FUZZ_MAX_HEADER_LIST_BYTES;
  const wellFormed = !over && h2WellFormed(fields) && c.body.end === 'end';
  if (o.kind !== 'response') return wellFormed ? `well-formed request got ${o.kind}` : undefined;
  if (o.status < 100 || o.status > 599) return `HTTP status ${o.status}`;
  if (c.target === 'grpc') return judgeProxy(region, o, c.method, c.path, c.md, c.grpc, false);
  const fn = region.httpEcho;
  return judgeInvocation(o, c.method, c.path, c.md, hostValue(c.host, fn, region.ports.http));
}

function judgeHttp1(region: FuzzRegion, c: Http1Case, o: Outcome): string | undefined {
  const head = http1Bytes(region, c);
  const over = head.length - c.body.bytes.length > FUZZ_MAX_HEADER_LIST_BYTES - 200;
  const wellFormed =
    !over &&
    METHODS.has(c.method) &&
    c.host.kind !== 'none' &&
    c.path.startsWith('/') &&
    !c.path.includes('#') &&
    c.body.end === 'end' &&
    c.body.declared === c.body.bytes.length;
  if (o.kind !== 'response')
    return wellFormed && o.kind !== 'abandoned' ? `well-formed request got ${o.kind}` : undefined;
  if (o.status < 100 || o.status > 599) return `not an HTTP/1.1 status line`;
  if (over) return undefined;
  if (c.target === 'http' && wellFormed)
    return judgeInvocation(o, c.method, c.path, c.md, hostValue(c.host, region.httpEcho, region.ports.http));
  if (c.target === 'grpc' && wellFormed) return judgeProxy(region, o, c.method, c.path, c.md, false, true);
  if (c.target === 'api' && o.status >= 500) return `API answered ${o.status}`;
  return undefined;
}

/** grpc-timeout (G4) in ms, or undefined when absent or not `<1-8 digits><H|M|S|m|u|n>`. */
function grpcTimeoutMs(md: FuzzMetadata): number | undefined {
  const field = md.extra.find(([k]) => k === 'grpc-timeout');
  const m = field ? /^(\d{1,8})([HMSmun])$/.exec(field[1]) : null;
  if (!m) return undefined;
  const unit = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
  return Number(m[1]) * unit;
}

/**
 * True when a routed Echo call asks the echo function itself to take long (random bytes that decode
 * to a large delay_ms, repeat or response_size) and no grpc-timeout of 3 s or less bounds it: the
 * function's time, not the platform's (G4: no deadline unless the client sets one).
 */
export function slowEchoCall(region: FuzzRegion, c: FuzzCase): boolean {
  if (c.kind !== 'h2' || c.target !== 'grpc' || !c.grpc || c.path !== ECHO_PATH) return false;
  if (proxyExpected(region, c.method, c.path, c.md, false) !== 'routed') return false;
  const deadline = grpcTimeoutMs(c.md);
  if (deadline !== undefined && deadline <= 3_000) return false;
  if (c.body.declared !== c.body.bytes.length) return false;
  try {
    const req = echoServiceDefinition().Unary.requestDeserialize(Buffer.from(c.body.bytes)) as {
      delay_ms: number;
      repeat: number;
      response_size: number;
    };
    return req.delay_ms > 1_000 || req.repeat > 10_000 || req.response_size > 10_000_000;
  } catch {
    return false;
  }
}

/**
 * True for bytes left open on an API whose listener has no headers timeout yet
 * ({@link FuzzRegion.apiHeadersBounded}); counted apart, not a finding of this run.
 */
export function knownApiGap(region: FuzzRegion, c: FuzzCase): boolean {
  return c.kind === 'garbage' && c.listener === 'api' && !c.halfClose && !region.apiHeadersBounded;
}

/**
 * Judges one outcome.
 * @returns undefined when the contract allows it, else what is wrong (a finding).
 */
export function judge(region: FuzzRegion, c: FuzzCase, o: Outcome): string | undefined {
  if (o.kind === 'timeout' && (knownApiGap(region, c) || slowEchoCall(region, c))) return undefined;
  if (o.kind === 'timeout') return 'neither answered nor closed within 5 s';
  if (o.kind === 'unsendable' || o.kind === 'abandoned') return undefined;
  switch (c.kind) {
    case 'h2':
      return judgeH2(region, c, o);
    case 'http1':
      return judgeHttp1(region, c, o);
    case 'h2raw':
      // A valid call with one field of bad bytes: nghttp2 drops the field, or resets the stream.
      if (c.base && o.kind !== 'response' && !(o.kind === 'reset' && o.code === 1))
        return `valid call with one malformed field got ${o.kind}`;
      return undefined;
    case 'garbage':
      return undefined;
  }
}
