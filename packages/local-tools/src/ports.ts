// Loopback ports: a free one for a server about to start, and checks that one can be bound or
// reached. Never a fixed port, so stacks run beside the machine's own NATS and Redis and beside
// each other.

import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** Lowest port `freePort` picks from (below it sit well-known and registered services). */
export const FREE_PORT_MIN = 20_000;

/** Attempts at a random port below the ephemeral range before falling back to port 0. */
const FREE_PORT_TRIES = 50;

/**
 * The kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), where it picks the source
 * port of every outgoing connection and the port of every `listen(0)`; 32768..60999 when unreadable.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high) && low > 0) return [low, high];
  } catch {
    // not Linux, or /proc not mounted
  }
  return [32_768, 60_999];
}

/** Binds 127.0.0.1:`port` (0 = the kernel picks), returns the bound port, releases it. */
async function bindAndRelease(port: number): Promise<number> {
  const server = createServer();
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

/**
 * A loopback port free right now, for a server about to start. It is picked at random between
 * `FREE_PORT_MIN` and the start of the kernel's ephemeral range, not with `listen(0)`: the kernel hands
 * ephemeral ports to every outgoing connection and every `listen(0)` on the machine, so on a busy
 * machine (parallel test runs) a port from that range was often taken again in the seconds between
 * this call and the caller's `listen` (EADDRINUSE). Falls back to port 0 after `FREE_PORT_TRIES`
 * bound ports in a row. Another process may still take the port before the caller binds it.
 *
 * @returns a TCP port number, 1..65535.
 * @throws the underlying `listen` error of the fallback (e.g. EADDRNOTAVAIL when loopback is missing).
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const high = Math.max(FREE_PORT_MIN + 1, ephemeralLow);
  for (let i = 0; i < FREE_PORT_TRIES; i++) {
    const port = FREE_PORT_MIN + randomInt(high - FREE_PORT_MIN);
    try {
      return await bindAndRelease(port);
    } catch {
      // taken (or not bindable): try another
    }
  }
  return bindAndRelease(0);
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
