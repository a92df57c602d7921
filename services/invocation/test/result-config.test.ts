// Durable 202 results (issue 11 item 4): the store's lease, retry and grace values are config fields,
// validated at start (each must be shorter than the result's life) and reported all at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '@switchyard/config';
import { InvocationConfigSchema } from '@switchyard/invocation';

const BASE = { natsServers: 'nats://127.0.0.1:4222', redisUrl: 'redis://127.0.0.1:6379' };

describe('202 result store config fields', () => {
  test('should read the lease, retry and grace values from the environment', () => {
    const config = loadConfig(InvocationConfigSchema, {
      service: 'invocation',
      env: {
        SWITCHYARD_NATS_SERVERS: BASE.natsServers,
        SWITCHYARD_REDIS_URL: BASE.redisUrl,
        SWITCHYARD_RESULT_OWNER_LEASE_MS: '3000',
        SWITCHYARD_RESULT_WRITE_RETRY_MS: '4000',
        SWITCHYARD_RESULT_CLAIM_LEASE_MS: '5000',
        SWITCHYARD_RESULT_RESTART_GRACE_MS: '6000',
      },
    });
    assert.deepEqual(
      [config.resultOwnerLeaseMs, config.resultWriteRetryMs, config.resultClaimLeaseMs, config.resultRestartGraceMs],
      [3000, 4000, 5000, 6000],
    );
  });

  test('should default to 15 s owner lease, 15 s write retry, 30 s claim lease and 10 s restart grace', () => {
    const config = loadConfig(InvocationConfigSchema, { service: 'invocation', env: {}, overrides: BASE });
    assert.deepEqual(
      [config.resultOwnerLeaseMs, config.resultWriteRetryMs, config.resultClaimLeaseMs, config.resultRestartGraceMs],
      [15_000, 15_000, 30_000, 10_000],
    );
  });

  test('should report every lease or retry not shorter than the result TTL, and a lease under 1 s, with other problems', () => {
    assert.throws(
      () =>
        loadConfig(InvocationConfigSchema, {
          service: 'invocation',
          env: {},
          overrides: {
            ...BASE,
            resultTtlMs: 10_000,
            resultOwnerLeaseMs: 10_000,
            resultWriteRetryMs: 20_000,
            resultClaimLeaseMs: 500,
            // Another problem at the same time: every one is still listed.
            defaultPollSeconds: 0,
          },
        }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.problems.join('\n');
        assert.match(text, /SWITCHYARD_RESULT_OWNER_LEASE_MS.*less than resultTtlMs/);
        assert.match(text, /SWITCHYARD_RESULT_WRITE_RETRY_MS.*less than resultTtlMs/);
        assert.match(text, /SWITCHYARD_RESULT_CLAIM_LEASE_MS/);
        assert.match(text, /SWITCHYARD_DEFAULT_POLL_SECONDS/);
        return true;
      },
    );
  });
});
