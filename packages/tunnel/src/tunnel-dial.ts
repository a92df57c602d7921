// The worker end of a tunnel (W1): dial `CONNECT /v1/proxy` on a proxy's callback listener with a
// single-use token, then serve HTTP/2 on that socket (the proxy is the HTTP/2 client). Streams the
// proxy opens arrive through `onStream`.

import { randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { isIP, type Socket } from 'node:net';
import {
  ErrorCatalogue,
  type ErrorCode,
  SwitchyardError,
  TUNNEL_CONNECT_PATH,
  TunnelHeaders,
} from '@switchyard/protocol';
import { DEFAULT_MAX_SESSION_MEMORY_MB, H2_SETTINGS, widenConnectionWindow } from './h2-settings.ts';
import { TunnelEnd } from './tunnel-end.ts';
import { DEFAULT_TUNNEL_PING_INTERVAL_MS } from './tunnel-ping.ts';

/** The worker secret of dials that name none: random, made once per process, never shown but on CONNECT. */
export const PROCESS_WORKER_SECRET = randomBytes(32).toString('base64url');

/** Handler of a stream the proxy opened over a tunnel. */
export type TunnelStreamHandler = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  tunnel: WorkerTunnel,
) => void;

/** Options of {@link dialTunnel}. */
export interface DialTunnelOptions {
  /**
   * `http://host:port` or `https://host:port` of the callback listener (from a ticket or reconnect
   * request). With https the CONNECT goes over TLS and the server's certificate must be valid for the
   * URI's host and signed by `tlsCa` (or a system root when `tlsCa` is not set).
   */
  callbackUri: string;
  /** PEM CA bundle that https callback listeners' certificates are checked against. @default system roots */
  tlsCa?: Buffer;
  /** Single-use token from the ticket or reconnect request. */
  token: string;
  /** This worker's ID (X-Worker-ID). */
  workerId: string;
  /**
   * This worker's identity secret (`x-switchyard-worker-secret`, 16..256 characters): proves `workerId`.
   * @default {@link PROCESS_WORKER_SECRET}, made once per process
   */
  workerSecret?: string;
  /** Function version this worker serves (`x-switchyard-function-version-id`); a ticket's token is bound to it. */
  versionId?: string;
  /** Called for every stream the proxy opens. */
  onStream: TunnelStreamHandler;
  /** Features this worker announces (`TunnelFeatures` values). @default [] */
  features?: readonly string[];
  /** Time allowed for TCP connect plus the CONNECT answer (ms). @default 10_000 */
  timeoutMs?: number;
  /** PING interval on the tunnel; a PING unanswered for this long drops it (ms). @default 10_000 */
  pingIntervalMs?: number;
}

/**
 * One tunnel as the worker sees it: an HTTP/2 server session on the socket it dialled. Emits `close`
 * once it takes no new streams (GOAWAY sent or received, PINGs unanswered, socket gone).
 */
export class WorkerTunnel extends TunnelEnd<http2.ServerHttp2Session> {
  /** Callback URI this tunnel was dialled to. */
  readonly callbackUri: string;

  /** @param pingIntervalMs a proxy that vanished without a FIN must be noticed to start the reconnect window (W3). */
  constructor(
    callbackUri: string,
    session: http2.ServerHttp2Session,
    pingIntervalMs: number = DEFAULT_TUNNEL_PING_INTERVAL_MS,
  ) {
    super(session, pingIntervalMs);
    this.callbackUri = callbackUri;
  }
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'SY_TUNNEL_WORKER_ID_INVALID',
  401: 'SY_TUNNEL_AUTH_MISSING',
  403: 'SY_TUNNEL_TOKEN_REJECTED',
};

/**
 * Dials a tunnel. Resolves once the proxy answered 200 and HTTP/2 is being served on the socket.
 * @throws SwitchyardError SY_TUNNEL_AUTH_MISSING (401), SY_TUNNEL_WORKER_ID_INVALID (400),
 *   SY_TUNNEL_TOKEN_REJECTED (403: unknown, used, or past its 30 s), SY_TUNNEL_WORKER_MISMATCH (403:
 *   another worker's ID, or a token bound to another worker or version), SY_TUNNEL_DIAL_FAILED (connect error, timeout, other status).
 */
