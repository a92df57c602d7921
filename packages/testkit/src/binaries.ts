// Locates the nats-server and redis-server binaries the kit runs. The lookup lives in
// @switchyard/local-tools (the CLI and the benches use it too); here its error becomes a
// TestkitError, so a test can tell a broken environment from a failure of the code under test.

import {
  LocalToolsError,
  natsServerBinary as localNatsServerBinary,
  redisServerBinary as localRedisServerBinary,
} from '@switchyard/local-tools';
import { TestkitError, TestkitErrorCode } from './testkit-error.ts';

function asTestkitError<T>(find: () => T): T {
  try {
    return find();
  } catch (err) {
    if (err instanceof LocalToolsError)
      throw new TestkitError(TestkitErrorCode.binaryMissing, err.message, { cause: err.cause ?? err });
    throw err;
  }
}

/**
 * Path of a nats-server 2.10+ binary (see `natsServerBinary` of @switchyard/local-tools: the fetch
 * script, honouring `SWITCHYARD_NATS_SERVER`, run once per process and cached).
 *
 * @returns absolute path of the binary.
 * @throws {TestkitError} code `TESTKIT_BINARY_MISSING` when none can be found or fetched; the message says how to install one.
 */
export function natsServerBinary(): string {
  return asTestkitError(localNatsServerBinary);
}

/**
 * Path of redis-server: `SWITCHYARD_REDIS_SERVER` when set, else `redis-server` found on `PATH`.
 *
 * @returns path of an executable redis-server.
 * @throws {TestkitError} code `TESTKIT_BINARY_MISSING` naming how to install it when none is found or
 *   `SWITCHYARD_REDIS_SERVER` is not executable.
 */
export function redisServerBinary(): string {
  return asTestkitError(localRedisServerBinary);
}
