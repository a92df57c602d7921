// guardHttp1Headers: the headers timer of HTTP/1.1 sockets handed over by a sniffer. A socket with no
// request in flight for headersTimeoutMs is destroyed (silent, or idle after its responses); a request
// in flight is never cut by it, however long it runs, and each response restarts it.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { guardHttp1Headers } from '@switchyard/tunnel';

const TIMEOUT_MS = 300;

/** Reads from `socket` until `count` complete responses (`\r\n\r\n` + the body "ok") arrived; rejects if it closes first. */
function readResponses(socket: net.Socket, count: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if ((text.match(/\r\n\r\nok/g) ?? []).length < count) return;
      socket.off('data', onData).off('close', onClose);
      resolve(text);
    };
    const onClose = () => {
      socket.off('data', onData);
      reject(new Error(`socket closed before ${count} response(s): ${JSON.stringify(text)}`));
    };
    socket.on('data', onData).once('close', onClose);
  });
}

/** Resolves with how long (ms) `socket` stayed open from now, or rejects after `limitMs`. */
async function closedAfter(socket: net.Socket, limitMs: number): Promise<number> {
  const started = performance.now();
  if (socket.destroyed) return 0;
  await Promise.race([
    once(socket, 'close'),
    sleep(limitMs).then(() => {
      throw new Error(`socket still open after ${limitMs} ms`);
    }),
  ]);
  return performance.now() - started;
}

describe('guardHttp1Headers (HTTP/1.1 headers timer of sniffed sockets)', () => {
  let server: net.Server;
  let port: number;

  before(async () => {
    const h1 = http.createServer({ keepAliveTimeout: 0, headersTimeout: 0, requestTimeout: 0 }, (req, res) => {
      const delayMs = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => res.end('ok'), delayMs);
    });
    h1.timeout = 0;
    const guard = guardHttp1Headers(h1, { headersTimeoutMs: TIMEOUT_MS } as never);
    server = net.createServer((socket) => {
      guard(socket);
      h1.emit('connection', socket);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => {
    server.close();
  });

  test('should destroy a socket that sends nothing within the timeout', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const ms = await closedAfter(socket, TIMEOUT_MS * 4);
    assert.ok(ms >= TIMEOUT_MS * 0.8, `closed after ${ms} ms, before the timeout`);
  });

  test('should let a request run past the timeout, then close the idle socket one timeout after its response', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`GET /?delay=${TIMEOUT_MS * 2} HTTP/1.1\r\nhost: x\r\n\r\n`);
    const text = await readResponses(socket, 1);
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.ok(!socket.destroyed, 'the request in flight was cut by the headers timer');
    const ms = await closedAfter(socket, TIMEOUT_MS * 4);
    assert.ok(ms >= TIMEOUT_MS * 0.8, `idle socket closed after ${ms} ms, before the timeout`);
  });

  test('should restart the timer with each response, so a socket kept busy stays open', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    // Five requests, each sent 60% of a timeout after the previous response: 3 timeouts in all.
    for (let i = 1; i <= 5; i++) {
      socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      await readResponses(socket, 1);
      if (i < 5) await sleep(TIMEOUT_MS * 0.6);
      assert.ok(!socket.destroyed, `socket destroyed after request ${i}`);
    }
    await closedAfter(socket, TIMEOUT_MS * 4);
  });
});
