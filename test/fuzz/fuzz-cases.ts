// Generators of the black-box fuzz (fast-check): one case is one request, or one burst of bytes, sent
// to one listener of a running region. Choices that need the region's real values (the API key, the
// function IDs) are symbolic here and resolved when the case runs, so a case prints and replays the
// same against any region.
import fc from 'fast-check';
import type { FuzzListener } from './fuzz-region.ts';

/** What the `authorization` header carries. */
export type AuthChoice =
  | { kind: 'none' }
  | { kind: 'valid' }
  | { kind: 'validLowercase' }
  | { kind: 'wrongKey' }
  | { kind: 'raw'; value: string };

/** What a function-id / function-version-id header or Host label carries. */
export type IdChoice =
  | { kind: 'none' }
  | { kind: 'valid' }
  | { kind: 'otherUuid'; value: string }
  | { kind: 'raw'; value: string };

/** What `nvcf-reqid` carries. */
export type ReqIdChoice = { kind: 'none' } | { kind: 'uuid'; value: string } | { kind: 'raw'; value: string };

/** The request metadata both front ends read. */
export interface FuzzMetadata {
  auth: AuthChoice;
  functionId: IdChoice;
  versionId: IdChoice;
  reqId: ReqIdChoice;
  /** Other fields, names and values of the characters the client library accepts. */
  extra: [string, string][];
  /** Pad the header list to about this many bytes (RFC 9113 size: name + value + 32 per field); 0 = none. */
  padTo: number;
}

/** A body: `declared` bytes announced, `sent` of them sent, then END_STREAM / FIN (`end`) or a reset. */
export interface FuzzBody {
  bytes: number[];
  /** Bytes the request says it has (gRPC message length prefix, or Content-Length); sent <= declared. */
  declared: number;
  end: 'end' | 'reset';
}

/** One HTTP/2 request through node's HTTP/2 client. */
export interface H2Case {
  kind: 'h2';
  target: 'grpc' | 'http';
  method: string;
  path: string;
  grpc: boolean;
  /** Host label for the invocation service (`:authority`). */
  host: HostChoice;
  md: FuzzMetadata;
  body: FuzzBody;
  /** A new connection for this case (else one of the pooled ones, which may hold a session). */
  fresh: boolean;
}

/** One HTTP/2 request whose header block is written by hand: any bytes in names and values. */
export interface H2RawCase {
  kind: 'h2raw';
  target: 'grpc' | 'http';
  /**
   * Sent as one HEADERS frame with END_STREAM; with `base`, after a valid call's fields (method,
   * path, gRPC content type, the region's key and function ID), followed by an empty gRPC message.
   */
  fields: [number[], number[]][];
  base: boolean;
}

/** The Host header (or `:authority`) for the invocation service. */
export type HostChoice =
  | { kind: 'function' }
  | { kind: 'version' }
  | { kind: 'otherUuid'; value: string }
  | { kind: 'raw'; value: string }
  | { kind: 'none' };

/** One HTTP/1.1 request written on a raw socket, possibly in pieces and possibly cut short. */
export interface Http1Case {
  kind: 'http1';
  target: 'http' | 'grpc' | 'api';
  method: string;
  path: string;
  host: HostChoice;
  md: FuzzMetadata;
  body: FuzzBody;
  /** Write the request in pieces split at these offsets (a short pause between pieces). */
  splits: number[];
}

/** Random bytes on any listener, after an optional recognisable start. */
export interface GarbageCase {
  kind: 'garbage';
  listener: FuzzListener;
  prefix: string;
  bytes: number[];
  /** Half-close after writing (FIN); else leave the socket open and silent. */
  halfClose: boolean;
}

/** One fuzz case. */
export type FuzzCase = H2Case | H2RawCase | Http1Case | GarbageCase;

const uuid = fc.uuid();
const token = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,24}$/);
/** Printable ASCII (what clients may put in a header value). */
const printable = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);

/** IDs that are not UUIDs, or nearly are. */
const notUuid = fc.oneof(
  printable,
  uuid.map((u) => u.toUpperCase()),
  uuid.map((u) => u.slice(0, 35)),
  uuid.map((u) => `${u}0`),
  uuid.map((u) => u.replaceAll('-', '')),
  uuid.map((u) => ` ${u}`),
  uuid.map((u) => `${u.slice(0, 8)}_${u.slice(9)}`),
  fc.constantFrom('', '0', '00000000-0000-0000-0000-000000000000', 'null', '../../etc/passwd', '%00', '*'),
);

const authChoice: fc.Arbitrary<AuthChoice> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'valid' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'validLowercase' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrongKey' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        printable,
        printable.map((s) => `Bearer ${s}`),
        fc.constantFrom('Bearer', 'Bearer ', 'Basic eDp5'),
      )
      .map((value) => ({ kind: 'raw' as const, value })),
  },
);

