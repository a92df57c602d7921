// Loopback ports: a free one for a server about to start, and checks that one can be bound or
// reached. Never a fixed port, so stacks run beside the machine's own NATS and Redis and beside
// each other.

import { connect, createServer } from 'node:net';

/**
 * Binds 127.0.0.1 on port 0, reads the port the kernel chose, and releases it.
 * Another process may take the port before the caller binds it; the window is short.
 *
 * @returns a TCP port number in the ephemeral range.
 * @throws the underlying `listen` error (e.g. EADDRNOTAVAIL when loopback is missing).
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * True when 127.0.0.1:`port` can be bound right now (never throws).
 * @param port TCP port, 1..65535.
 */
export async function isPortFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Resolves true when a TCP connection to 127.0.0.1:`port` succeeds within `timeoutMs` (never rejects).
 *
 * @param port TCP port on 127.0.0.1.
 * @param timeoutMs give up after this many milliseconds.
 */
export async function canConnect(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
