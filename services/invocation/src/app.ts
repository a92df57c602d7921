// The HTTP invocation service (H1-H11): authenticates each request, publishes a one-shot ticket
// (kind 'http'), waits up to NVCF-POLL-SECONDS for a worker to attach over its tunnel (one tunnel per
// worker and instance, shared by every request), then relays the request and its answer as one HTTP/2
// stream over that tunnel: bodies piped both ways (backpressure end to end, nothing buffered whole),
// SSE passed chunk by chunk. A request still running at the end of its poll window is answered 202 and
// its result kept in Redis for `GET /v2/nvcf/pexec/status/{reqId}` on any replica.
//
// Capacity: an HTTP request holds one unit of its worker's capacity from the ticket until its tunnel
// stream closes; there is no session record and no reconnect window (nobody resumes an HTTP request).

import type http from 'node:http';
import http2 from 'node:http2';
import type { NatsConnection, Subscription } from '@nats-io/nats-core';
import type { ApiKeyRecord, Authorization, ControlStore } from '@switchyard/control-store';
import {
  ContainerHeaders,
  HOP_BY_HOP_HEADERS,
  isSwitchyardError,
  isUuid,
  Metadata,
  newRequestId,
  PROBLEM_CONTENT_TYPE,
  problemDocument,
  SwitchyardError,
  TunnelHeaders,
} from '@switchyard/protocol';
import { bucketKey, TokenBuckets } from '@switchyard/rate-limit';
import { RemoteResults } from '@switchyard/result-exchange';
import type { TicketQueue } from '@switchyard/ticket-queue';
import { type ProxyTunnel, readDeclaredBody, TunnelListener } from '@switchyard/tunnel';
import { FrontEndLink } from '@switchyard/worker-link';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ClientListener } from './client-listener.ts';
import type { InvocationConfig } from './config.ts';
import { type FunctionTarget, resolveTarget, type StatusTarget, upstreamPath } from './invocation-route.ts';
import { pollSeconds } from './poll-seconds.ts';
import { type PollOutcome, ResultStore } from './result-store.ts';
import { isRefused, offerDirect, WarmTunnels } from './warm-tunnels.ts';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

/** Either protocol's request and response (fastify's raw objects). */
type RawRequest = http.IncomingMessage | http2.Http2ServerRequest;
// Http2ServerResponse (compat API) offers every ServerResponse method used here; typed as one.
type RawResponse = http.ServerResponse;

/** Values of `nvcf-status` (H5). */
export const NvcfStatus = { fulfilled: 'fulfilled', inProgress: 'in-progress', errored: 'errored' } as const;

/** `nvcf-status` for a response status (H5): 202 in-progress, other 2xx-3xx fulfilled, else errored. */
export function nvcfStatusFor(status: number): string {
  if (status === 202) return NvcfStatus.inProgress;
  return status >= 200 && status < 400 ? NvcfStatus.fulfilled : NvcfStatus.errored;
}

/**
 * Client request headers that never reach the worker: the API key (H4), Switchyard's tunnel headers,
 * and the NVCF headers the worker sets for the container (H4: clients cannot set them).
 */
const DROP_TO_WORKER: ReadonlySet<string> = new Set([
  Metadata.authorization,
  ...Object.values(TunnelHeaders),
  ...Object.values(ContainerHeaders),
]);

const EXPOSE = 'access-control-expose-headers';

/**
 * Request bodies of at most this many bytes (by content-length) are read before a warm-path offer and
 * sent with it, so the offer does not wait for the worker's admission; larger ones stream after it.
 */
const WARM_INLINE_BODY_BYTES = 64 * 1024;

/** One request on its way to a worker. */
interface ForwardedCall {
  reqId: string;
  accountId: string;
  versionId: string;
  method: string;
  /** Path and query for the container (H2, H3). */
  path: string;
  /** End of the poll window (epoch ms): a 202 then (H9). */
  deadlineMs: number;
  startedMs: number;
  /** The whole body, when it was small enough to be read before a warm offer; else it is streamed. */
  inlineBody?: Buffer;
}

