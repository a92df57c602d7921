// What a worker reports about the calls it relays to its container (metrics): the outcome as the
// `switchyard.outcome` label spells it, and the kind of a container-side failure. Every relay (the
// HTTP/2 one for gRPC and h2c containers, undici for HTTP containers, the WebSocket upgrade) ends here.

import { ErrorCatalogue } from '@switchyard/protocol';
import { type ContainerProtocol, grpcOutcome, httpOutcome } from '@switchyard/telemetry';
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
   * @param protocol `grpc`, `http` or `websocket`.
   * @param outcome gRPC status code (`0`..`16`), HTTP status class (`1xx`..`5xx`) or `cancelled`.
   * @param seconds from the stream reaching the worker to the relay's end.
   * @param error the kind of container-side failure, else undefined.
   */
  containerCall(
    protocol: ContainerProtocol,
    outcome: string,
    seconds: number,
    error: ContainerErrorKind | undefined,
  ): void;
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
  const protocol = grpc ? 'grpc' : 'http';
  if (r.error === 'CLIENT_CANCELLED') recorder.containerCall(protocol, 'cancelled', seconds, undefined);
  else if (r.error !== undefined)
    recorder.containerCall(
      protocol,
      grpc ? String(ErrorCatalogue[r.error].grpcStatus) : '5xx',
      seconds,
      r.httpStatus === undefined ? 'unavailable' : 'reset',
    );
  // a container's grpc-status outside 0..16 counts as UNKNOWN, as at the front ends (bounded labels)
  else if (r.grpcStatus !== undefined) recorder.containerCall(protocol, grpcOutcome(r.grpcStatus), seconds, undefined);
  else recorder.containerCall(protocol, httpOutcome(r.httpStatus ?? 0), seconds, undefined);
}

/**
 * Records an HTTP container request's result (undici relay): not reachable -> `unavailable`, failed
 * before its answer -> `failed`, cut off after its headers -> `reset`.
 * @param startedAt `performance.now()` when the stream reached the worker.
 */
export function recordHttpRelayEnd(recorder: WorkerRecorder, startedAt: number, r: HttpRelayResult): void {
  const seconds = (performance.now() - startedAt) / 1000;
  if (r.error === 'CLIENT_CANCELLED') recorder.containerCall('http', 'cancelled', seconds, undefined);
  else if (r.error !== undefined) {
    const kind: ContainerErrorKind =
      r.status !== undefined ? 'reset' : r.error === 'SY_UPSTREAM_UNAVAILABLE' ? 'unavailable' : 'failed';
    recorder.containerCall('http', r.status !== undefined ? httpOutcome(r.status) : '5xx', seconds, kind);
  } else recorder.containerCall('http', httpOutcome(r.status ?? 500), seconds, undefined);
}

/**
 * Records a relayed WebSocket's end (G12), protocol `websocket`: outcome the class of the container's
 * answer to the Upgrade (`1xx` once switched, then timed until the WebSocket closed), `5xx` when it
 * failed before answering, `cancelled` when the client left first.
 * @param startedAt `performance.now()` when the stream reached the worker.
 * @param r the container's answer status (undefined: none) and the kind of a container-side failure.
 */
export function recordWebSocketEnd(
  recorder: WorkerRecorder,
  startedAt: number,
  r: { status: number | undefined; error: ContainerErrorKind | undefined },
): void {
  const seconds = (performance.now() - startedAt) / 1000;
  const outcome = r.status !== undefined ? httpOutcome(r.status) : r.error !== undefined ? '5xx' : 'cancelled';
  recorder.containerCall('websocket', outcome, seconds, r.error);
}
