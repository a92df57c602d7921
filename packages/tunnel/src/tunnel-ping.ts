// Dead-peer detection for both ends of a tunnel. A peer that vanished without a FIN (killed VM, cut
// link, frozen process) leaves the TCP connection looking open for minutes; a PING that stays
// unanswered for several intervals means the peer is gone, and the session is destroyed. One late
// answer is not enough: under bulk transfers a PING ACK queues behind megabytes of DATA (a 10-minute
// soak with 100 MiB uploads lost a healthy tunnel when one missed interval was fatal).

import type http2 from 'node:http2';

/** Interval (ms) between PINGs on a tunnel. */
export const DEFAULT_TUNNEL_PING_INTERVAL_MS = 10_000;

/** Intervals a PING may stay unanswered before the peer is declared gone. */
export const DEFAULT_TUNNEL_PING_MISSED_INTERVALS = 3;

/**
 * PINGs `session` every `intervalMs` and destroys it when a PING stayed unanswered for `maxMissed`
 * intervals (detection within `(maxMissed + 1) * intervalMs`), calling `onTimeout` first. Stops by
 * itself when the session closes; returns a function that stops it earlier.
 */
export function startPinging(
  session: http2.Http2Session,
  intervalMs: number,
  maxMissed = DEFAULT_TUNNEL_PING_MISSED_INTERVALS,
  onTimeout?: () => void,
): () => void {
  let outstanding = false;
  let missed = 0;
  const timer = setInterval(() => {
    // A closed (draining) session cannot send PINGs any more: node answers them locally.
    if (session.destroyed || session.closed) {
      stop();
      return;
    }
    if (outstanding) {
      missed++;
      if (missed >= maxMissed) {
        onTimeout?.();
        session.destroy();
        stop();
      }
      return;
    }
    missed = 0;
    outstanding = true;
    try {
      const sent = session.ping((err) => {
        // An error here means the session is going away; 'close' follows.
        if (!err) outstanding = false;
      });
      // false: too many PINGs in flight (maxOutstandingPings), the peer is not answering.
      if (sent === false) {
        onTimeout?.();
        session.destroy();
        stop();
      }
    } catch {
      stop();
    }
  }, intervalMs);
  timer.unref();
  const stop = () => clearInterval(timer);
  session.once('close', stop);
  return stop;
}

/**
 * Why a tunnel closed, as a bounded label value (metrics): `ping_timeout`, `goaway_received`, `error`,
 * `closed_locally` (GOAWAY sent by us, e.g. a drain), `destroyed_locally`, `replaced` (the worker
 * dialled a new tunnel), `connection_closed` (socket gone without any of these).
 */
export const TUNNEL_CLOSE_REASONS = [
  'ping_timeout',
  'goaway_received',
  'error',
  'closed_locally',
  'destroyed_locally',
  'replaced',
  'connection_closed',
] as const;
export type TunnelCloseReason = (typeof TUNNEL_CLOSE_REASONS)[number];

/**
 * Records why `session` ends, for logs: the first of `error: <code>`, `goaway received: <code>`,
 * `ping timeout`, `closed locally` (set by the caller), else `connection closed`. Returns a getter of
 * the text and of its bounded kind ({@link TUNNEL_CLOSE_REASONS}).
 */
export function trackCloseReason(session: http2.Http2Session): {
  get(): string;
  kind(): TunnelCloseReason;
  set(reason: string, kind: TunnelCloseReason): void;
} {
  let reason: string | undefined;
  let reasonKind: TunnelCloseReason = 'connection_closed';
  const set = (r: string, k: TunnelCloseReason) => {
    if (reason !== undefined) return;
    reason = r;
    reasonKind = k;
  };
  session.on('error', (err: NodeJS.ErrnoException) => set(`error: ${err.code ?? err.message}`, 'error'));
  session.on('goaway', (code: number) => set(`goaway received: code ${code}`, 'goaway_received'));
  return { get: () => reason ?? 'connection closed', kind: () => reasonKind, set };
}
