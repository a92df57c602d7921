// redis-server as a child of a launch: loopback only, no persistence, ready when it answers PING.

import { mkdirSync } from 'node:fs';
import { redisPing } from '@switchyard/local-tools';
import { type ChildGroup, StopTier } from './child-group.ts';
import type { LaunchedChild } from './launched-child.ts';

/** Options of {@link startRedisServer}. */
export interface StartRedisServerOptions {
  /** Child name (log file `<name>.log`). */
  name: string;
  /** redis-server binary. */
  binary: string;
  /** Port on 127.0.0.1. */
  port: number;
  /** Working directory of the server (absolute, created by the caller or here). */
  dir: string;
  /** Environment of the server. */
  env: Record<string, string | undefined>;
}

/**
 * Starts redis-server in tier infra with an append-only file in its directory, fsynced at every write
 * (`--appendonly yes --appendfsync always`): the 202 results it holds survive a restart of Redis (a
 * crash included), as they must in production (docs/deploy.md). Ready when it answers PING with PONG.
 * @returns the child, not yet ready.
 */
export function startRedisServer(group: ChildGroup, options: StartRedisServerOptions): LaunchedChild {
  mkdirSync(options.dir, { recursive: true });
  return group.start(StopTier.infra, {
    name: options.name,
    command: options.binary,
    // biome-ignore format: flag/value pairs read better one pair per line
    args: [
      '--port', String(options.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'yes',
      '--appendfsync', 'always',
      '--dir', options.dir,
    ],
    env: options.env,
    ready: () => redisPing(options.port),
  });
}
