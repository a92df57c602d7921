// The proxy's cleartext client listener tells HTTP/2 prior knowledge from HTTP/1.1 (WebSocket, G12;
// plain HTTP, G3) by its first bytes: an HTTP/1.1 request that arrives split after its first byte "P"
// ("POST", "PUT", "PATCH" share it with "PRI") must still be read as HTTP/1.1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sendInPieces } from '@switchyard/testkit';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

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
      const answer = await sendInPieces(proxy.port, ['P', rest]);
      // No authorization: G2/G3 UNAUTHENTICATED as plain HTTP 401.
      assert.match(answer, /^HTTP\/1\.1 401 /, `answer: ${JSON.stringify(answer.slice(0, 80))}`);
    });
  }
});
