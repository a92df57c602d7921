// A request ID looked up in several regions' session directories at once (G15): the first hit wins,
// and "not found" is said only when every region said so.

import { isUuid, SwitchyardError } from '@switchyard/protocol';
import type { SessionDirectory, SessionEntry } from './session-directory.ts';

/**
 * Looks a request ID up in several regions' directories in parallel (G15): the first hit wins;
 * all misses -> null.
 * @param options.timeoutMs budget of each lookup (@default each directory's own `timeoutMs`).
 * @throws SwitchyardError SY_DIRECTORY_UNAVAILABLE (cause: the first failure) when no directory
 *   has the session and at least one could not answer: "not found" is only said when every
 *   region said so. SY_INTERNAL when a hit-less lookup met a corrupt record.
 */
export async function findSession(
  directories: SessionDirectory[],
  reqId: string,
  options: { timeoutMs?: number } = {},
): Promise<SessionEntry | null> {
  if (directories.length === 0 || !isUuid(reqId)) return null;
  return new Promise<SessionEntry | null>((resolve, reject) => {
    let pending = directories.length;
    let found = false;
    const failures: unknown[] = [];
    const settle = () => {
      if (--pending > 0 || found) return;
      if (failures.length === 0) resolve(null);
      else {
        const first = failures[0];
        const unavailable = failures.find((f) => f instanceof SwitchyardError && f.code === 'SY_DIRECTORY_UNAVAILABLE');
        reject(
          unavailable ??
            (first instanceof SwitchyardError
              ? first
              : new SwitchyardError('SY_DIRECTORY_UNAVAILABLE', { detail: `find ${reqId}`, cause: first })),
        );
      }
    };
    for (const directory of directories) {
      directory.get(reqId, options).then(
        (entry) => {
          if (entry !== null && !found) {
            found = true;
            resolve(entry);
          }
          settle();
        },
        (err: unknown) => {
          failures.push(err);
          settle();
        },
      );
    }
  });
}
