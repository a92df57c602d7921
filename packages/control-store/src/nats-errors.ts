// The control store's view of NATS failures: shared classification from @switchyard/nats-errors,
// with unavailability reported as SY_CONTROL_UNAVAILABLE (never an unknown function or key).
import { toSwitchyardError } from '@switchyard/nats-errors';
import type { SwitchyardError } from '@switchyard/protocol';

export { DeadlineExceededError, isUnavailable, isWrongLastSequence, withDeadline } from '@switchyard/nats-errors';

/** Maps a control-store operation's failure: unavailable -> SY_CONTROL_UNAVAILABLE, else SY_INTERNAL. */
export function toControlError(err: unknown, detail: string): SwitchyardError {
  return toSwitchyardError(err, 'SY_CONTROL_UNAVAILABLE', detail);
}
