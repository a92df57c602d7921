// retryWhileUnavailable: an idempotent start-up step is asked again only while NATS could not answer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineExceededError, retryWhileUnavailable } from '../src/index.ts';

test('should run the step again after "could not answer" failures and return its result', async () => {
  const retried: number[] = [];
  const result = await retryWhileUnavailable(
    async (attempt) => {
      if (attempt < 3) throw new DeadlineExceededError('create bucket sessions_x', 2000);
      return `created on attempt ${attempt}`;
    },
    { retryMs: 1, onRetry: (_err, attempt) => retried.push(attempt) },
  );
  assert.equal(result, 'created on attempt 3');
  assert.deepEqual(retried, [1, 2]);
});

test('should throw the last failure once the attempts are spent', async () => {
  let runs = 0;
  await assert.rejects(
    retryWhileUnavailable(
      async () => {
        runs++;
        throw new DeadlineExceededError('create bucket sessions_x', 2000);
      },
      { attempts: 2, retryMs: 1 },
    ),
    DeadlineExceededError,
  );
  assert.equal(runs, 2);
});

test('should not retry a failure the server understood (a refusal is not "unavailable")', async () => {
  let runs = 0;
  await assert.rejects(
    retryWhileUnavailable(async () => {
      runs++;
      throw new TypeError('invalid bucket name');
    }),
    TypeError,
  );
  assert.equal(runs, 1);
});
