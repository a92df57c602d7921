// Rate limits on new sessions per API key (G2: RESOURCE_EXHAUSTED "exceeded rate limit"): one token
// bucket per key in Redis (@switchyard/rate-limit, shared with the HTTP invocation service), taken
// atomically by a Lua script so every proxy replica shares it.

import { bucketKey, TokenBuckets } from '@switchyard/rate-limit';
import type { Redis } from 'ioredis';

/** Token bucket of `perMinute` new sessions per API key, burst `perMinute`. */
export class RateLimiter {
  readonly #buckets: TokenBuckets;
  readonly #perMinute: number;

  constructor(redis: Redis, perMinute: number) {
    this.#buckets = new TokenBuckets(redis);
    this.#perMinute = perMinute;
  }

  /**
   * Takes one token for `keyId`.
   * @throws SwitchyardError SY_RATE_LIMITED when the bucket is empty; SY_RATE_LIMIT_UNAVAILABLE when Redis fails.
   */
  async take(keyId: string): Promise<void> {
    await this.#buckets.take([{ key: bucketKey('key', keyId), perMinute: this.#perMinute }]);
  }
}
