// The warm path of one-shot HTTP requests: once a worker of a version has served a ticket of this
// instance, its tunnel is known, and the next request of that version is offered to it directly over
// the tunnel, without a ticket, pull or attach: no NATS message at all. Only workers that announced
// the `warm-path` feature when they dialled are offered requests. A request that carries its whole
// body (or none) is sent at once; a streamed body waits for the worker's admission (an informational
// `:status 100`). A worker without a free unit resets the stream with REFUSED_STREAM, which HTTP/2
// defines as "not processed": the request then takes the ticket path (H8) unchanged.

import http2 from 'node:http2';
import { DirectBody, TunnelFeatures, TunnelHeaders } from '@switchyard/protocol';
import type { ProxyTunnel } from '@switchyard/tunnel';
import { type TunnelCallStream, type TunnelMuxSwitch, upstreamOf } from './tunnel-upstream.ts';

const { NGHTTP2_REFUSED_STREAM, NGHTTP2_CANCEL } = http2.constants;

/** How long a worker that refused a request is skipped, unless one of its requests ends sooner (ms). */
export const WARM_REFUSED_BACKOFF_MS = 50;

interface WarmEntry {
  readonly tunnel: ProxyTunnel;
  /** Epoch ms until which this worker is not offered requests (it refused one); 0 when free. */
  fullUntilMs: number;
}

/** What {@link offerDirect} reports. */
export type DirectOutcome =
  /**
   * The request is on `stream`: admitted (a streamed body may now be written), or, for a request with
   * its whole body, sent; a refusal then shows as the stream closing with REFUSED_STREAM before any
   * answer (see {@link isRefused}).
   */
  | { admitted: true; stream: TunnelCallStream }
  /** Refused, or the tunnel could not open a stream: not processed, take the ticket path. */
  | { admitted: false; reason: 'refused' | 'unusable' }
  /** The stream failed after it may have been processed: not safe to send again. */
  | { admitted: false; reason: 'lost' };

/** True when `stream` was reset by the worker with REFUSED_STREAM: the request was not processed. */
export function isRefused(stream: { readonly rstCode: number | undefined }): boolean {
  return stream.rstCode === NGHTTP2_REFUSED_STREAM;
}

/**
 * Tunnels of workers that served a version through this instance, by version ID, offered in turn.
 * A closed tunnel leaves by itself.
 */
export class WarmTunnels {
  readonly #byVersion = new Map<string, WarmEntry[]>();
  #turn = 0;