/** Names listed in a `connection` header (hop-by-hop too). */
function connectionTokens(value: string | string[] | undefined): Set<string> {
  if (value === undefined) return new Set();
  return new Set(
    (Array.isArray(value) ? value.join(',') : value)
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
}

/** Client request headers as sent to the worker over the tunnel (H3, H4). */
export function tunnelRequestHeaders(
  headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders,
  set: http2.OutgoingHttpHeaders,
): http2.OutgoingHttpHeaders {
  const listed = connectionTokens(headers.connection);
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP_HEADERS.has(name) || DROP_TO_WORKER.has(name))
      continue;
    if (listed.has(name)) continue;
    out[name] = value;
  }
  return Object.assign(out, set);
}

/** Container response headers as the client receives them (H4, H5). */
export function clientResponseHeaders(
  headers: http2.IncomingHttpHeaders | Record<string, string | string[]>,
  reqId: string,
  status: number,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':') || HOP_BY_HOP_HEADERS.has(name)) continue;
    out[name] = value as string | string[];
  }
  const expose = out[EXPOSE];
  out[EXPOSE] = expose ? `${expose}, ${Metadata.requestId}` : Metadata.requestId;
  out[Metadata.requestId] = reqId;
  out[Metadata.nvcfStatus] = nvcfStatusFor(status);
  return out;
}

/** Host of a request: `:authority` (HTTP/2) or `Host`. */
function hostOf(req: RawRequest): string | undefined {
  const h = req.headers as Record<string, string | string[] | undefined>;
  const value = h[':authority'] ?? h.host;
  return Array.isArray(value) ? value[0] : value;
}

