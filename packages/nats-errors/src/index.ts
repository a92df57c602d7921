// @switchyard/nats-errors: classify nats.js failures (unavailable vs refused) and bound operations in time.
export {
  DeadlineExceededError,
  isUnavailable,
  isWrongLastSequence,
  toSwitchyardError,
  withDeadline,
} from './nats-errors.ts';
