// Timing and error counting of Redis commands, at the one place every command of an ioredis client
// goes through: its `sendCommand` (plain commands, scripts, and each command of a MULTI/pipeline).
// The recorder is injected (services pass one from @switchyard/telemetry), so this package needs no
// metrics SDK. This package owns the services' Redis access (token buckets, and this hook).

import { type Redis, ReplyError } from 'ioredis';

/** Kinds of a Redis command that got no answer. */
export type RedisErrorKind = 'timeout' | 'other';

/** Receives one record per finished command (the shape of `DependencyMetricsRecorder` of @switchyard/telemetry). */
export interface RedisOperationRecorder {
  /**
   * @param operation the command name (lower case) when it is one of {@link REDIS_OPERATIONS}, else `other`.
   * @param seconds from sending the command to its reply (or failure).
   * @param error the kind of failure when no reply came; a Redis error reply (`ReplyError`, e.g.
   *   NOSCRIPT before ioredis falls back to EVAL) is a reply, not an error here.
   */
  operation(operation: string, seconds: number, error: RedisErrorKind | undefined): void;
}

/**
 * Command names kept as their own `switchyard.operation` value (what Switchyard sends, and the usual
 * housekeeping); any other command is recorded as `other`, so the label stays bounded.
 */
export const REDIS_OPERATIONS: ReadonlySet<string> = new Set([
  'get',
  'set',
  'del',
  'exists',
  'pexpire',
  'expire',
  'pttl',
  'hset',
  'hget',
  'hmget',
  'hgetall',
  'rpush',
  'lrange',
  'llen',
  'eval',
  'evalsha',
  'script',
  'multi',
  'exec',
  'ping',
  'info',
  'select',
  'client',
]);

/** The bounded operation name of a command. */
function operationOf(name: string): string {
  return REDIS_OPERATIONS.has(name) ? name : 'other';
}

/**
 * Sorts a failed command: `timeout` for ioredis's `commandTimeout` ("Command timed out": ioredis has
 * no error class for it, so this one check is by message), else `other` (connection closed, offline
 * queue disabled, retries exhausted).
 */
export function redisErrorKind(err: unknown): RedisErrorKind {
  return err instanceof Error && err.message === 'Command timed out' ? 'timeout' : 'other';
}

/** Clients already hooked, so a second call replaces the recorder instead of wrapping twice. */
const hooked = new WeakMap<Redis, { recorder: RedisOperationRecorder }>();

/**
 * Times every command `redis` sends into `recorder`. Call once, right after creating the client. Cost
 * per command: two clock reads and one promise reaction.
 */
export function recordRedisOperations(redis: Redis, recorder: RedisOperationRecorder): void {
  const existing = hooked.get(redis);
  if (existing) {
    existing.recorder = recorder;
    return;
  }
  const state = { recorder };
  hooked.set(redis, state);
  const send = redis.sendCommand.bind(redis);
  // A command sent while the client is not ready waits in the offline queue and goes through
  // sendCommand a second time when it is flushed: record each command once.
  const seen = new WeakSet<object>();
  redis.sendCommand = ((command, ...rest) => {
    if (seen.has(command)) return send(command, ...rest);
    seen.add(command);
    const started = performance.now();
    const operation = operationOf(command.name);
    command.promise.then(
      () => state.recorder.operation(operation, (performance.now() - started) / 1000, undefined),
      (err: unknown) =>
        state.recorder.operation(
          operation,
          (performance.now() - started) / 1000,
          err instanceof ReplyError ? undefined : redisErrorKind(err),
        ),
    );
    return send(command, ...rest);
  }) as Redis['sendCommand'];
}
