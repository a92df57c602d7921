// Draining the client listener (rolling restart, docs/deploy.md "Upgrading"): the listening socket
// closes at once (a new connection is refused, so a load balancer or client tries another instance),
// an idle kept-alive HTTP/1.1 connection is closed, and a connection whose request has begun to arrive
// is answered (with `Connection: close`), never reset: a reset on a fresh connection is a request the
// client cannot know was not taken.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_LISTENER_LIMITS } from '@switchyard/config';
import { ClientListener } from '@switchyard/invocation';
import { waitFor } from '@switchyard/testkit';

/** A raw socket and everything it has read; `closed` settles when it closes. */
function rawClient(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let read = '';
  let error: NodeJS.ErrnoException | undefined;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    read += chunk;
  });
  socket.on('error', (err) => {
    error = err;
  });
  const closed = once(socket, 'close');
  return { socket, read: () => read, error: () => error, closed };
}

describe('invocation client listener: drain', () => {
  let listener: ClientListener;
  let port: number;
  before(async () => {
    listener = new ClientListener(
      (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end('ok');
      },
      { idleTimeoutMs: 30_000, limits: DEFAULT_LISTENER_LIMITS },
    );
    listener.server.listen(0, '127.0.0.1');
    await once(listener.server, 'listening');
    port = (listener.server.address() as AddressInfo).port;
  });
  after(() => {
    listener.destroyAll();
    listener.server.close();
  });

  test('should refuse new connections, close idle ones, and answer a request that began to arrive', {
    timeout: 20_000,
  }, async () => {
    // An idle kept-alive connection that served one request.
    const idle = rawClient(port);
    idle.socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\n');
    await waitFor(() => idle.read().endsWith('ok'), { what: 'first answer' });
    // A fresh connection whose request is half way over the wire when the drain starts.
    const half = rawClient(port);
    half.socket.write('POST /b HTTP/1.1\r\nHost: x\r\n');
    await waitFor(() => listener.pendingHttp1 === 1, { what: 'the half request sniffed' });

    listener.drain(10_000);
    await idle.closed;
    assert.equal(idle.error(), undefined, 'the idle connection is closed, not reset');
    const refused = net.connect(port, '127.0.0.1');
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');

    half.socket.write('Content-Length: 2\r\n\r\nhi');
    await half.closed;
    assert.equal(half.error(), undefined, `reset instead of answered; read ${JSON.stringify(half.read())}`);
    assert.match(half.read(), /^HTTP\/1\.1 200 /);
    assert.match(half.read(), /\r\nconnection: close\r\n/i);
    assert.equal(listener.pendingHttp1, 0);
  });
});