const idChoice = (validWeight: number): fc.Arbitrary<IdChoice> =>
  fc.oneof(
    { weight: validWeight, arbitrary: fc.constant({ kind: 'valid' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
    { weight: 1, arbitrary: uuid.map((value) => ({ kind: 'otherUuid' as const, value })) },
    { weight: 1, arbitrary: notUuid.map((value) => ({ kind: 'raw' as const, value })) },
  );

const reqIdChoice: fc.Arbitrary<ReqIdChoice> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 1, arbitrary: uuid.map((value) => ({ kind: 'uuid' as const, value })) },
  { weight: 1, arbitrary: notUuid.map((value) => ({ kind: 'raw' as const, value })) },
);

/**
 * Fields that other parsers read: grpc-timeout (G4), the request-ID cookie and WebSocket
 * subprotocol credentials (G7, G12), NVCF-POLL-SECONDS (H8).
 */
const parsedField: fc.Arbitrary<[string, string]> = fc.oneof(
  fc
    .oneof(
      fc.constantFrom('1n', '0S', '1S', '100m', '99999999H', '-1S', '1', 'S', '1x', '123456789S', ' 1S', '1.5S'),
      printable,
    )
    .map((v): [string, string] => ['grpc-timeout', v]),
  fc
    .oneof(
      uuid.map((u) => `nvcf-request-id=${u}`),
      notUuid.map((u) => `nvcf-request-id=${u}`),
      uuid.map((u) => `a=b; nvcf-request-id=${u}; nvcf-request-id=x`),
      fc.constantFrom('nvcf-request-id=', '=;;=', 'nvcf-request-id="', ';'),
    )
    .map((v): [string, string] => ['cookie', v]),
  fc
    .oneof(
      uuid.map((u) => `nvcf-reqid.${u}`),
      notUuid.map((u) => `nvcf-reqid.${u}, authorization.${u}`),
      printable.map((p) => `function-id.${p},function-version-id.${p}`),
      fc.constantFrom('', ',', '.', 'authorization.', 'nvcf-reqid'),
    )
    .map((v): [string, string] => ['sec-websocket-protocol', v]),
  fc
    .oneof(fc.constantFrom('0', '1', '60', '3600', '3601', '-1', '1.5', '1e3', ' 5', '99999999999999999999'), printable)
    .map((v): [string, string] => ['nvcf-poll-seconds', v]),
);

/** Header list sizes around the limit: well under, just under, just over, well over. */
const padTo = (limit: number): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: limit - 600, max: limit - 300 }) },
    { weight: 1, arbitrary: fc.integer({ min: limit + 1, max: limit + 600 }) },
    { weight: 1, arbitrary: fc.integer({ min: limit * 2, max: limit * 4 }) },
  );

const metadata = (limit: number): fc.Arbitrary<FuzzMetadata> =>
  fc.record({
    auth: authChoice,
    functionId: idChoice(5),
    versionId: idChoice(1),
    reqId: reqIdChoice,
    extra: fc.array(fc.oneof({ weight: 2, arbitrary: fc.tuple(token, printable) }, parsedField), { maxLength: 4 }),
    padTo: padTo(limit),
  });

