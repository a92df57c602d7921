// Token buckets in Redis (G2 "exceeded rate limit", H10 429): several buckets (per API key, per
// function...) are checked and taken by one Lua call, all or none, so every replica of a region
// shares them and a request refused by one bucket does not spend tokens of the others.

import { SwitchyardError } from '@switchyard/protocol';
import type { Redis } from 'ioredis';

// KEYS: one bucket each. ARGV: now (epoch ms), then per bucket: capacity, refill per ms.
// Pass 1 computes every bucket's refilled level; pass 2 takes one token from each only if all have one.
const TAKE_ALL = `
local now = tonumber(ARGV[1])
local levels = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[i * 2])
  local refill = tonumber(ARGV[i * 2 + 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  levels[i] = math.min(capacity, tokens + math.max(0, now - at) * refill)
end
local allowed = 1
for i = 1, #KEYS do
  if levels[i] < 1 then allowed = 0 end
end
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[i * 2])
  local refill = tonumber(ARGV[i * 2 + 1])
  local tokens = levels[i]
  if allowed == 1 then tokens = tokens - 1 end
  redis.call('HSET', key, 'tokens', tokens, 'at', now)
  redis.call('PEXPIRE', key, math.ceil(capacity / refill) + 1000)
end
return allowed
`;

/** One bucket to take a token from: its Redis key and its rate. */
export interface BucketSpec {
  /** Redis key, e.g. from {@link bucketKey}. */
  key: string;
  /** Tokens added per minute; also the burst (bucket capacity). Must be > 0. */
  perMinute: number;
}

/** Redis key of the bucket of `scope` (`key`, `function`...) and `id`: `switchyard:rl:<scope>:<id>`. */
export function bucketKey(scope: string, id: string): string {
  return `switchyard:rl:${scope}:${id}`;
}

type TakeCommand = (numKeys: number, ...args: (string | number)[]) => Promise<number>;

/** Token buckets on one Redis connection. */
export class TokenBuckets {
  readonly #redis: Redis & { switchyardTakeAll?: TakeCommand };

  constructor(redis: Redis) {
    this.#redis = redis;
    redis.defineCommand('switchyardTakeAll', { lua: TAKE_ALL });
  }

  /**
   * Takes one token from every bucket in `buckets`, or from none when any is empty. Buckets with
   * `perMinute <= 0` are unlimited and skipped; an empty list always passes without a round trip.
   * @throws SwitchyardError SY_RATE_LIMITED when a bucket is empty; SY_RATE_LIMIT_UNAVAILABLE when Redis fails.
   */
  async take(buckets: readonly BucketSpec[]): Promise<void> {
    const limited = buckets.filter((b) => b.perMinute > 0);
    if (limited.length === 0) return;
    const args: (string | number)[] = [...limited.map((b) => b.key), Date.now()];
    for (const b of limited) args.push(b.perMinute, b.perMinute / 60_000);
    let allowed: number;
    try {
      allowed = await this.#redis.switchyardTakeAll!(limited.length, ...args);
    } catch (err) {
      throw new SwitchyardError('SY_RATE_LIMIT_UNAVAILABLE', { cause: err });
    }
    if (allowed !== 1) throw new SwitchyardError('SY_RATE_LIMITED');
  }
}