/** True when the request carries a body (DATA frames, Content-Length > 0, or chunked). */
function hasBody(req: RawRequest): boolean {
  if ('stream' in req && req.stream) return !req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * True when the response was completely sent. HTTP/2 compat responses report `writableFinished` (and
 * emit 'finish') even when the client reset the stream, so the stream itself is asked.
 */
function responseFinished(req: RawRequest, res: RawResponse): boolean {
  if ('stream' in req && req.stream) return req.stream.writableFinished && req.stream.rstCode === NGHTTP2_NO_ERROR;
  return res.writableFinished;
}

/** Ends a client response abruptly (a truncated body must never look complete). */
function abortResponse(req: RawRequest, res: RawResponse): void {
  if ('stream' in req && req.stream) {
    if (!req.stream.destroyed && !req.stream.closed) req.stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  res.destroy();
}

/** What {@link InvocationService} needs from outside; tests pass real instances. */
export interface InvocationDeps {
  nc: NatsConnection;
  control: ControlStore;
  queue: TicketQueue;
  /** The region's Redis: 202 results (H9) and rate limits (H10). */
  redis: Redis;
  logger: Logger;
}

/** The service. `listen()` opens both listeners; `close()` drains. */
export class InvocationService {
  readonly config: InvocationConfig;
  readonly tunnels: TunnelListener;
  /** The fastify instance (built, not listening until `listen()`). */
  readonly app: FastifyInstance;
  readonly results: ResultStore;
  /** Status polls from any region (H9): lookups in the other regions, and answers to theirs. */
  readonly remoteResults: RemoteResults;
  readonly #deps: InvocationDeps;
  readonly #log: Logger;
  readonly #buckets: TokenBuckets;
  /** Tickets and workers' NATS attaches (see @switchyard/worker-link). */
  readonly #link: FrontEndLink;
  /** Workers' tunnels by version, for the warm path (see warm-tunnels.ts). */
  readonly #warm = new WarmTunnels();
  readonly #subs: Subscription[] = [];
  #listener!: ClientListener;
  #closing = false;
  #inFlight = 0;

  constructor(config: InvocationConfig, deps: InvocationDeps) {
    this.config = config;
    this.#deps = deps;
    this.#log = deps.logger;
    this.tunnels = new TunnelListener({
      host: config.callbackHost,
      port: config.callbackPort,
      tokenTtlMs: config.tokenTtlMs,
    });
    this.tunnels.on('tunnel-closed', (t) =>
      this.#log.info({ workerId: t.workerId, reason: t.closeReason }, 'tunnel closed'),
    );
    this.#link = new FrontEndLink({
      nc: deps.nc,
      instanceId: config.instanceId,
      tunnels: this.tunnels,
      queue: deps.queue,
      maxQueuePerVersion: config.maxQueuePerVersion,
    });
    this.results = new ResultStore(deps.redis, {
      ttlMs: config.resultTtlMs,
      maxBytes: config.maxResultBytes,
      chunkBytes: config.resultChunkBytes,
    });
    this.remoteResults = new RemoteResults(
      deps.nc,
      this.results,
      { region: config.region, remoteRegions: config.remoteRegions, timeoutMs: config.remoteLookupTimeoutMs },
      deps.logger,
    );
    this.#buckets = new TokenBuckets(deps.redis);
    this.app = Fastify({
      logger: false,
      // One server for HTTP/1.1 and h2c (or TLS with both): see client-listener.ts.
      serverFactory: (handler) => {
        this.#listener = new ClientListener(handler as never, {
          idleTimeoutMs: config.idleTimeoutMs,
          tlsCertFile: config.tlsCertFile,
          tlsKeyFile: config.tlsKeyFile,
        });
        return this.#listener.server as unknown as http.Server;
      },
      return503OnClosing: false,
    });
    // Bodies are never parsed nor buffered: the handler pipes request.raw (H3, "no body size limit").
    this.app.removeAllContentTypeParsers();
    this.app.addContentTypeParser('*', (_request, _payload, done) => done(null));
    this.app.all('*', (request, reply) => {
      reply.hijack();
      this.#handle(request.raw as RawRequest, reply.raw as RawResponse);
    });
  }

  /** Requests being handled by this instance (202 results still being stored included). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Opens the callback listener, subscribes to the attach subject, then opens the client listener.
   * Resolves with the bound ports. @throws listen errors (EADDRINUSE...).
   */
  async listen(): Promise<{ port: number; callbackPort: number }> {
    const callbackPort = await this.tunnels.listen();
    await this.#link.serve({ callbackUri: this.config.callbackUri ?? `http://127.0.0.1:${callbackPort}` });
    this.#subs.push(this.remoteResults.serve());
    await this.#deps.nc.flush();
    await this.app.listen({ host: this.config.host, port: this.config.port });
    const address = this.app.server.address() as { port: number };
    return { port: address.port, callbackPort };
  }

  /**
   * Drains: new requests get 503, HTTP/2 clients GOAWAY, requests in flight get up to
   * `drainTimeoutMs` to finish, then connections and tunnels close. Does not close NATS or Redis.
   */
  async close(): Promise<void> {
    this.#closing = true;
    this.#link.close();
    for (const sub of this.#subs) sub.unsubscribe();
    this.#listener.drain(this.config.drainTimeoutMs);
    const until = Date.now() + this.config.drainTimeoutMs;
    while (this.#inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    this.#listener.destroyAll();
    await this.app.close();
    await this.tunnels.close();
  }

  // --- requests ---

  #handle(req: RawRequest, res: RawResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const target = resolveTarget(method, url, hostOf(req), req.headers);
    if (target.kind === 'none') {
      this.#problem(req, res, new SwitchyardError('SY_ROUTE_NOT_FOUND', { detail: target.detail }));
      return;
    }
    this.#inFlight++;
    res.once('close', () => this.#inFlight--);
    if (target.kind === 'status') void this.#status(req, res, target);
    else void this.#invoke(req, res, target, method, url);
  }

  /** Answers with a problem document (H10), `nvcf-status: errored`, and the request ID when there is one. */
  #problem(req: RawRequest, res: RawResponse, err: unknown, reqId?: string): void {
    if (!isSwitchyardError(err)) this.#log.error({ err, reqId }, 'unexpected error handling a request');
    const problem = problemDocument(isSwitchyardError(err) ? err : new SwitchyardError('SY_INTERNAL'));
    if (res.headersSent) {
      abortResponse(req, res);
      return;
    }
    if (res.destroyed || res.writableEnded) return;
    // Unread request body: let it drain (HTTP/1.1 keep-alive) rather than stall the connection.
    req.resume();
    const body = JSON.stringify(problem);
    const headers: Record<string, string> = {
      'content-type': PROBLEM_CONTENT_TYPE,
      'content-length': String(Buffer.byteLength(body)),
      [Metadata.nvcfStatus]: NvcfStatus.errored,
      [EXPOSE]: Metadata.requestId,
    };
    if (reqId) headers[Metadata.requestId] = reqId;
    try {
      res.writeHead(problem.status, headers);
      res.end(body);
    } catch {
      // The client reset the stream meanwhile.
    }
  }

  async #invoke(req: RawRequest, res: RawResponse, target: FunctionTarget, method: string, url: string): Promise<void> {
    const startedMs = Date.now();
    const reqId = newRequestId();
    const h = req.headers;
    let gone = false;
    let onGone: (() => void) | undefined;
    res.once('close', () => {
      if (!responseFinished(req, res)) {
        gone = true;
        onGone?.();
      }
    });
    let auth: Authorization;
    let pollMs: number;
    try {
      if (this.#closing) throw new SwitchyardError('SY_SHUTTING_DOWN');
      pollMs = pollSeconds(h[Metadata.pollSeconds], h.accept, this.config) * 1000;
      auth = await this.#deps.control.authorizeFresh({
        authorization: h.authorization,
        functionId: target.functionId,
        versionId: target.versionId,
      });
      await this.#buckets.take([
        { key: bucketKey('key', auth.key.keyId), perMinute: this.config.rateLimitPerKeyPerMinute },
        { key: bucketKey('function', auth.fn.functionId), perMinute: this.config.rateLimitPerFunctionPerMinute },
      ]);
    } catch (err) {
      this.#problem(req, res, err, reqId);
      return;
    }
    const call: ForwardedCall = {
      reqId,
      accountId: auth.key.accountId,
      versionId: auth.version.versionId,
      method,
      path: upstreamPath(target, url, auth.fn.inferenceUrl),
      deadlineMs: startedMs + pollMs,
      startedMs,
    };
    const warm = this.config.warmPath ? this.#warm.pick(call.versionId) : undefined;
    if (warm) {
      // The warm path: offered straight to a worker that served this version here before.
      let body: 'none' | 'later' | Buffer = hasBody(req) ? 'later' : 'none';
      const length = Number(req.headers['content-length']);
      if (body === 'later' && req.headers['content-length'] !== undefined && length <= WARM_INLINE_BODY_BYTES) {
        const read = await readDeclaredBody(req, length);
        if (read === undefined) {
          if (!gone)
            this.#problem(
              req,
              res,
              new SwitchyardError('SY_REQUEST_INVALID', { detail: 'body not as long as its content-length' }),
              reqId,
            );
          return;
        }
        if (gone) return;
        call.inlineBody = read;
        body = read;
      }
      const abort = new AbortController();
      onGone = () => abort.abort();
      // Not processed by the worker: the ticket path, with the same call (a read body is kept).
      const viaTicket = () => {
        this.#warm.refused(call.versionId, warm);
        void this.#allocateAndForward(req, res, auth, call, (cancel) => {
          onGone = cancel;
        });
      };
      offerDirect(warm, this.#tunnelHeaders(req, call), call.versionId, body, abort.signal, (outcome) => {
        onGone = undefined;
        if (gone) return;
        if (outcome.admitted) this.#forward(req, res, warm, call, outcome.stream, viaTicket);
        else if (outcome.reason === 'lost') this.#problem(req, res, new SwitchyardError('SY_TUNNEL_LOST'), reqId);
        else viaTicket();
      });
      return;
    }
    await this.#allocateAndForward(req, res, auth, call, (cancel) => {
      onGone = cancel;
    });
  }

  /** The ticket path: a ticket (FrontEndLink.allocate), then {@link #forward} over the tunnel of the worker that took it. */
  async #allocateAndForward(
    req: RawRequest,
    res: RawResponse,
    auth: Authorization,
    call: ForwardedCall,
    onCancel: (cancel: (() => void) | undefined) => void,
  ): Promise<void> {
    let gone = false;
    let tunnel: ProxyTunnel | undefined;
    const abort = new AbortController();
    onCancel(() => {
      gone = true;
      abort.abort();
    });
    try {
      tunnel = await this.#link.allocate({
        reqId: call.reqId,
        accountId: auth.key.accountId,
        functionId: auth.fn.functionId,
        versionId: auth.version.versionId,
        kind: 'http',
        deadlineMs: call.deadlineMs,
        tokenTtlMs: this.config.tokenTtlMs,
        signal: abort.signal,
        timeoutHint: ' (NVCF-POLL-SECONDS)',
      });
    } catch (err) {
      this.#problem(req, res, err, call.reqId);
      return;
    } finally {
      onCancel(undefined);
    }
    if (!tunnel || gone || res.destroyed) return;
    if (this.config.warmPath) this.#warm.add(call.versionId, tunnel);
    this.#forward(req, res, tunnel, call);
  }

  /** Tunnel request headers of `call` (H3, H4). */
  #tunnelHeaders(req: RawRequest, call: ForwardedCall): http2.OutgoingHttpHeaders {
    return tunnelRequestHeaders(req.headers, {
      ':method': call.method,
      ':path': call.path,
      ':scheme': 'http',
      ':authority': hostOf(req) ?? 'invocation',
      [Metadata.requestId]: call.reqId,
      // H4: the time left of the poll window, for the container.
      [ContainerHeaders.pollSeconds]: String(Math.max(1, Math.ceil((call.deadlineMs - Date.now()) / 1000))),
    });
  }

  // --- the relay (H3-H7, H9) ---

  /**
   * Relays `call` over `tunnel`: opens its stream (or takes `opened`, a warm-path stream), pipes the
   * body, streams the answer back, or goes to the background at the end of the poll window (H9).
   * `onRefused` takes over when the worker resets `opened` with REFUSED_STREAM before any answer (a
   * warm offer with its whole body, not processed).
   */
  #forward(
    req: RawRequest,
    res: RawResponse,
    tunnel: ProxyTunnel,
    call: ForwardedCall,
    opened?: http2.ClientHttp2Stream,
    onRefused?: () => void,
  ): void {
    const { reqId } = call;
    const inline = call.inlineBody;
    // A body still to stream from the client (an inline body was read already).
    const body = inline === undefined && hasBody(req);
    let out: http2.ClientHttp2Stream;
    try {
      if (opened) out = opened;
      else {
        out = tunnel.session.request(this.#tunnelHeaders(req, call), { endStream: !body && !inline });
        if (inline) out.end(inline);
      }
    } catch {
      this.#problem(req, res, new SwitchyardError('SY_TUNNEL_LOST'), reqId);
      return;
    }
    out.on('error', () => {
      // Handled on 'close'.
    });
    // The worker's unit is free again once the stream ends: it may take the next warm offer.
    out.once('close', () => this.#warm.released(call.versionId, tunnel));
    // 'waiting' for the answer's headers; 'streaming' it to the client; 'background' after a 202 (H9).
    let phase: 'waiting' | 'streaming' | 'background' | 'done' = 'waiting';
    let responded = false;
    let begun: Promise<boolean> | undefined;
    let requestTimer: NodeJS.Timeout | undefined;
    let pollTimer: NodeJS.Timeout | undefined;
    const cancelOut = () => {
      if (!out.closed && !out.destroyed) out.close(NGHTTP2_CANCEL);
    };

    if (body) {
      // A client that goes away mid-upload resets the worker stream: the HTTP/2 compat request ends
      // its body cleanly on a reset, and a truncated upload must never reach the container as complete.
      req.once('aborted', () => {
        req.unpipe(out);
        cancelOut();
      });
      req.pipe(out);
      out.once('close', () => {
        req.unpipe(out);
        // A body the worker no longer wants is drained, not left to stall the connection.
        if (!req.readableEnded) req.resume();
      });
    }

    const store = (status: number, responseHeaders: Record<string, string | string[]>) => {
      void (async () => {
        const ok = await begun;
        if (!ok) {
          cancelOut();
          return;
        }
        try {
          await this.results.complete(reqId, status, responseHeaders, out, cancelOut);
        } catch (err) {
          this.#log.warn({ err, reqId }, 'could not store the result of a 202 request');
          cancelOut();
        }
      })().finally(() => {
        phase = 'done';
        clearTimeout(requestTimer);
        this.#inFlight--;
      });
    };

    out.on('response', (rh) => {
      responded = true;
      const status = Number(rh[':status']);
      if (phase === 'background') {
        store(status, clientResponseHeaders(rh, reqId, status));
        return;
      }
      if (phase !== 'waiting') return;
      phase = 'streaming';
      clearTimeout(pollTimer);
      try {
        res.writeHead(status, clientResponseHeaders(rh, reqId, status));
        // A streamed answer (SSE, chunked: no content-length) gets its headers at once: SSE clients wait
        // for them before the first event (H6). A sized answer's headers leave with its first bytes,
        // in one write. (HTTP/2 compat sends them in writeHead already.)
        if (rh['content-length'] === undefined) (res as { flushHeaders?: () => void }).flushHeaders?.();
      } catch {
        cancelOut();
        return;
      }
      out.pipe(res as NodeJS.WritableStream);
    });

    // Lost: reset, or the tunnel's session destroyed under the stream (no trailers, dead session).
    let lost = false;
    out.on('end', () => {
      if (tunnel.session.destroyed) lost = true;
    });
    out.on('close', () => {
      clearTimeout(pollTimer);
      const clean = !lost && out.readableEnded && (out.rstCode === undefined || out.rstCode === NGHTTP2_NO_ERROR);
      if (phase === 'waiting') {
        phase = 'done';
        clearTimeout(requestTimer);
        if (onRefused && !responded && isRefused(out) && !res.writableEnded && !res.destroyed) {
          onRefused();
          return;
        }
        if (!res.writableEnded && !res.destroyed)
          this.#problem(req, res, new SwitchyardError(clean ? 'SY_UPSTREAM_FAILED' : 'SY_TUNNEL_LOST'), reqId);
        return;
      }
      if (phase === 'streaming') {
        phase = 'done';
        clearTimeout(requestTimer);
        if (!clean) {
          out.unpipe(res as NodeJS.WritableStream);
          abortResponse(req, res);
        }
        return;
      }
      if (phase === 'background' && !responded) {
        // The 202 went out and the worker never answered: the poll gets the failure.
        void begun
          ?.then((ok) => (ok ? this.results.fail(reqId, 'SY_TUNNEL_LOST') : undefined))
          .catch(() => undefined)
          .finally(() => {
            phase = 'done';
            clearTimeout(requestTimer);
            this.#inFlight--;
          });
      }
    });

    // The client went away: cancel at the worker (RST_STREAM CANCEL -> the worker aborts the container request).
    res.once('close', () => {
      if ((phase === 'waiting' || phase === 'streaming') && !responseFinished(req, res)) {
        phase = 'done';
        clearTimeout(pollTimer);
        clearTimeout(requestTimer);
        cancelOut();
      }
    });

    // H9: no answer within the poll window -> 202, and the answer is kept for a status poll.
    const goBackground = () => {
      if (phase !== 'waiting' || res.writableEnded || res.destroyed) return;
      // A request still uploading cannot be answered yet: the 202 waits for the end of its body.
      if (body && !req.readableEnded) {
        req.once('end', () => setImmediate(goBackground));
        return;
      }
      phase = 'background';
      this.#inFlight++; // held until the result is stored (drain waits for it)
      begun = this.results.begin(reqId, call.accountId).then(
        () => true,
        (err) => {
          this.#log.warn({ err, reqId }, 'result store unavailable; the request is cancelled');
          return false;
        },
      );
      void begun.then((ok) => {
        if (res.writableEnded || res.destroyed) return;
        if (!ok) {
          this.#problem(req, res, new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE'), reqId);
          return;
        }
        try {
          res.writeHead(202, {
            [Metadata.requestId]: reqId,
            [Metadata.nvcfStatus]: NvcfStatus.inProgress,
            [EXPOSE]: Metadata.requestId,
            'content-length': '0',
          });
          res.end();
        } catch {
          // Client gone: the result is still stored for a later poll.
        }
      });
    };
    pollTimer = setTimeout(goBackground, Math.max(0, call.deadlineMs - Date.now()));

    if (this.config.requestTimeoutMs > 0) {
      requestTimer = setTimeout(
        () => {
          if (phase === 'done') return;
          const wasBackground = phase === 'background';
          const hadResponse = phase === 'streaming';
          phase = wasBackground ? 'background' : 'done';
          clearTimeout(pollTimer);
          if (wasBackground) {
            if (!responded)
              void begun
                ?.then((ok) => (ok ? this.results.fail(reqId, 'SY_REQUEST_TIMEOUT') : undefined))
                .catch(() => undefined);
            cancelOut();
            return;
          }
          cancelOut();
          if (hadResponse) abortResponse(req, res);
          else this.#problem(req, res, new SwitchyardError('SY_REQUEST_TIMEOUT'), reqId);
        },
        Math.max(0, call.startedMs + this.config.requestTimeoutMs - Date.now()),
      );
      requestTimer.unref();
    }
  }

  // --- status polls (H9) ---

  async #status(req: RawRequest, res: RawResponse, target: StatusTarget): Promise<void> {
    const reqId = target.requestId;
    let key: ApiKeyRecord;
    let waitMs = 0;
    try {
      key = await this.#authenticate(req.headers.authorization);
      if (req.headers[Metadata.pollSeconds] !== undefined)
        waitMs = pollSeconds(req.headers[Metadata.pollSeconds], undefined, this.config) * 1000;
      if (!isUuid(reqId)) throw new SwitchyardError('SY_RESULT_NOT_FOUND', { detail: 'not a request ID' });
    } catch (err) {
      this.#problem(req, res, err, isUuid(reqId) ? reqId : undefined);
      return;
    }
    // With NVCF-POLL-SECONDS the poll waits (checking Redis every 250 ms) up to that long for the result.
    const until = Date.now() + waitMs;
    let outcome: PollOutcome;
    // The region that last answered 'pending' for this result: later checks ask it alone.
    const where: { region?: string } = {};
    try {
      for (;;) {
        outcome = await this.#pollAnywhere(reqId, key.accountId, where);
        if (outcome.state !== 'pending' || Date.now() >= until || res.destroyed) break;
        await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
      }
    } catch (err) {
      this.#problem(req, res, err, reqId);
      return;
    }
    if (outcome.state === 'missing') {
      this.#problem(req, res, new SwitchyardError('SY_RESULT_NOT_FOUND'), reqId);
      return;
    }
    if (outcome.state === 'pending') {
      res.writeHead(202, {
        [Metadata.requestId]: reqId,
        [Metadata.nvcfStatus]: NvcfStatus.inProgress,
        [EXPOSE]: Metadata.requestId,
        'content-length': '0',
      });
      res.end();
      return;
    }
    const { result } = outcome;
    try {
      res.writeHead(result.status, clientResponseHeaders(result.headers, reqId, result.status));
      for await (const chunk of result.body) {
        if (res.destroyed) break;
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    } catch (err) {
      this.#log.warn({ err, reqId }, 'could not send a stored result');
      abortResponse(req, res);
    }
  }

  /**
   * One check of a status poll (H9): this region's Redis, then, on a miss, the other regions
   * (`remoteRegions`, in parallel; only `where.region` once a region answered 'pending').
   * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE (503): local Redis failed, or a remote region
   *   did not answer in time and none had the result.
   */
  async #pollAnywhere(reqId: string, accountId: string, where: { region?: string }): Promise<PollOutcome> {
    const local = await this.results.poll(reqId, accountId);
    if (local.state !== 'missing' || this.remoteResults.remoteRegions.length === 0) return local;
    const remote = await this.remoteResults.lookup(
      reqId,
      accountId,
      where.region === undefined ? undefined : [where.region],
    );
    if (remote.state === 'pending') where.region = remote.region;
    if (remote.state === 'ready') return { state: 'ready', result: remote.result };
    return remote.state === 'pending' ? { state: 'pending' } : { state: 'missing' };
  }

  /**
   * The API key of a status poll (`Authorization: Bearer <key>`).
   * @throws SwitchyardError SY_AUTH_MISSING, SY_CONTROL_UNAVAILABLE, SY_AUTH_INVALID.
   */
  async #authenticate(authorization: string | undefined): Promise<ApiKeyRecord> {
    const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (match === null) throw new SwitchyardError('SY_AUTH_MISSING');
    if (!this.#deps.control.available) throw new SwitchyardError('SY_CONTROL_UNAVAILABLE');
    const key = await this.#deps.control.authenticateFresh(match[1]);
    if (key === undefined) throw new SwitchyardError('SY_AUTH_INVALID');
    return key;
  }
}
