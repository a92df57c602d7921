// The `node-proxy` path of `bench http` and `bench grpc` (issue 12): a bare Node.js hop in front of the
// container, in a process of its own (bench/lib/node-proxy-child.ts for HTTP/1.1,
// bench/lib/node-h2-proxy-child.ts for gRPC), and what both children do once they are set up.

import type { Server } from 'node:net';
import { nodeBinary, spawnChild } from './child.ts';

/** A running bare Node hop. */
export interface NodeProxyHandle {
  /** Port its clients call on 127.0.0.1. */
  port: number;
  /** Its process (the CPU charged to `node-proxy`). */
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts the bare Node hop of `protocol` in front of the container listening on 127.0.0.1:`containerPort`.
 * @throws when the child exits or stays silent before its ready line.
 */
export async function startNodeProxy(protocol: 'http' | 'grpc', containerPort: number): Promise<NodeProxyHandle> {
  const script = protocol === 'http' ? 'bench/lib/node-proxy-child.ts' : 'bench/lib/node-h2-proxy-child.ts';
  const child = await spawnChild('node-proxy', nodeBinary(), [script, String(containerPort)]);
  return { port: child.ready.port as number, pid: child.pid, stop: () => child.stop() };
}

/**
 * In a node-proxy child: listens on an ephemeral 127.0.0.1 port, prints `{"ready":true,"port":N}`
 * (what spawnChild waits for), and on SIGTERM stops taking connections, runs `close` and exits 0.
 */
export function listenUntilTerm(server: Server, close: () => Promise<unknown>): void {
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    void close().finally(() => process.exit(0));
  });
}
