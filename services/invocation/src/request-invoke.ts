// An invocation (H1, H8, H10): authenticates the API key for the function, takes the rate limits (per
// key, per function), works out the poll window (NVCF-POLL-SECONDS, H8), then reaches a worker: on the
// warm path straight over a tunnel that served this version here before, else on the ticket path (a
// one-shot ticket, kind 'http', through @switchyard/worker-link). Either way the relay is
// request-forward.ts.
//
// Capacity: an HTTP request holds one unit of its worker's capacity from the ticket until its tunnel
// stream closes; there is no session record and no reconnect window (nobody resumes an HTTP request).

import type { Authorization, CallEnding } from '@switchyard/control-store';
import { isSwitchyardError, Metadata, newRequestId, SwitchyardError } from '@switchyard/protocol';
import { bucketKey } from '@switchyard/rate-limit';
import { context, httpOutcome, startTunnelSpan, trace } from '@switchyard/telemetry';
import { type ProxyTunnel, readDeclaredBody } from '@switchyard/tunnel';
import { hasBody, type RawRequest, type RawResponse } from './http-headers.ts';
import { responseFinished, sendProblem } from './http-response.ts';
import { type FunctionTarget, upstreamPath } from './invocation-route.ts';
import { pollSeconds } from './poll-seconds.ts';
import type { RequestContext } from './request-context.ts';
import { type ForwardedCall, forward, tunnelHeadersFor } from './request-forward.ts';
import { endTunnelSpan, tracer } from './request-span.ts';
import { offerDirect } from './warm-tunnels.ts';

/**
 * Request bodies of at most this many bytes (by content-length) are read before a warm-path offer and
 * sent with it, so the offer does not wait for the worker's admission; larger ones stream after it.
 */
const WARM_INLINE_BODY_BYTES = 64 * 1024;

/**
 * Handles an invocation of `target` (`method` and `url` as received) to its end: answers every failure
 * itself (problem+json: SY_SHUTTING_DOWN, auth, rate limit, allocation, tunnel). Never rejects.
 */