/** Path segments with valid and malformed %-escapes and reserved prefixes. */
const segment = fc.oneof(
  token,
  fc.constantFrom('%41', '%zz', '%', '%%', '%2F', '%2e%2e', '%5F', '%00', '%C3%A9', '%E0%A4%A', '..', '.', ''),
);
const randomPath = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`);
/** H2 pexec routes with any segment where the IDs go (malformed %-escapes must get 400 at once). */
const pexecPath = fc.oneof(
  segment.map((s) => `/v2/nvcf/pexec/functions/${s}`),
  fc.tuple(uuid, segment).map(([u, s]) => `/v2/nvcf/pexec/functions/${u}/versions/${s}`),
  segment.map((s) => `/v2/nvcf/pexec/status/${s}`),
  uuid.map((u) => `/v2/nvcf/pexec/status/${u}`),
);
const controlPath = fc
  .tuple(uuid, fc.constantFrom('attach', 'detach', 'x'))
  .map(([u, a]) => `/_switchyard/v1/sessions/${u}/${a}`);

const body: fc.Arbitrary<FuzzBody> = fc
  .record({
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
    extra: fc.oneof(
      { weight: 3, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 5000 }) },
    ),
    end: fc.constantFrom<'end' | 'reset'>('end', 'end', 'end', 'reset'),
  })
  .map(({ bytes, extra, end }) => ({ bytes, declared: bytes.length + extra, end }));

const host: fc.Arbitrary<HostChoice> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'function' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'version' as const }) },
  { weight: 1, arbitrary: uuid.map((value) => ({ kind: 'otherUuid' as const, value })) },
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        printable,
        uuid.map((u) => `${u}.invocation`),
        uuid.map((u) => `${u}.invocation.`),
        uuid.map((u) => `x.${u}.invocation.example.com`),
        uuid.map((u) => `${u}.invocation.example.com:99999`),
        fc.constantFrom('[::1]', '.invocation.', 'invocation', ':80', '%41.invocation.x'),
      )
      .map((value) => ({ kind: 'raw' as const, value })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
);

/** The h2 case generator (`limit`: the front ends' SWITCHYARD_MAX_HEADER_LIST_BYTES). */
const h2Case = (limit: number, echoPath: string): fc.Arbitrary<H2Case> =>
  fc.record({
    kind: fc.constant('h2' as const),
    target: fc.constantFrom<'grpc' | 'http'>('grpc', 'grpc', 'http'),
    method: fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS'),
    path: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom(echoPath, '/echo') },
      { weight: 2, arbitrary: randomPath },
      { weight: 1, arbitrary: controlPath },
      { weight: 1, arbitrary: pexecPath },
    ),
    grpc: fc.boolean(),
    host,
    md: metadata(limit),
    body,
    fresh: fc.boolean(),
  });

/** Bytes a field value may not hold (NUL, CR, LF, other controls, DEL) mixed with printable ones. */
const rawValue = fc.array(
  fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0x00, 0x0a, 0x0d, 0x09, 0x01, 0x1f, 0x7f, 0xff)),
  { maxLength: 40 },
);

/** A valid call with one metadata field of raw bytes (names the routers read, or others). */
const h2RawMetadata: fc.Arbitrary<H2RawCase> = fc.record({
  kind: fc.constant('h2raw' as const),
  target: fc.constantFrom<'grpc' | 'http'>('grpc', 'grpc', 'http'),
  fields: fc.array(
    fc.tuple(
      fc
        .constantFrom(
          'function-version-id',
          'nvcf-reqid',
          'function-id',
          'authorization',
          'cookie',
          'grpc-timeout',
          'x-a',
        )
        .map((s) => [...Buffer.from(s, 'latin1')]),
      rawValue,
    ),
    { minLength: 1, maxLength: 2 },
  ),
  base: fc.constant(true),
});

const h2RawFields: fc.Arbitrary<H2RawCase> = fc.record({
  kind: fc.constant('h2raw' as const),
  target: fc.constantFrom<'grpc' | 'http'>('grpc', 'http'),
  base: fc.constant(false),
  fields: fc.array(
    fc.tuple(
      fc
        .oneof(
          fc.constantFrom(':method', ':path', ':scheme', ':authority', ':status', ':protocol', 'te', 'connection'),
          fc.constantFrom('authorization', 'function-id', 'nvcf-reqid', 'content-type', 'Host', 'UPPER', ''),
          fc.string({ maxLength: 12 }),
        )
        .map((s) => [...Buffer.from(s, 'latin1')]),
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }),
    ),
    { maxLength: 8 },
  ),
});

const http1Case = (limit: number): fc.Arbitrary<Http1Case> =>
  fc.record({
    kind: fc.constant('http1' as const),
    target: fc.constantFrom<'http' | 'grpc' | 'api'>('http', 'http', 'http', 'grpc', 'api'),
    method: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('POST', 'GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') },
      { weight: 1, arbitrary: fc.constantFrom('CONNECT', 'PRI', 'P', 'GeT', 'X-Y', '') },
    ),
    path: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('/echo', '/v1/functions') },
      { weight: 2, arbitrary: randomPath },
      { weight: 1, arbitrary: controlPath },
      { weight: 2, arbitrary: pexecPath },
      { weight: 1, arbitrary: fc.constantFrom('*', 'http://x/echo', '//echo', '/echo?%zz=1', '/echo#x') },
    ),
    host,
    md: metadata(limit),
    body,
    splits: fc.array(fc.integer({ min: 1, max: 200 }), { maxLength: 3 }),
  });

const listener = fc.constantFrom<FuzzListener>('grpc', 'grpcCallback', 'http', 'httpCallback', 'api');
const garbageCase: fc.Arbitrary<GarbageCase> = fc.record({
  kind: fc.constant('garbage' as const),
  listener,
  prefix: fc.constantFrom(
    '',
    '',
    'P',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    'GET / HTTP/1.1\r\n',
    'CONNECT /v1/proxy HTTP/1.1\r\nHost: x\r\n',
    'POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03',
  ),
  bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 512 }),
  halfClose: fc.boolean(),
});

/**
 * Every fuzz case kind, weighted towards requests that reach the routers.
 * @param limit the front ends' SWITCHYARD_MAX_HEADER_LIST_BYTES.
 * @param echoPath the gRPC path of Echo.Unary.
 */
export function fuzzCase(limit: number, echoPath: string): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { weight: 4, arbitrary: h2Case(limit, echoPath) },
    { weight: 1, arbitrary: fc.oneof(h2RawFields, h2RawMetadata) },
    { weight: 4, arbitrary: http1Case(limit) },
    { weight: 2, arbitrary: garbageCase },
  );
}
