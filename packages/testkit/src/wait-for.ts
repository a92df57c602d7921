// Polling helper shared by the server readiness checks and by tests that wait for an
// eventually consistent condition (a gateway propagating interest, a leader being elected).

import { setTimeout as sleep } from 'node:timers/promises';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /**
   * How long to keep polling before giving up, in milliseconds.
   * @default 10000
   */
  timeoutMs?: number;
  /**
   * Pause between two checks, in milliseconds.
   * @default 50
   */
  intervalMs?: number;
  /**
   * What is being waited for, used in the timeout message ("timed out after 10000 ms waiting for <what>").
   * @default 'condition'
   */
  what?: string;
  /**
   * Stops polling early; the returned promise then rejects with the signal's reason.
   * @default undefined
   */
  signal?: AbortSignal;
}

/** Default timeout of {@link waitFor}, in milliseconds. */
export const DEFAULT_WAIT_TIMEOUT_MS = 10_000;
/** Default polling interval of {@link waitFor}, in milliseconds. */
export const DEFAULT_WAIT_INTERVAL_MS = 50;

/**
 * Calls `check` until it returns (or resolves to) `true`. A check that throws counts as "not yet";
 * the last thrown error is quoted in the timeout message and attached as `cause`.
 *
 * @param check synchronous or asynchronous predicate.
 * @param options timeout, interval, description and abort signal.
 * @throws {TestkitError} code `TESTKIT_TIMEOUT` when `timeoutMs` passes without `check` returning true.
 * @throws the signal's reason when `options.signal` aborts.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, options: WaitForOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? DEFAULT_WAIT_INTERVAL_MS;
  const what = options.what ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    options.signal?.throwIfAborted();
    if (Date.now() >= deadline) {
      const detail = lastError === undefined ? '' : `: last error: ${errorText(lastError)}`;
      throw new TestkitError(TestkitErrorCode.timeout, `timed out after ${timeoutMs} ms waiting for ${what}${detail}`, {
        cause: lastError,
      });
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
