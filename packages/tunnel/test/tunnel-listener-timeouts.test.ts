// The callback listener's headers timeout (W1; issue 11): a connection that sends part of a request
// head, or nothing, is closed about headersTimeoutMs after it connected. Node checks its
// headersTimeout only every connectionsCheckingInterval (30 s by default), so without a shorter
// interval a configured 1 s timeout closed such a socket after up to 31 s.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TunnelListener } from '../src/index.ts';

const HEADERS_TIMEOUT_MS = 1_000;

/** ms until the server closes a socket that sent `bytes` (or nothing); rejects after `capMs`. */
async function closedAfter(port: number, bytes: string, capMs: number): Promise<number> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.resume();
  await once(socket, 'connect');
  const started = Date.now();
  if (bytes) socket.write(bytes);
  const timer = setTimeout(() => socket.destroy(new Error('still open')), capMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('close', (hadError) => (hadError ? reject(new Error(`not closed within ${capMs} ms`)) : resolve()));
    });
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}

describe('callback listener headers timeout', () => {
  let listener: TunnelListener;
  let port: number;
  before(async () => {
    listener = new TunnelListener({
      host: '127.0.0.1',
      port: 0,
      limits: { headersTimeoutMs: HEADERS_TIMEOUT_MS, maxHeaderListBytes: 16_384, maxConnections: 100 },
    });
    port = await listener.listen();
  });
  after(() => listener.close());

  for (const [what, bytes] of [
    ['one byte', 'N'],
    ['a partial CONNECT head', 'CONNECT /v1/proxy HTTP/1.1\r\nHost: x\r\n'],
    ['nothing', ''],
  ] as const) {
    test(`should close a connection that sent ${what} within about the headers timeout`, async () => {
      // Generous slack for a loaded machine, far below node's 30 s check interval.
      const ms = await closedAfter(port, bytes, HEADERS_TIMEOUT_MS + 4_000);
      assert.ok(ms >= HEADERS_TIMEOUT_MS - 100, `closed after ${ms} ms, before the timeout`);
    });
  }
});
