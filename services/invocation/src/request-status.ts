// Status polls, `GET /v2/nvcf/pexec/status/{reqId}` (H9): the API key's account may fetch the result of
// a request answered 202, once. This region's result store first, then, on a miss, the other regions
// (@switchyard/result-exchange); with NVCF-POLL-SECONDS the poll waits for a pending result. Answers
// 202 in-progress while pending, 404 SY_RESULT_NOT_FOUND when no region has it, 503
// SY_RESULT_STORE_UNAVAILABLE when a store or region failed to answer (never a wrong 404), 500
// SY_RESULT_LOST when its owner died or the store lost it while it was kept.

import type { ApiKeyRecord } from '@switchyard/control-store';
import { isUuid, Metadata, SwitchyardError } from '@switchyard/protocol';
import { PollResult } from '@switchyard/telemetry';
import { clientResponseHeaders, type RawRequest, type RawResponse } from './http-headers.ts';
import { abortResponse, sendInProgress, sendProblem } from './http-response.ts';
import type { StatusTarget } from './invocation-route.ts';
import { pollSeconds } from './poll-seconds.ts';
import type { RequestContext } from './request-context.ts';
import type { PollOutcome } from './result-store.ts';

/**
 * Answers a status poll for `target.requestId`: the stored result (status, headers, body streamed), a
 * 202, or a problem+json (auth: 401/503, 404 SY_RESULT_NOT_FOUND, 503 SY_RESULT_STORE_UNAVAILABLE); a body
 * that fails midway aborts the response.
 */
export async function pollStatus(
  ctx: RequestContext,
  req: RawRequest,
  res: RawResponse,
  target: StatusTarget,
): Promise<void> {
  const reqId = target.requestId;
  let key: ApiKeyRecord;
  let waitMs = 0;
  try {
    key = await authenticate(ctx, req.headers.authorization);
    if (req.headers[Metadata.pollSeconds] !== undefined)
      waitMs = pollSeconds(req.headers[Metadata.pollSeconds], undefined, ctx.config) * 1000;
    if (!isUuid(reqId)) throw new SwitchyardError('SY_RESULT_NOT_FOUND', { detail: 'not a request ID' });
  } catch (err) {
    ctx.metrics.statusPolled(PollResult.errored);
    sendProblem(req, res, ctx.log, err, isUuid(reqId) ? reqId : undefined);
    return;
  }
  // With NVCF-POLL-SECONDS the poll waits (checking Redis every 250 ms) up to that long for the result.
  const until = Date.now() + waitMs;
  let outcome: PollOutcome;
  // The region that last answered 'pending' for this result: later checks ask it alone.
  const where: { region?: string } = {};
  try {
    for (;;) {
      outcome = await pollAnywhere(ctx, reqId, key.accountId, where);
      if (outcome.state !== 'pending' || Date.now() >= until || res.destroyed) break;
      await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
    }
  } catch (err) {
    ctx.metrics.statusPolled(PollResult.errored);
    sendProblem(req, res, ctx.log, err, reqId);
    return;
  }
  ctx.metrics.statusPolled(
    outcome.state === 'ready'
      ? PollResult.fulfilled
      : outcome.state === 'missing'
        ? PollResult.notFound
        : outcome.state === 'lost'
          ? PollResult.lost
          : PollResult.pending,
  );
  if (outcome.state === 'lost') {
    sendProblem(req, res, ctx.log, new SwitchyardError('SY_RESULT_LOST'), reqId);
    return;
  }
  if (outcome.state === 'missing') {
    sendProblem(req, res, ctx.log, new SwitchyardError('SY_RESULT_NOT_FOUND'), reqId);
    return;
  }
  if (outcome.state === 'pending') {
    sendInProgress(res, reqId);
    return;
  }
  const { result } = outcome;
  let sent = false;
  try {
    res.writeHead(result.status, clientResponseHeaders(result.headers, reqId, result.status));
    for await (const chunk of result.body) {
      if (res.destroyed) break;
      if (!res.write(chunk)) await drainedOrClosed(res);
    }
    if (!res.destroyed) {
      // Delivered only once the last byte left for the client: a poller that drops mid-body loses nothing.
      // (HTTP gives no receipt: one that drops after that, its last bytes in flight, counts as served.)
      sent = await new Promise<boolean>((resolve) => {
        res.once('finish', () => resolve(true));
        res.once('close', () => resolve(res.writableFinished));
        res.end();
      });
    }
  } catch (err) {
    ctx.log.warn({ err, reqId }, 'could not send a stored result');
    abortResponse(req, res);
  } finally {
    await result.settle(sent);
  }
}

/**
 * Resolves once `res` can take more (`drain`) or is gone (`close`): a poller that drops while its
 * response is full never drains, and waiting for that alone held its claim until the claim lease
 * (resultClaimLeaseMs) ran out, so the next poll of that result answered 202 meanwhile.
 */
function drainedOrClosed(res: RawResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    if (res.destroyed) done();
  });
}

/**
 * One check of a status poll (H9): this region's Redis, then, on a miss, the other regions
 * (`remoteRegions`, in parallel; only `where.region` once a region answered 'pending').
 * @throws SwitchyardError SY_RESULT_STORE_UNAVAILABLE (503): local Redis failed, or a remote region
 *   did not answer in time and none had the result.
 */
async function pollAnywhere(
  ctx: RequestContext,
  reqId: string,
  accountId: string,
  where: { region?: string },
): Promise<PollOutcome> {
  const local = await ctx.results.poll(reqId, accountId);
  if (local.state !== 'missing' || ctx.remoteResults.remoteRegions.length === 0) return local;
  const remote = await ctx.remoteResults.lookup(
    reqId,
    accountId,
    where.region === undefined ? undefined : [where.region],
  );
  if (remote.state === 'pending') where.region = remote.region;
  if (remote.state === 'ready') return { state: 'ready', result: remote.result };
  return { state: remote.state };
}

/**
 * The API key of a status poll (`Authorization: Bearer <key>`).
 * @throws SwitchyardError SY_AUTH_MISSING, SY_CONTROL_UNAVAILABLE, SY_AUTH_INVALID.
 */
async function authenticate(ctx: RequestContext, authorization: string | undefined): Promise<ApiKeyRecord> {
  const match = authorization === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match === null) throw new SwitchyardError('SY_AUTH_MISSING');
  if (!ctx.control.available) throw new SwitchyardError('SY_CONTROL_UNAVAILABLE');
  const key = await ctx.control.authenticateFresh(match[1]);
  if (key === undefined) throw new SwitchyardError('SY_AUTH_INVALID');
  return key;
}
