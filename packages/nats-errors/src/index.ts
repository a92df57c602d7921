// @switchyard/nats-errors: classify nats.js failures (unavailable vs refused, timeout, stream full) and
// bound operations in time.
export type { RequestWithGraceOptions } from './nats-errors.ts';
export {
  DEFAULT_STARTUP_ATTEMPTS,
  DEFAULT_STARTUP_RETRY_MS,
  DeadlineExceededError,
  isNoResponders,
  isReplicasExceedCluster,
  isStreamFull,
  isTimeout,
  isUnavailable,
  isWrongLastSequence,
  JS_STREAM_STORE_FAILED,
  requestWithGrace,
  retryWhileUnavailable,
  toSwitchyardError,
  withDeadline,
} from './nats-errors.ts';
export type { DependencyErrorKind, DependencyOperationRecorder, NatsOperation } from './nats-operations.ts';
export { natsErrorKind, natsOperationOf, recordNatsOperations, timeNatsOperation } from './nats-operations.ts';