  /**
   * Remembers that `tunnel`'s worker serves `versionId` (after it took a ticket of that version),
   * when the worker announced the warm path; others are ignored.
   */
  add(versionId: string, tunnel: ProxyTunnel): void {
    if (tunnel.closed || !tunnel.features.has(TunnelFeatures.warmPath)) return;
    const list = this.#byVersion.get(versionId) ?? [];
    const known = list.find((e) => e.tunnel === tunnel);
    if (known) {
      known.fullUntilMs = 0;
      return;
    }
    list.push({ tunnel, fullUntilMs: 0 });
    this.#byVersion.set(versionId, list);
    tunnel.once('close', () => this.#remove(versionId, tunnel));
  }

  /**
   * A tunnel to offer the next request of `versionId` to, in turn, skipping workers that refused one
   * in the last {@link WARM_REFUSED_BACKOFF_MS} ms. @returns undefined when there is none.
   */
  pick(versionId: string, nowMs = Date.now()): ProxyTunnel | undefined {
    const list = this.#byVersion.get(versionId);
    if (!list) return undefined;
    for (let i = 0; i < list.length; i++) {
      const entry = list[(this.#turn + i) % list.length];
      if (entry.tunnel.closed || entry.fullUntilMs > nowMs) continue;
      this.#turn = (this.#turn + i + 1) % 1_000_000;
      return entry.tunnel;
    }
    return undefined;
  }

  /** The worker behind `tunnel` refused a request of `versionId`: skip it for a while. */
  refused(versionId: string, tunnel: ProxyTunnel, nowMs = Date.now()): void {
    const entry = this.#byVersion.get(versionId)?.find((e) => e.tunnel === tunnel);
    if (entry) entry.fullUntilMs = nowMs + WARM_REFUSED_BACKOFF_MS;
  }

  /** A request of `versionId` on `tunnel` ended: its worker has a free unit again. */
  released(versionId: string, tunnel: ProxyTunnel): void {
    const entry = this.#byVersion.get(versionId)?.find((e) => e.tunnel === tunnel);
    if (entry) entry.fullUntilMs = 0;
  }

  #remove(versionId: string, tunnel: ProxyTunnel): void {
    const list = this.#byVersion.get(versionId)?.filter((e) => e.tunnel !== tunnel);
    if (!list || list.length === 0) this.#byVersion.delete(versionId);
    else this.#byVersion.set(versionId, list);
  }
}

/**
 * Offers a request to the worker behind `tunnel` on a new stream (a call on its mux when `mux` says
 * so, see upstreamOf) with `headers` plus the warm-path headers (added to `headers` itself: pass an object made for this offer). `body`:
 * - `none` or a Buffer (a small body already read whole): sent at once with `x-switchyard-direct:
 *   whole`, and reported admitted at once; a refusal shows later as REFUSED_STREAM ({@link isRefused}),
 *   and the caller still has the bytes for the ticket path;
 * - `later`: sent with `x-switchyard-direct: stream`, reported when the worker answers: `:status 100`
 *   admits it (the caller then writes the body), REFUSED_STREAM refuses it. Nothing of the body is
 *   written before, so a refused request loses nothing.
 * `onOutcome` runs synchronously inside the event that decided, so a caller that attaches its
 * `response` listener there cannot miss the final headers. `signal` aborting (the client went away)
 * cancels the stream while a `later` offer waits for its admission (unused for the others, which are
 * reported before this returns or in the next microtask).
 */
export function offerDirect(
  tunnel: ProxyTunnel,
  mux: TunnelMuxSwitch,
  headers: http2.OutgoingHttpHeaders,
  versionId: string,
  body: 'none' | 'later' | Buffer,
  signal: AbortSignal | undefined,
  onOutcome: (outcome: DirectOutcome) => void,
): void {
  const whole = body !== 'later';
  let stream: TunnelCallStream;
  try {
    // `headers` is this request's own object (tunnelHeadersFor): marked in place, not copied.
    headers[TunnelHeaders.direct] = whole ? DirectBody.whole : DirectBody.stream;
    headers[TunnelHeaders.functionVersionId] = versionId;
    stream = upstreamOf(tunnel, mux).request(headers, { endStream: body === 'none' });
    if (Buffer.isBuffer(body)) stream.end(body);
  } catch {
    queueMicrotask(() => onOutcome({ admitted: false, reason: 'unusable' }));
    return;
  }
  stream.on('error', () => undefined);
  if (whole) {
    onOutcome({ admitted: true, stream });
    return;
  }
  const cancel = () => {
    if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
  };
  const settle = (outcome: DirectOutcome) => {
    stream.off('headers', onHeaders);
    stream.off('response', onResponse);
    stream.off('close', onClose);
    signal?.removeEventListener('abort', cancel);
    onOutcome(outcome);
  };
  const onHeaders = (h: http2.IncomingHttpHeaders) => {
    if (Number(h[':status']) === 100) settle({ admitted: true, stream });
  };
  // Final headers before the admission: not the protocol; the worker may have processed it.
  const onResponse = () => {
    stream.resume();
    cancel();
    settle({ admitted: false, reason: 'lost' });
  };
  const onClose = () => settle({ admitted: false, reason: isRefused(stream) ? 'refused' : 'lost' });
  stream.on('headers', onHeaders);
  stream.on('response', onResponse);
  stream.on('close', onClose);
  if (signal?.aborted) cancel();
  else signal?.addEventListener('abort', cancel, { once: true });
}
