// The relay of one request over a worker's tunnel (H3-H7, H9): opens a stream on the tunnel (an HTTP/2
// stream, or a call on its mux: tunnel-upstream.ts), or takes a warm-path stream, copies the body up
// (backpressure end to end, nothing buffered whole) and the answer down (SSE chunk by chunk), and at
// the end of the poll window answers 202 and keeps the answer in the result store for a status poll
// (H9). A request is in one phase: 'waiting' for the answer's
// headers, 'streaming' it to the client, 'background' after a 202, then 'done'.

import http2 from 'node:http2';
import { Readable } from 'node:stream';
import type { CallEndCode, CallEnding } from '@switchyard/control-store';
import { ContainerHeaders, Metadata, SwitchyardError } from '@switchyard/protocol';
import { type Context, context, injectTraceHeaders, type Span, startTunnelSpan, trace } from '@switchyard/telemetry';
import { type ProxyTunnel, pumpStream, readableOf } from '@switchyard/tunnel';
import {
  clientResponseHeaders,
  hasBody,
  hostOf,
  type RawRequest,
  type RawResponse,
  tunnelRequestHeaders,
} from './http-headers.ts';
import { abortResponse, responseFinished, sendInProgress, sendProblem } from './http-response.ts';
import type { RequestContext } from './request-context.ts';
import { endTunnelSpan, tracer } from './request-span.ts';
import { type TunnelCallStream, upstreamOf } from './tunnel-upstream.ts';
import { isRefused } from './warm-tunnels.ts';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** A tunnel stream's 'error' listener: its 'close' says what the relay needs to know. */
function ignoreError(): void {}

/** One request on its way to a worker. */
export interface ForwardedCall {
  /** Request ID (UUIDv4), `nvcf-reqid`. */
  reqId: string;
  accountId: string;
  versionId: string;
  method: string;
  /** Path and query for the container (H2, H3). */
  path: string;
  /** End of the poll window (epoch ms): a 202 then (H9). */
  deadlineMs: number;
  /** When the request arrived (epoch ms); `requestTimeoutMs` counts from it. */
  startedMs: number;
  /** The whole body, when it was small enough to be read before a warm offer; else it is streamed. */
  inlineBody?: Buffer;
  /**
   * The call's watch (issue 8): its code is set, and its stopper told, when the caller's key is
   * revoked, or control data goes stale, before the response is complete: the answer is then that
   * error, or the response is cut. {@link forward} takes the stopper over.
   */
  ending?: CallEnding;
  /**
   * The tunnel-call span of a warm-path offer (its context went to the worker with the offer);
   * {@link forward} ends it with the offered stream.
   */
  tunnelSpan?: Span;
}

/**
 * Tunnel request headers of `call` (H3, H4): the client's, cleaned, plus path, request ID, poll seconds
 * left, and `traceparent` of `traceContext` (over the client's).
 */
export function tunnelHeadersFor(
  req: RawRequest,
  call: ForwardedCall,
  traceContext: Context = context.active(),
): http2.OutgoingHttpHeaders {
  return injectTraceHeaders(
    traceContext,
    tunnelRequestHeaders(req.headers, {
      ':method': call.method,
      ':path': call.path,
      ':scheme': 'http',
      ':authority': hostOf(req) ?? 'invocation',
      [Metadata.requestId]: call.reqId,
      // H4: the time left of the poll window, for the container.
      [ContainerHeaders.pollSeconds]: String(Math.max(1, Math.ceil((call.deadlineMs - Date.now()) / 1000))),
    }),
  );
}

/**
 * Relays `call` over `tunnel`: opens its stream (or takes `opened`, a warm-path stream), pipes the
 * body, streams the answer back, or goes to the background at the end of the poll window (H9).
 * `onRefused` takes over when the worker resets `opened` with REFUSED_STREAM before any answer (a
 * warm offer with its whole body, not processed). Answers every failure itself (problem+json, or an
 * aborted response once headers went out); never throws.
 */
