// @switchyard/rate-limit: token buckets in Redis shared by every replica of a region (G2, H10).

export type { RedisErrorKind, RedisOperationRecorder } from './redis-operations.ts';
export { REDIS_OPERATIONS, recordRedisOperations, redisErrorKind } from './redis-operations.ts';
export type { BucketSpec } from './token-bucket.ts';
export { bucketKey, TokenBuckets } from './token-bucket.ts';
