// Follows a NATS connection's status so /healthz and the session routes can answer "NATS is
// unreachable" at once instead of waiting for an operation to time out.

import type { NatsConnection, Status } from '@nats-io/nats-core';

/** Live view of one NATS connection's state. */
export interface NatsHealth {
  /** True while the connection is up (not closed, not between a disconnect and a reconnect). */
  readonly connected: boolean;
  /** Stops following the connection. Idempotent. */
  stop(): void;
}

/** Starts following `nc`'s status events. */
export function watchNatsHealth(nc: NatsConnection): NatsHealth {
  let connected = !nc.isClosed();
  let stopped = false;
  const status = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  void (async () => {
    for await (const event of status) {
      if (stopped) break;
      if (event.type === 'disconnect' || event.type === 'close') connected = false;
      else if (event.type === 'reconnect') connected = true;
    }
  })().catch(() => {});
  void nc.closed().then(() => {
    connected = false;
  });
  return {
    get connected() {
      return connected && !nc.isClosed();
    },
    stop() {
      stopped = true;
      status.stop?.();
    },
  };
}
