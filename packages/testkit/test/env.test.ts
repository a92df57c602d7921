// overrideEnv: sets and unsets variables, and puts back exactly what was there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { overrideEnv } from '../src/index.ts';

test('overrideEnv sets and unsets variables, then restores old values and absences', () => {
  process.env.SY_TESTKIT_ENV_A = 'old';
  delete process.env.SY_TESTKIT_ENV_B;
  const restore = overrideEnv({ SY_TESTKIT_ENV_A: undefined, SY_TESTKIT_ENV_B: 'new' });
  try {
    assert.equal('SY_TESTKIT_ENV_A' in process.env, false);
    assert.equal(process.env.SY_TESTKIT_ENV_B, 'new');
  } finally {
    restore();
  }
  assert.equal(process.env.SY_TESTKIT_ENV_A, 'old');
  assert.equal('SY_TESTKIT_ENV_B' in process.env, false);
  delete process.env.SY_TESTKIT_ENV_A;
});
