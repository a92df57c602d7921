// A TCP relay that delays every chunk from the server to the client: a real, slower network path (a
// NATS server in another zone) for tests of races between NATS and a direct tunnel.

import net from 'node:net';

/** A running relay: clients dial `port`, bytes go to `target` unchanged and come back `delayMs` later. */
export interface SlowRelay {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts a relay to `targetPort` on 127.0.0.1 that delays server-to-client bytes by `delayMs`. */
export async function startSlowRelay(targetPort: number, delayMs: number): Promise<SlowRelay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    // Order is kept: every chunk waits the same delay.
    upstream.on('data', (chunk: Buffer) => setTimeout(() => client.writable && client.write(chunk), delayMs));
    upstream.on('end', () => setTimeout(() => client.end(), delayMs));
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
