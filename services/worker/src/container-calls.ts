// What a worker reports about the calls it relays to its container (metrics): the outcome as the
// `switchyard.outcome` label spells it, and the kind of a container-side failure. Both relays (the
// HTTP/2 one for gRPC and h2c containers, undici for HTTP containers) end here.

import { ErrorCatalogue } from '@switchyard/protocol';
import { grpcOutcome, httpOutcome } from '@switchyard/telemetry';
import type { RelayResult } from '@switchyard/tunnel';
import type { HttpRelayResult } from './http-upstream.ts';

/** Kinds of a container-side failure: no answer at all, failed before its answer, cut off mid-answer. */
export type ContainerErrorKind = 'unavailable' | 'failed' | 'reset';

/**
 * Receives container call results and reconnect-window expiries (`createWorkerRecorder` of
 * @switchyard/telemetry makes one). Called synchronously; must not throw.
 */
export interface WorkerRecorder {
  /**
   * A relayed call ended.
   * @param outcome gRPC status code (`0`..`16`), HTTP status class (`2xx`..`5xx`) or `cancelled`.
   * @param seconds from the stream reaching the worker to the relay's end.
   * @param error the kind of container-side failure, else undefined.
   */
  containerCall(outcome: string, seconds: number, error: ContainerErrorKind | undefined): void;
  /** A session's reconnect window ran out (the session ended). */
  reconnectWindowExpired(): void;
}

/**
 * Records an HTTP/2 relay's result (gRPC or h2c container).
 * @param grpc the request was gRPC (an error's outcome is then its gRPC code, else its HTTP class).
 * @param startedAt `performance.now()` when the stream reached the worker.
 */
export function recordRelayEnd(recorder: WorkerRecorder, grpc: boolean, startedAt: number, r: RelayResult): void {
  const seconds = (performance.now() - startedAt) / 1000;
  if (r.error === 'CLIENT_CANCELLED') recorder.containerCall('cancelled', seconds, undefined);
  else if (r.error !== undefined)
    recorder.containerCall(
      grpc ? String(ErrorCatalogue[r.error].grpcStatus) : '5xx',
      seconds,
      r.httpStatus === undefined ? 'unavailable' : 'reset',
    );
  // a container's grpc-status outside 0..16 counts as UNKNOWN, as at the front ends (bounded labels)
  else if (r.grpcStatus !== undefined) recorder.containerCall(grpcOutcome(r.grpcStatus), seconds, undefined);
  else recorder.containerCall(httpOutcome(r.httpStatus ?? 0), seconds, undefined);
}

/**
 * Records an HTTP container request's result (undici relay): not reachable -> `unavailable`, failed
 * before its answer -> `failed`, cut off after its headers -> `reset`.
 * @param startedAt `performance.now()` when the stream reached the worker.
 */
export function recordHttpRelayEnd(recorder: WorkerRecorder, startedAt: number, r: HttpRelayResult): void {
  const seconds = (performance.now() - startedAt) / 1000;
  if (r.error === 'CLIENT_CANCELLED') recorder.containerCall('cancelled', seconds, undefined);
  else if (r.error !== undefined) {
    const kind: ContainerErrorKind =
      r.status !== undefined ? 'reset' : r.error === 'SY_UPSTREAM_UNAVAILABLE' ? 'unavailable' : 'failed';
    recorder.containerCall(r.status !== undefined ? httpOutcome(r.status) : '5xx', seconds, kind);
  } else recorder.containerCall(httpOutcome(r.status ?? 500), seconds, undefined);
}
