// @switchyard/rate-limit: token buckets in Redis shared by every replica of a region (G2, H10), and
// in-process per-key concurrency caps (issue 11 item 2).

export { KeyConcurrency } from './key-concurrency.ts';
export type { RedisErrorKind, RedisOperationRecorder } from './redis-operations.ts';
export { REDIS_OPERATIONS, recordRedisOperations, redisErrorKind } from './redis-operations.ts';
export type { BucketSpec } from './token-bucket.ts';
export { bucketKey, TokenBuckets } from './token-bucket.ts';