export function dialTunnel(options: DialTunnelOptions): Promise<WorkerTunnel> {
  const url = new URL(options.callbackUri);
  return new Promise<WorkerTunnel>((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const request = secure
      ? (o: https.RequestOptions) =>
          https.request({
            ...o,
            // SNI carries names only; the certificate is checked against `host` either way.
            ...(isIP(host) ? {} : { servername: host }),
            ...(options.tlsCa ? { ca: options.tlsCa } : {}),
          })
      : http.request;
    const req = request({
      host,
      port: url.port || (secure ? 443 : 80),
      method: 'CONNECT',
      path: TUNNEL_CONNECT_PATH,
      headers: {
        authorization: `Bearer ${options.token}`,
        [TunnelHeaders.workerId]: options.workerId,
        [TunnelHeaders.workerSecret]: options.workerSecret ?? PROCESS_WORKER_SECRET,
        ...(options.versionId !== undefined ? { [TunnelHeaders.functionVersionId]: options.versionId } : {}),
        ...(options.features?.length ? { [TunnelHeaders.features]: options.features.join(',') } : {}),
      },
      timeout: options.timeoutMs ?? 10_000,
      agent: false,
    });
    req.on('timeout', () => req.destroy(new Error(`CONNECT to ${options.callbackUri} timed out`)));
    req.on('error', (err) => reject(new SwitchyardError('SY_TUNNEL_DIAL_FAILED', { detail: err.message, cause: err })));
    req.on('connect', (res, socket: Socket, head) => {
      req.setTimeout(0);
      if (res.statusCode !== 200) {
        socket.destroy();
        const said = res.headers[TunnelHeaders.errorCode];
        const code =
          typeof said === 'string' && said.startsWith('SY_TUNNEL_') && Object.hasOwn(ErrorCatalogue, said)
            ? (said as ErrorCode)
            : (STATUS_CODES[res.statusCode ?? 0] ?? 'SY_TUNNEL_DIAL_FAILED');
        reject(new SwitchyardError(code, { detail: `callback listener answered ${res.statusCode}` }));
        return;
      }
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 10_000);
      if (head.length > 0) socket.unshift(head);
      const server = http2.createServer({
        settings: H2_SETTINGS,
        maxSessionMemory: DEFAULT_MAX_SESSION_MEMORY_MB,
        // node:http2 closes a session after 1,000 invalid frames (and 100 rejected streams) over its
        // whole life: a flood guard for untrusted clients. A tunnel's peer is authenticated by a
        // single-use token and the tunnel lives for days, carrying every call; frames for streams a
        // cancel just closed add up, and a 10-minute HTTP soak lost its tunnel with
        // ERR_HTTP2_TOO_MANY_INVALID_FRAMES. Client-facing listeners keep node's defaults.
        maxSessionInvalidFrames: 2 ** 31 - 1,
        maxSessionRejectedStreams: 2 ** 31 - 1,
      });
      let tunnel: WorkerTunnel | undefined;
      server.on('session', (session) => {
        tunnel = new WorkerTunnel(options.callbackUri, session, options.pingIntervalMs);
        widenConnectionWindow(session);
      });
      server.on('stream', (stream, headers) => {
        if (tunnel) options.onStream(stream, headers, tunnel);
        else stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      });
      // node:http2's server hands a TLS socket whose ALPN is not h2 to HTTP/1.1 (or drops it); this
      // socket carries HTTP/2 because the CONNECT said so (W1), not because of ALPN.
      if ('alpnProtocol' in socket) (socket as { alpnProtocol: unknown }).alpnProtocol = 'h2';
      server.emit('connection', socket);
      if (!tunnel) {
        socket.destroy();
        reject(new SwitchyardError('SY_TUNNEL_DIAL_FAILED', { detail: 'no HTTP/2 session on the tunnel socket' }));
        return;
      }
      resolve(tunnel);
    });
    req.end();
  });
}
