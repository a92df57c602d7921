// NVCF-POLL-SECONDS (H8): how long a request waits for a worker and then for the container's answer
// before a 504 (no worker) or a 202 (still running, H9).

import { SwitchyardError } from '@switchyard/protocol';

/** Poll window settings, from the service config. */
export interface PollSettings {
  /** Without the header (s). */
  defaultPollSeconds: number;
  /** Without the header, for `Accept: text/event-stream` (s). */
  ssePollSeconds: number;
  /** Largest accepted value (s). */
  maxPollSeconds: number;
}

/** True when `accept` asks for an event stream (H6). */
export function acceptsEventStream(accept: string | string[] | undefined): boolean {
  const value = Array.isArray(accept) ? accept.join(',') : (accept ?? '');
  return value.toLowerCase().includes('text/event-stream');
}

/**
 * The poll window (s) of a request: the header value when it is an integer in 1..max, the defaults
 * when it is absent.
 * @throws SwitchyardError SY_POLL_SECONDS_INVALID (400 "failed to parse poll duration") for anything else.
 */
export function pollSeconds(
  header: string | string[] | undefined,
  accept: string | string[] | undefined,
  settings: PollSettings,
): number {
  if (header === undefined) return acceptsEventStream(accept) ? settings.ssePollSeconds : settings.defaultPollSeconds;
  const text = (Array.isArray(header) ? header.join(',') : header).trim();
  if (!/^\d{1,9}$/.test(text))
    throw new SwitchyardError('SY_POLL_SECONDS_INVALID', { detail: `not an integer: ${JSON.stringify(text)}` });
  const n = Number(text);
  if (n < 1 || n > settings.maxPollSeconds)
    throw new SwitchyardError('SY_POLL_SECONDS_INVALID', {
      detail: `must be an integer in 1..${settings.maxPollSeconds}, got ${n}`,
    });
  return n;
}