export function forward(
  ctx: RequestContext,
  req: RawRequest,
  res: RawResponse,
  tunnel: ProxyTunnel,
  call: ForwardedCall,
  opened?: TunnelCallStream,
  onRefused?: () => void,
): void {
  const { reqId } = call;
  const inline = call.inlineBody;
  // A body still to stream from the client (an inline body was read already).
  const body = inline === undefined && hasBody(req);
  let out: TunnelCallStream;
  const active = context.active();
  // A warm-path stream was opened with its own span's context; otherwise the relay starts one here.
  const span = opened ? call.tunnelSpan : startTunnelSpan(tracer, reqId, tunnel.workerId, active);
  call.tunnelSpan = undefined;
  try {
    if (opened) out = opened;
    else {
      const traceContext = span === undefined ? active : trace.setSpan(active, span);
      out = upstreamOf(tunnel, ctx.config).request(tunnelHeadersFor(req, call, traceContext), {
        endStream: !body && !inline,
      });
      if (inline) out.end(inline);
    }
  } catch {
    if (span !== undefined) endTunnelSpan(span, undefined);
    sendProblem(req, res, ctx.log, new SwitchyardError('SY_TUNNEL_LOST'), reqId);
    return;
  }
  if (span !== undefined) {
    let status: number | undefined;
    out.once('response', (rh) => {
      status = Number(rh[':status']);
    });
    out.once('close', () => endTunnelSpan(span, status));
  }
  out.on('error', ignoreError);
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
    const stopUpload = pumpStream(req, out);
    // A client that goes away mid-upload resets the worker stream: the HTTP/2 compat request ends
    // its body cleanly on a reset, and a truncated upload must never reach the container as complete.
    req.once('aborted', () => {
      stopUpload();
      cancelOut();
    });
    out.once('close', () => {
      stopUpload();
      // A body the worker no longer wants is drained, not left to stall the connection.
      if (!req.readableEnded) req.resume();
    });
  }
  /** Stops copying the answer to the client (set once it streams). */
  let stopAnswer: (() => void) | undefined;

  const store = (status: number, responseHeaders: Record<string, string | string[]>) => {
    void (async () => {
      const ok = await begun;
      if (!ok) {
        cancelOut();
        return;
      }
      try {
        // A mux call is no node Readable: the store reads it through one (the 202 path only).
        const source = out instanceof Readable ? out : readableOf(out);
        await ctx.results.complete(reqId, status, responseHeaders, source, cancelOut);
      } catch (err) {
        ctx.log.warn({ err, reqId }, 'could not store the result of a 202 request; it is marked lost');
        cancelOut();
        // Never left pending: its poll answers 500 SY_RESULT_LOST once Redis takes the mark.
        void ctx.results.markLost(reqId, 'the result store failed while the answer was stored');
      }
    })().finally(() => {
      phase = 'done';
      clearTimeout(requestTimer);
      ctx.inFlight--;
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
    // Not ended by the pump: the answer's 'end' ends it, unless the tunnel was lost (below).
    stopAnswer = pumpStream(out, res, false);
  });

  // Lost: reset, or the tunnel's session destroyed under the stream (no trailers, dead session). A
  // destroyed session ends its HTTP/2 streams' readable side as if complete, so the client's response is
  // ended here only when the session is alive; a lost one is cut at 'close' (a framed call that is lost
  // is reset, with no 'end').
  let lost = false;
  const upstream = tunnel.session;
  out.on('end', () => {
    if (upstream.destroyed) lost = true;
    else if (phase === 'streaming' && !res.writableEnded && !res.destroyed) res.end();
  });
  out.on('close', () => {
    // The worker's unit is free again once the stream ends: it may take the next warm offer.
    ctx.warm.released(call.versionId, tunnel);
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
        sendProblem(req, res, ctx.log, new SwitchyardError(clean ? 'SY_UPSTREAM_FAILED' : 'SY_TUNNEL_LOST'), reqId);
      return;
    }
    if (phase === 'streaming') {
      phase = 'done';
      clearTimeout(requestTimer);
      if (!clean) {
        stopAnswer?.();
        abortResponse(req, res);
      }
      return;
    }
    if (phase === 'background' && !responded) {
      // The 202 went out and the worker never answered: the poll gets the failure.
      void begun
        ?.then((ok) => (ok ? ctx.results.fail(reqId, 'SY_TUNNEL_LOST') : undefined))
        .catch(() => ctx.results.markLost(reqId, 'the result store failed'))
        .finally(() => {
          phase = 'done';
          clearTimeout(requestTimer);
          ctx.inFlight--;
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
    ctx.inFlight++; // held until the result is stored (drain waits for it)
    begun = ctx.results.begin(reqId, call.accountId).then(
      () => true,
      (err) => {
        ctx.log.warn({ err, reqId }, 'result store unavailable; the request is cancelled');
        ctx.results.abandon(reqId);
        return false;
      },
    );
    void begun.then((ok) => {
      if (res.writableEnded || res.destroyed) return;
      if (!ok) {
        sendProblem(req, res, ctx.log, new SwitchyardError('SY_RESULT_STORE_UNAVAILABLE'), reqId);
        return;
      }
      try {
        sendInProgress(res, reqId);
        ctx.metrics.resultAccepted(call.versionId);
      } catch {
        // Client gone: the result is still stored for a later poll.
      }
    });
  };
  pollTimer = setTimeout(goBackground, Math.max(0, call.deadlineMs - Date.now()));

  // Key revoked (or control data stale) before the response is complete: the error, or a cut response.
  // A request already answered 202 is the service's from then on (its result needs a valid key to fetch).
  const ending = call.ending;
  const stop = (code: CallEndCode) => {
    if (phase === 'waiting') {
      phase = 'done';
      clearTimeout(pollTimer);
      clearTimeout(requestTimer);
      cancelOut();
      sendProblem(req, res, ctx.log, new SwitchyardError(code), reqId);
    } else if (phase === 'streaming') {
      phase = 'done';
      clearTimeout(requestTimer);
      stopAnswer?.();
      cancelOut();
      abortResponse(req, res);
    }
  };
  if (ending !== undefined) {
    if (ending.code !== undefined) stop(ending.code);
    else ending.stopper = { stop };
  }

  if (ctx.config.requestTimeoutMs > 0) {
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
              ?.then((ok) => (ok ? ctx.results.fail(reqId, 'SY_REQUEST_TIMEOUT') : undefined))
              .catch(() => ctx.results.markLost(reqId, 'the result store failed'));
          cancelOut();
          return;
        }
        cancelOut();
        if (hadResponse) abortResponse(req, res);
        else sendProblem(req, res, ctx.log, new SwitchyardError('SY_REQUEST_TIMEOUT'), reqId);
      },
      Math.max(0, call.startedMs + ctx.config.requestTimeoutMs - Date.now()),
    );
    requestTimer.unref();
  }
}
