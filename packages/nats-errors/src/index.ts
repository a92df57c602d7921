// @switchyard/nats-errors: classify nats.js failures (unavailable vs refused, timeout, stream full) and
// bound operations in time.
export type { RequestWithGraceOptions } from './nats-errors.ts';
export {
  DeadlineExceededError,
  isNoResponders,
  isStreamFull,
  isTimeout,
  isUnavailable,
  isWrongLastSequence,
  JS_STREAM_STORE_FAILED,
  requestWithGrace,
  toSwitchyardError,
  withDeadline,
} from './nats-errors.ts';
