// The proxy's cleartext client listener tells HTTP/2 prior knowledge from HTTP/1.1 (WebSocket, G12;
// plain HTTP, G3) by its first bytes: an HTTP/1.1 request that arrives split after its first byte "P"
// ("POST", "PUT", "PATCH" share it with "PRI") must still be read as HTTP/1.1.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

/** Writes `parts` one by one with a pause between them; resolves with what the server sent until it closed. */
async function splitRequest(port: number, parts: string[]): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  for (const part of parts) {
    socket.write(Buffer.from(part, 'latin1'));
    await sleep(150);
  }
  await Promise.race([once(socket, 'close'), sleep(3_000)]);
  socket.destroy();
  return Buffer.concat(chunks).toString('latin1');
}

describe('gRPC proxy client listener: protocol sniffing', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  before(async () => {
    await h.start();
    proxy = await h.addProxy();
  });
  after(() => h.stop());

  for (const method of ['POST', 'PUT', 'PATCH']) {
    test(`should answer an HTTP/1.1 ${method} whose first chunk is the single byte "P" (G3)`, async () => {
      const rest = `${method.slice(1)} /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
      const answer = await splitRequest(proxy.port, ['P', rest]);
      // No authorization: G2/G3 UNAUTHENTICATED as plain HTTP 401.
      assert.match(answer, /^HTTP\/1\.1 401 /, `answer: ${JSON.stringify(answer.slice(0, 80))}`);
    });
  }
});
