// Wire names of the NVCF contract (shared/spec/NVCF-WIRE.md). The only place that spells them:
// every service imports these constants rather than writing the strings again.

/** gRPC metadata keys and HTTP header names a client sends or receives (G1, G5, G7, G12, G13, H4, H5). */
export const Metadata = {
  /** `Bearer <api-key>` (G1). */
  authorization: 'authorization',
  /** Function UUID (G1). */
  functionId: 'function-id',
  /** Function version UUID, optional (G1). */
  functionVersionId: 'function-version-id',
  /** Session request ID, UUIDv4 (G1, G5, G7). */
  requestId: 'nvcf-reqid',
  /** Browser WebSocket credentials carrier (G7, G12). */
  secWebSocketProtocol: 'sec-websocket-protocol',
  /** Pre-allocation switch (G13). */
  absorb: 'x-nvcf-absorb',
  cookie: 'cookie',
  setCookie: 'set-cookie',
  /** H5, H8, H9. */
  nvcfStatus: 'nvcf-status',
  pollSeconds: 'nvcf-poll-seconds',
} as const;

/** Cookie that carries the session request ID (G5, G7, G8). */
export const REQUEST_ID_COOKIE = 'nvcf-request-id';

/** Headers the worker adds for the container (H4); a client cannot set them. */
export const ContainerHeaders = {
  requestId: 'nvcf-reqid',
  functionId: 'nvcf-function-id',
  functionVersionId: 'nvcf-function-version-id',
  invocationRegion: 'nvcf-invocation-region',
  pollSeconds: 'nvcf-poll-seconds',
} as const;

/**
 * Headers used only between a proxy and a worker over a tunnel (W1). A client never sees them and
 * the proxy strips any a client sends.
 */
export const TunnelHeaders = {
  /** Worker identity on `CONNECT /v1/proxy` (W1). */
  workerId: 'x-worker-id',
  /**
   * Features the dialling worker supports, comma-separated, on `CONNECT /v1/proxy` (W1): the proxy or
   * invocation instance uses a feature only with a worker that announced it (see {@link TunnelFeatures}).
   */
  features: 'x-switchyard-features',
  /**
   * Proof of the worker's identity on `CONNECT /v1/proxy` and in its NATS attaches (W1): a random
   * secret the worker makes at start and never shows anyone else. A front end binds a worker ID to
   * the secret of its open tunnel, so a CONNECT naming another worker's ID with a different secret is
   * refused (403) and that worker's tunnel stays (no takeover). On CONNECT the worker also names its
   * function version with {@link TunnelHeaders.functionVersionId}.
   */
  workerSecret: 'x-switchyard-worker-secret',
  /** On a refused `CONNECT /v1/proxy`: the catalogue code of the refusal (e.g. SY_TUNNEL_WORKER_MISMATCH). */
  errorCode: 'x-switchyard-error-code',
  /** Session a tunnel stream belongs to. */
  requestId: 'x-switchyard-reqid',
  functionId: 'x-switchyard-function-id',
  functionVersionId: 'x-switchyard-function-version-id',
  /**
   * `1` marks a control request (attach/detach) rather than a forwarded call; the worker trusts the
   * marker, not the path. Only a front end sets it; front ends drop it (with every tunnel header) from
   * client requests.
   */
  control: 'x-switchyard-control',
  /**
   * On an HTTP request an invocation instance offers a worker directly over its tunnel, without a
   * ticket (the warm path, feature `warm-path`): `stream` when the body follows the admission, which
   * the worker gives as an informational `:status 100`; `whole` when the request already carries its
   * whole body (or none), which needs no admission. Without a free capacity unit the worker resets the
   * stream with REFUSED_STREAM (not processed; the request then takes the ticket path).
   */
  direct: 'x-switchyard-direct',
  /**
   * `websocket` on a tunnel stream that carries a client's WebSocket (G12): the worker opens an
   * HTTP/1.1 Upgrade to the container; on a response, it says the container switched protocols, and
   * the stream's DATA in both directions are then the raw WebSocket bytes.
   */
  upgrade: 'x-switchyard-upgrade',
} as const;

/** Values of `x-switchyard-direct` (see {@link TunnelHeaders.direct}). */
export const DirectBody = {
  /** The body follows the worker's admission (`:status 100`). */
  stream: 'stream',
  /** The request carries its whole body, or none: no admission needed. */
  whole: 'whole',
} as const;

/** Features a worker announces in `x-switchyard-features` when it dials a tunnel (W1). */
export const TunnelFeatures = {
  /** Takes HTTP requests offered without a ticket (`x-switchyard-direct`; docs/architecture.md). */
  warmPath: 'warm-path',
  /**
   * Takes calls framed on one long-lived stream of the tunnel (issue 12): the front end opens it with
   * `POST {@link TunnelControlPaths.mux}` marked as control, and every call then travels as frames on
   * it (@switchyard/tunnel mux-frames.ts) instead of as an HTTP/2 stream of its own.
   */
  mux: 'mux',
  /**
   * Also takes one-shot HTTP requests (ticketed and warm offers, H2-H10) framed on the mux streams of
   * feature `mux`, with an informational `:status 100` framed as HEADERS before the answer. A worker that
   * announced `mux` without it (an older release) takes only session calls there, so an invocation
   * instance frames HTTP requests only to a worker that announced this.
   */
  httpMux: 'http-mux',
} as const;

/** Path of the tunnel registration request on the callback listener (W1). */
export const TUNNEL_CONNECT_PATH = '/v1/proxy';

/** Control paths a proxy calls on a worker over a tunnel (prefix is never forwarded to a container). */
export const TunnelControlPaths = {
  prefix: '/_switchyard/',
  /** `POST /_switchyard/v1/sessions/<reqId>/attach`: one more client connection uses the session. */
  attach: (reqId: string) => `/_switchyard/v1/sessions/${reqId}/attach`,
  /** `POST /_switchyard/v1/sessions/<reqId>/detach`: one client connection stopped using it. */
  detach: (reqId: string) => `/_switchyard/v1/sessions/${reqId}/detach`,
  /** `POST /_switchyard/v1/mux` (control-marked): the stream that carries framed calls (feature `mux`). */
  mux: '/_switchyard/v1/mux',
} as const;

/** Default listener ports (G*, H*, W1). */
export const DefaultPorts = {
  grpcProxy: 10081,
  grpcProxyCallback: 10086,
  invocation: 8080,
  invocationCallback: 10087,
  api: 8088,
  geodns: 5353,
} as const;

/**
 * Header fields that never cross an HTTP hop (RFC 9110 7.6.1, RFC 9113 8.2.2), plus `host` and
 * `expect` that each hop sets itself: dropped when a request or response moves between HTTP/1.1 and
 * HTTP/2 (invocation service, worker HTTP and WebSocket upstreams, H4).
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'te',
  'trailer',
  'host',
  'expect',
]);

/** No extra names: what {@link connectionTokens} answers for an absent or plain `keep-alive`/`close` header. */
const NO_TOKENS: readonly string[] = [];

/**
 * Names listed in a `connection` header, hop-by-hop too (RFC 9110 7.6.1). Runs per request, so the
 * usual values (absent, `keep-alive`, `close`, which name only fields that are hop-by-hop anyway)
 * return one shared empty array.
 * @returns lower-case names, possibly empty; never throws.
 */
export function connectionTokens(value: string | string[] | undefined): readonly string[] {
  if (value === undefined || value === 'keep-alive' || value === 'close') return NO_TOKENS;
  return (Array.isArray(value) ? value.join(',') : value)
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}
