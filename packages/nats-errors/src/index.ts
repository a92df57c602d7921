// @switchyard/nats-errors: classify nats.js failures (unavailable vs refused) and bound operations in time.
export type { RequestWithGraceOptions } from './nats-errors.ts';
export {
  DeadlineExceededError,
  isNoResponders,
  isTimeout,
  isUnavailable,
  isWrongLastSequence,
  requestWithGrace,
  toSwitchyardError,
  withDeadline,
} from './nats-errors.ts';