export async function invoke(
  ctx: RequestContext,
  req: RawRequest,
  res: RawResponse,
  target: FunctionTarget,
  method: string,
  url: string,
): Promise<void> {
  const startedMs = Date.now();
  const started = performance.now();
  const reqId = newRequestId();
  const h = req.headers;
  let gone = false;
  /** Set when the response closed (a 'close' listener added after that would never run). */
  let closed = false;
  let onGone: (() => void) | undefined;
  /** The version the request was authorized for (its call's labels), else undefined (`unknown`). */
  let routedVersion: string | undefined;
  /** Gives back the key's place (issue 11 item 2) once taken. */
  let release: (() => void) | undefined;
  res.once('close', () => {
    closed = true;
    release?.();
    // Outcome: the status class sent (a 202 counts as 2xx when it leaves), or `cancelled`.
    const outcome = res.headersSent ? httpOutcome(res.statusCode) : 'cancelled';
    ctx.metrics.callEnded(routedVersion, outcome, (performance.now() - started) / 1000);
    if (!responseFinished(req, res)) {
      gone = true;
      onGone?.();
    }
  });
  let auth: Authorization;
  let pollMs: number;
  let ending: CallEnding;
  try {
    if (ctx.closing) throw new SwitchyardError('SY_SHUTTING_DOWN');
    pollMs = pollSeconds(h[Metadata.pollSeconds], h.accept, ctx.config) * 1000;
    const input = { authorization: h.authorization, functionId: target.functionId, versionId: target.versionId };
    // A hit is answered from the in-process copy, synchronously (no Promise, no await); a refusal is
    // asked again of authorizeFresh, which waits for a catch-up when a lagging copy could explain it.
    try {
      auth = ctx.control.authorize(input);
    } catch {
      auth = await ctx.control.authorizeFresh(input);
      // The client left during the catch-up: no place is taken, since a 'close' listener added now
      // would never run to give it back.
      if (closed) return;
    }
    routedVersion = auth.version.versionId;
    // A place among the key's invocations in flight here, given back when the response ends (issue 11 item 2).
    release = ctx.keyRequests.acquire(auth.key.keyId);
    if (!release) throw new SwitchyardError('SY_KEY_REQUESTS_EXCEEDED');
    // Ends the request if its key is revoked (or control data goes stale) before its response is
    // complete (issue 8): here while it waits for a worker, in forward() (which takes the stopper
    // over) once relayed.
    ending = ctx.openCalls.watch(auth.key.keyId, auth.fn.functionId, res);
    if (ending.code !== undefined) throw new SwitchyardError(ending.code);
    ending.stopper = {
      stop: (code) => {
        gone = true;
        onGone?.();
        sendProblem(req, res, ctx.log, new SwitchyardError(code), reqId);
      },
    };
    const perKey = ctx.config.rateLimitPerKeyPerMinute;
    const perFunction = ctx.config.rateLimitPerFunctionPerMinute;
    // No limit configured: no bucket to take (and no await).
    if (perKey > 0 || perFunction > 0)
      await ctx.buckets.take([
        { key: bucketKey('key', auth.key.keyId), perMinute: perKey },
        { key: bucketKey('function', auth.fn.functionId), perMinute: perFunction },
      ]);
  } catch (err) {
    if (isSwitchyardError(err)) ctx.metrics.answeredError(err.code);
    sendProblem(req, res, ctx.log, err, reqId);
    return;
  }
  if (gone) return;
  const call: ForwardedCall = {
    reqId,
    accountId: auth.key.accountId,
    versionId: auth.version.versionId,
    method,
    path: upstreamPath(target, url, auth.fn.inferenceUrl),
    deadlineMs: startedMs + pollMs,
    startedMs,
    ending,
  };
  const warm = ctx.config.warmPath ? ctx.warm.pick(call.versionId) : undefined;
  if (warm) {
    // The warm path: offered straight to a worker that served this version here before.
    let body: 'none' | 'later' | Buffer = hasBody(req) ? 'later' : 'none';
    const length = Number(req.headers['content-length']);
    if (body === 'later' && req.headers['content-length'] !== undefined && length <= WARM_INLINE_BODY_BYTES) {
      const read = await readDeclaredBody(req, length);
      if (read === undefined) {
        if (!gone)
          sendProblem(
            req,
            res,
            ctx.log,
            new SwitchyardError('SY_REQUEST_INVALID', { detail: 'body not as long as its content-length' }),
            reqId,
          );
        return;
      }
      if (gone) return;
      call.inlineBody = read;
      body = read;
    }
    // Only an offer that waits for the worker's admission (a streamed body) is cancelled through a
    // signal; one with its whole body (or none) is decided synchronously.
    const abort = body === 'later' ? new AbortController() : undefined;
    if (abort !== undefined) onGone = () => abort.abort();
    // Not processed by the worker: the ticket path, with the same call (a read body is kept).
    const viaTicket = () => {
      ctx.warm.refused(call.versionId, warm);
      void allocateAndForward(ctx, req, res, auth, call, (cancel) => {
        onGone = cancel;
      });
    };
    // The offer carries its tunnel-call span's context, so the worker's container call is its child.
    const active = context.active();
    const span = startTunnelSpan(tracer, reqId, warm.workerId, active);
    call.tunnelSpan = span;
    const traceContext = span === undefined ? active : trace.setSpan(active, span);
    const headers = tunnelHeadersFor(req, call, traceContext);
    offerDirect(warm, ctx.config, headers, call.versionId, body, abort?.signal, (outcome) => {
      onGone = undefined;
      if (span !== undefined && !(outcome.admitted && !gone)) {
        // Not relayed over this offer: the span ends here (the ticket path makes its own).
        call.tunnelSpan = undefined;
        endTunnelSpan(span, undefined, gone || outcome.admitted ? 'CLIENT_CANCELLED' : outcome.reason);
      }
      if (gone) return;
      if (outcome.admitted) forward(ctx, req, res, warm, call, outcome.stream, viaTicket);
      else if (outcome.reason === 'lost') sendProblem(req, res, ctx.log, new SwitchyardError('SY_TUNNEL_LOST'), reqId);
      else viaTicket();
    });
    return;
  }
  await allocateAndForward(ctx, req, res, auth, call, (cancel) => {
    onGone = cancel;
  });
}

/** The ticket path: a ticket (FrontEndLink.allocate), then {@link forward} over the tunnel of the worker that took it. */
async function allocateAndForward(
  ctx: RequestContext,
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
    tunnel = await ctx.link.allocate({
      reqId: call.reqId,
      accountId: auth.key.accountId,
      functionId: auth.fn.functionId,
      versionId: auth.version.versionId,
      kind: 'http',
      deadlineMs: call.deadlineMs,
      tokenTtlMs: ctx.config.tokenTtlMs,
      signal: abort.signal,
      timeoutHint: ' (NVCF-POLL-SECONDS)',
    });
  } catch (err) {
    if (isSwitchyardError(err)) ctx.metrics.answeredError(err.code);
    sendProblem(req, res, ctx.log, err, call.reqId);
    return;
  } finally {
    onCancel(undefined);
  }
  if (!tunnel || gone || res.destroyed) return;
  if (ctx.config.warmPath) ctx.warm.add(call.versionId, tunnel);
  forward(ctx, req, res, tunnel, call);
}
