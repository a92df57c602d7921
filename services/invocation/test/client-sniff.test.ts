// The cleartext client listener tells HTTP/2 prior knowledge ("PRI * HTTP/2.0") from HTTP/1.1 by its
// first bytes. A first chunk of one byte "P" is a prefix of both "PRI" and "POST"/"PUT"/"PATCH": the
// listener must wait for enough bytes before it decides, or an HTTP/1.1 request that arrives split
// after its first byte goes to the HTTP/2 server (which answers with a GOAWAY, not HTTP/1.1).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_LISTENER_LIMITS } from '@switchyard/config';
import { ClientListener } from '@switchyard/invocation';
import { sendInPieces } from '@switchyard/testkit';

describe('invocation client listener: protocol sniffing', () => {
  let listener: ClientListener;
  let port: number;
  before(async () => {
    listener = new ClientListener(
      (req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(`${req.method} ${req.url}`);
      },
      { idleTimeoutMs: 5_000, limits: DEFAULT_LISTENER_LIMITS },
    );
    listener.server.listen(0, '127.0.0.1');
    await once(listener.server, 'listening');
    port = (listener.server.address() as AddressInfo).port;
  });
  after(() => {
    listener.destroyAll();
    listener.server.close();
  });

  for (const method of ['POST', 'PUT', 'PATCH']) {
    test(`should answer an HTTP/1.1 ${method} whose first chunk is the single byte "P"`, async () => {
      const rest = `${method.slice(1)} /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi`;
      const answer = await sendInPieces(port, ['P', rest]);
      assert.match(answer, /^HTTP\/1\.1 200 /, `answer: ${JSON.stringify(answer.slice(0, 80))}`);
      assert.ok(answer.endsWith(`${method} /echo`), answer);
    });
  }

  test('should still take HTTP/2 prior knowledge whose preface arrives as "P" and then the rest', async () => {
    // Preface, an empty SETTINGS frame, then PING: the server must answer PING with ACK (HTTP/2 served).
    const frame = (type: number, flags: number, payload: Buffer) =>
      Buffer.concat([Buffer.from([0, 0, payload.length, type, flags, 0, 0, 0, 0]), payload]);
    const rest = Buffer.concat([
      Buffer.from('RI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
      frame(0x4, 0, Buffer.alloc(0)),
      frame(0x6, 0, Buffer.from('sniffsnf')),
    ]);
    const answer = Buffer.from(await sendInPieces(port, ['P', rest.toString('latin1')]), 'latin1');
    const pingAck = frame(0x6, 0x1, Buffer.from('sniffsnf'));
    assert.ok(answer.includes(pingAck), `no PING ACK in ${answer.toString('hex')}`);
  });
});
