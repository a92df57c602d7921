// The one call of nats.js `connect()` in a service: the config's credentials, TLS files and inbox
// prefix turned into ConnectionOptions; a refusal at connect (authorization violation, TLS) rethrown
// with what to check, and every permissions violation later logged with the subject it concerned.

import { readFileSync } from 'node:fs';
import {
  type Authenticator,
  credsAuthenticator,
  errors,
  type NatsConnection,
  nkeyAuthenticator,
  type TlsOptions,
  usernamePasswordAuthenticator,
} from '@nats-io/nats-core';
import { type ConnectionOptions, connect } from '@nats-io/transport-node';
import type { NatsConnectionConfig } from './nats-connection-config.ts';

/** Stable code of {@link NatsConnectError}. */
export const NatsConnectErrorCode = {
  /** The server refused the credentials (NATS "authorization violation"). */
  authorization: 'NATS_AUTHORIZATION_VIOLATION',
  /** No server could be reached, or TLS failed. */
  unreachable: 'NATS_UNREACHABLE',
} as const;
export type NatsConnectErrorCode = (typeof NatsConnectErrorCode)[keyof typeof NatsConnectErrorCode];

/** Raised by {@link connectNats} when the first connection fails; `cause` is nats.js's error. */
export class NatsConnectError extends Error {
  /** What failed; compare this, not the message. */
  readonly code: NatsConnectErrorCode;

  constructor(code: NatsConnectErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'NatsConnectError';
    this.code = code;
  }
}

/** Who the connection authenticates as, for messages (never the secret itself). */
export function describeNatsIdentity(config: NatsConnectionConfig): string {
  if (config.natsCreds !== undefined) return `creds file ${config.natsCreds} (SWITCHYARD_NATS_CREDS)`;
  if (config.natsUser !== undefined) return `user "${config.natsUser}" (SWITCHYARD_NATS_USER/_PASSWORD)`;
  if (config.natsNkeySeed !== undefined) return `nkey seed ${config.natsNkeySeed} (SWITCHYARD_NATS_NKEY_SEED)`;
  return 'no credentials (SWITCHYARD_NATS_CREDS, SWITCHYARD_NATS_USER/_PASSWORD or SWITCHYARD_NATS_NKEY_SEED unset)';
}

function authenticator(config: NatsConnectionConfig): Authenticator | undefined {
  // Files are read at each (re)connect: a rotated creds file or seed is used without a restart.
  if (config.natsCreds !== undefined) {
    const path = config.natsCreds;
    return credsAuthenticator(() => readFileSync(path));
  }
  if (config.natsNkeySeed !== undefined) {
    const path = config.natsNkeySeed;
    return nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(path, 'utf8').trim()));
  }
  if (config.natsUser !== undefined) return usernamePasswordAuthenticator(config.natsUser, config.natsPassword);
  return undefined;
}

function tls(config: NatsConnectionConfig): TlsOptions | undefined {
  if (config.natsTlsCa === undefined && config.natsTlsCert === undefined) return undefined;
  return {
    ...(config.natsTlsCa !== undefined ? { caFile: config.natsTlsCa } : {}),
    ...(config.natsTlsCert !== undefined ? { certFile: config.natsTlsCert } : {}),
    ...(config.natsTlsKey !== undefined ? { keyFile: config.natsTlsKey } : {}),
  };
}

/**
 * nats.js ConnectionOptions of a config: servers, authenticator (creds file, nkey seed or
 * user/password; files read at each connect), TLS (`caFile`/`certFile`/`keyFile`; set when a CA or a
 * client certificate is configured, which then requires TLS) and `inboxPrefix`.
 * @param extra options of the caller (name, reconnect policy, ...); they win over none of the above.
 */
export function natsConnectionOptions(
  config: NatsConnectionConfig,
  extra: Omit<ConnectionOptions, 'servers' | 'authenticator' | 'tls' | 'inboxPrefix' | 'user' | 'pass'> = {},
): ConnectionOptions {
  const auth = authenticator(config);
  const tlsOptions = tls(config);
  return {
    ...extra,
    servers: [...config.natsServers],
    inboxPrefix: config.natsInboxPrefix,
    ...(auth !== undefined ? { authenticator: auth } : {}),
    ...(tlsOptions !== undefined ? { tls: tlsOptions } : {}),
  };
}

