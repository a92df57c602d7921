// The directory's view of NATS failures: shared classification from @switchyard/nats-errors, with
// unavailability reported as SY_DIRECTORY_UNAVAILABLE (never a miss, G8).
import { toSwitchyardError } from '@switchyard/nats-errors';
import type { SwitchyardError } from '@switchyard/protocol';

export { DeadlineExceededError, isUnavailable, isWrongLastSequence, withDeadline } from '@switchyard/nats-errors';

/** Maps a directory operation's failure: unavailable -> SY_DIRECTORY_UNAVAILABLE, else SY_INTERNAL. */
export function toDirectoryError(err: unknown, detail: string): SwitchyardError {
  return toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', detail);
}
