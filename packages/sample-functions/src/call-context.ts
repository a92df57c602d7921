// What both sample functions read from a call's metadata: the session request ID the worker adds,
// the x-echo-* headers to mirror and the x-trailer-* headers to return as trailers.

import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { ContainerHeaders } from '@switchyard/protocol';

/** Request metadata keys with this prefix come back in the response initial metadata. */
export const ECHO_HEADER_PREFIX = 'x-echo-';
/**
 * Initial-metadata key under which both sample functions return the W3C `traceparent` they received
 * (so tests see the trace context reach the container), when the call asked with
 * {@link WANT_RECEIVED_TRACEPARENT_HEADER}.
 */
export const RECEIVED_TRACEPARENT_HEADER = 'x-received-traceparent';
/**
 * Request metadata key (any value) asking for the received `traceparent` back as
 * {@link RECEIVED_TRACEPARENT_HEADER}. Opt-in: a function that answered every traced call with one more
 * header, a new value each call, would add work to the traced path alone and make the overhead
 * benches (`npm run bench -- telemetry-pair`) charge it to tracing.
 */
export const WANT_RECEIVED_TRACEPARENT_HEADER = 'x-want-received-traceparent';

/** Request metadata keys with this prefix come back as trailers. */
export const ECHO_TRAILER_PREFIX = 'x-trailer-';
/** Status message of a failure asked for with EchoRequest.fail_code. */
export const REQUESTED_FAILURE_MESSAGE = 'requested failure';
/** Sessions a server remembers call counts for; the oldest is forgotten beyond this. */
const MAX_TRACKED_SESSIONS = 100_000;

/** The parts of an incoming call both sample functions need. */
export interface CallContext {
  /** The nvcf-reqid header, '' if absent. */
  readonly requestId: string;
  /** x-echo-* entries, and the received `traceparent` as {@link RECEIVED_TRACEPARENT_HEADER} when asked, to send as initial metadata. */
  readonly headers: grpc.Metadata;
  /** x-trailer-* entries, to send as trailers. */
  readonly trailers: grpc.Metadata;
  /** Aborted when the call is cancelled (client cancel, deadline, connection loss). */
  readonly signal: AbortSignal;
}

/** What callContext() needs of any server call kind. */
interface ServerCallLike {
  readonly metadata: grpc.Metadata;
  readonly cancelled: boolean;
  on(event: 'cancelled', listener: () => void): unknown;
}

function copyPrefixed(from: grpc.Metadata, prefix: string): grpc.Metadata {
  const to = new grpc.Metadata();
  for (const key of Object.keys(from.toJSON())) {
    if (!key.startsWith(prefix)) continue;
    for (const value of from.get(key)) to.add(key, value);
  }
  return to;
}

/** Reads the call's metadata and ties an AbortSignal to its cancellation. */
export function callContext(call: ServerCallLike): CallContext {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort());
  if (call.cancelled) controller.abort();
  const value = call.metadata.get(ContainerHeaders.requestId)[0];
  const headers = copyPrefixed(call.metadata, ECHO_HEADER_PREFIX);
  if (call.metadata.get(WANT_RECEIVED_TRACEPARENT_HEADER).length > 0) {
    const traceparent = call.metadata.get('traceparent')[0];
    if (typeof traceparent === 'string') headers.set(RECEIVED_TRACEPARENT_HEADER, traceparent);
  }
  return {
    requestId: typeof value === 'string' ? value : '',
    headers,
    trailers: copyPrefixed(call.metadata, ECHO_TRAILER_PREFIX),
    signal: controller.signal,
  };
}

/** Counts calls per request ID for one server instance (the "stateful session" proof). */
export class SessionCounter {
  readonly #calls = new Map<string, number>();

  /** Records one call for `requestId` and returns the count so far; 0 and nothing recorded when ''. */
  record(requestId: string): number {
    if (requestId === '') return 0;
    const calls = (this.#calls.get(requestId) ?? 0) + 1;
    this.#calls.delete(requestId);
    this.#calls.set(requestId, calls);
    if (this.#calls.size > MAX_TRACKED_SESSIONS) {
      const oldest = this.#calls.keys().next().value;
      if (oldest !== undefined) this.#calls.delete(oldest);
    }
    return calls;
  }
}

/** Waits `ms` milliseconds; resolves false at once if the signal aborts first, true otherwise. */
export async function waitUnlessCancelled(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  if (ms <= 0) return true;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

/** A status error for a handler callback or stream destroy, with trailers attached. */
export function statusError(code: grpc.status, details: string, trailers?: grpc.Metadata): grpc.ServerErrorResponse {
  return Object.assign(new Error(details), { code, details, metadata: trailers ?? new grpc.Metadata() });
}
