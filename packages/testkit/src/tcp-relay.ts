// A TCP relay on loopback that can delay every chunk (an injected one-way latency, in each direction)
// and cut and heal the link. Put on a NATS gateway link, it stands in for the network between two
// regions: `tc netem` without root or network namespaces.

import net from 'node:net';
import { registerResource } from './process-registry.ts';

/** Options for {@link startTcpRelay}. */
export interface StartTcpRelayOptions {
  /** Port the relay forwards to, on `targetHost`. */
  targetPort: number;
  /** @default '127.0.0.1' */
  targetHost?: string;
  /** Port to listen on (127.0.0.1); 0 = a free one. @default 0 */
  port?: number;
  /** Delay of every chunk in each direction, in milliseconds (one-way latency). @default 0 */
  delayMs?: number;
}

/** A running relay. */
export interface TcpRelayHandle {
  /** Listening port on 127.0.0.1. */
  port: number;
  /** Connections relayed now. */
  readonly connectionCount: number;
  /** Changes the one-way delay of chunks relayed from now on, in milliseconds. */
  setDelay(ms: number): void;
  /** Destroys every relayed connection and refuses new ones (they are closed at once) until {@link heal}. */
  cut(): void;
  /** Accepts and relays connections again. */
  heal(): void;
  /** Closes the listener and every connection. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts a relay `127.0.0.1:<port>` -> `targetHost:targetPort`. Chunks keep their order; each is
 * written `delayMs` after it was read. Backpressure is not propagated while delaying (a test link).
 * @throws listen errors (EADDRINUSE).
 */
export async function startTcpRelay(options: StartTcpRelayOptions): Promise<TcpRelayHandle> {
  const targetHost = options.targetHost ?? '127.0.0.1';
  let delayMs = options.delayMs ?? 0;
  let cut = false;
  const sockets = new Set<net.Socket>();

  const pipeDelayed = (from: net.Socket, to: net.Socket) => {
    // FIFO with due times: a timer per chunk could reorder chunks when the delay changes.
    const queue: { dueMs: number; chunk: Buffer }[] = [];
    // biome-ignore lint/correctness/noUnusedVariables: read by the `??=` in 'data' (one pending flush at a time)
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length > 0 && queue[0].dueMs <= now) {
        const item = queue.shift() as { dueMs: number; chunk: Buffer };
        if (!to.destroyed) to.write(item.chunk);
      }
      if (queue.length > 0) timer = setTimeout(flush, Math.max(0, queue[0].dueMs - Date.now()));
    };
    from.on('data', (chunk: Buffer) => {
      if (delayMs <= 0 && queue.length === 0) {
        if (!to.destroyed) to.write(chunk);
        return;
      }
      queue.push({ dueMs: Date.now() + delayMs, chunk });
      timer ??= setTimeout(flush, delayMs);
    });
    from.on('close', () => {
      const end = () => to.destroy();
      if (queue.length === 0) end();
      else setTimeout(end, Math.max(0, queue[queue.length - 1].dueMs - Date.now()) + 1);
    });
  };

  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(options.targetPort, targetHost);
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on('error', () => undefined);
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipeDelayed(client, upstream);
    pipeDelayed(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  let stopped = false;
  let unregister = () => {};
  const handle: TcpRelayHandle = {
    port: (server.address() as net.AddressInfo).port,
    get connectionCount() {
      return Math.floor(sockets.size / 2);
    },
    setDelay(ms) {
      delayMs = ms;
    },
    cut() {
      cut = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      cut = false;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      unregister();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  unregister = registerResource(handle);
  return handle;
}