/** What {@link connectNats} logs with: pino's `error(object, message)` shape. */
export interface NatsConnectLogger {
  error(details: object, message: string): void;
}

/** Options of {@link connectNats}: the caller's connection options, and where violations are logged. */
export interface ConnectNatsOptions
  extends Omit<ConnectionOptions, 'servers' | 'authenticator' | 'tls' | 'inboxPrefix' | 'user' | 'pass'> {
  /** Permissions violations (and other server errors) are logged here for the life of the connection. */
  logger?: NatsConnectLogger;
}

/**
 * Connects to NATS with the config's servers, credentials, TLS and inbox prefix (see
 * {@link natsConnectionOptions}). The connection retries forever after it was once up
 * (`maxReconnectAttempts: -1` unless given). Every permissions violation the server reports later is
 * logged at error as `NATS permissions violation: <identity> may not publish to|subscribe to
 * "<subject>"` (the operation itself fails in its caller as well).
 * @throws NatsConnectError `NATS_AUTHORIZATION_VIOLATION` when the server refuses the credentials
 *   (message names who connected and what to check), `NATS_UNREACHABLE` when no server answers or TLS
 *   fails (message names the servers and nats.js's reason).
 */
export async function connectNats(
  config: NatsConnectionConfig,
  options: ConnectNatsOptions = {},
): Promise<NatsConnection> {
  const { logger, ...extra } = options;
  const identity = describeNatsIdentity(config);
  let nc: NatsConnection;
  try {
    nc = await connect(natsConnectionOptions(config, { maxReconnectAttempts: -1, ...extra }));
  } catch (err) {
    if (err instanceof errors.AuthorizationError || err instanceof errors.UserAuthenticationExpiredError)
      throw new NatsConnectError(
        NatsConnectErrorCode.authorization,
        `NATS refused the connection (authorization violation) for ${identity}: check the credentials against the server's accounts (infra/nats/README.md)`,
        { cause: err },
      );
    throw new NatsConnectError(
      NatsConnectErrorCode.unreachable,
      `could not connect to NATS at ${config.natsServers.join(', ')} as ${identity}: ${(err as Error)?.message ?? err}${
        config.natsTlsCa !== undefined ? ' (TLS: check SWITCHYARD_NATS_TLS_CA / _TLS_CERT / _TLS_KEY)' : ''
      }`,
      { cause: err },
    );
  }
  if (logger !== undefined) void logViolations(nc, identity, logger);
  return nc;
}

async function logViolations(nc: NatsConnection, identity: string, logger: NatsConnectLogger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type !== 'error') continue;
    const err = status.error;
    if (err instanceof errors.PermissionViolationError)
      logger.error(
        { err, operation: err.operation, subject: err.subject, ...(err.queue ? { queue: err.queue } : {}) },
        `NATS permissions violation: ${identity} may not ${err.operation === 'publish' ? 'publish to' : 'subscribe to'} "${err.subject}" (infra/nats/README.md lists each user's permissions)`,
      );
    else if (err instanceof errors.AuthorizationError)
      logger.error({ err }, `NATS authorization violation for ${identity}: the server refused the credentials`);
    else logger.error({ err }, `NATS server error: ${err.message}`);
  }
}

/** Live view of one connection's state, from {@link watchNatsConnection}. */
export interface NatsConnectionState {
  /** True while the connection is up (false between a `disconnect` and the next `reconnect`, and once closed). */
  connected(): boolean;
  /** Reconnects since it was watched (a count, for the `switchyard.nats.reconnects` counter). */
  reconnects(): number;
}

/**
 * Follows `nc.status()` so readiness probes and metrics can ask whether NATS is connected now.
 * @param nc a connected connection (as {@link connectNats} returns).
 */
export function watchNatsConnection(nc: NatsConnection): NatsConnectionState {
  let up = !nc.isClosed();
  let reconnects = 0;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') up = false;
      else if (status.type === 'reconnect') {
        up = true;
        reconnects++;
      }
    }
  })();
  void nc.closed().then(() => {
    up = false;
  });
  return { connected: () => up && !nc.isClosed(), reconnects: () => reconnects };
}
