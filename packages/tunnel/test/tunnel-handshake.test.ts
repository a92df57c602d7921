import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSwitchyardError } from '@switchyard/protocol';
import { dialTunnel, PROCESS_WORKER_SECRET, type TunnelListener } from '../src/index.ts';
import { rawRequest, startListener, statusOf } from './helpers.ts';

const noStreams = () => {};

describe('W1 tunnel registration (CONNECT /v1/proxy)', () => {
  let listener: TunnelListener;
  let uri: string;
  let port: number;

  before(async () => {
    ({ listener, uri } = await startListener({ tokenTtlMs: 30_000 }));
    port = listener.port;
  });
  after(async () => {
    await listener.close();
  });

  const connect = (headers: string, path = '/v1/proxy') =>
    rawRequest(port, `CONNECT ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\n${headers}\r\n`);

  test('W1: should answer 401 to a CONNECT without Authorization', async () => {
    const { token, cancel } = listener.expectAttach('r');
    const before = listener.pendingTokens;
    const response = await connect('x-worker-id: w1\r\n');
    assert.equal(statusOf(response), 401);
    assert.equal(listener.pendingTokens, before, 'no token is spent');
    assert.ok(token);
    cancel();
  });

  test('W1: should answer 401 to an Authorization that is not a Bearer token', async () => {
    assert.equal(statusOf(await connect('authorization: Basic Zm9vOmJhcg==\r\nx-worker-id: w1\r\n')), 401);
    assert.equal(statusOf(await connect('authorization: Bearer\r\nx-worker-id: w1\r\n')), 401);
  });

  test('W1: should answer 400 to a CONNECT without X-Worker-ID, and not spend the token', async () => {
    const { token, attached } = listener.expectAttach('r');
    assert.equal(statusOf(await connect(`authorization: Bearer ${token}\r\n`)), 400);
    // The same token still works once the worker ID is right.
    const tunnel = await dialTunnel({ callbackUri: uri, token, workerId: 'w-ok', onStream: noStreams });
    assert.equal((await attached).workerId, 'w-ok');
    tunnel.destroy();
  });

  test('W1: should record the features a worker announces when it dials, and none when it announces none', async () => {
    const a = listener.expectAttach('r-features');
    const withFeatures = await dialTunnel({
      callbackUri: uri,
      token: a.token,
      workerId: 'w-features',
      features: ['warm-path', 'future-thing'],
      onStream: noStreams,
    });
    assert.deepEqual([...(await a.attached).features].sort(), ['future-thing', 'warm-path']);
    withFeatures.destroy();
    const b = listener.expectAttach('r-plain');
    const plain = await dialTunnel({ callbackUri: uri, token: b.token, workerId: 'w-plain', onStream: noStreams });
    assert.equal((await b.attached).features.size, 0);
    plain.destroy();
  });

  test('W1: should answer 400 to an invalid X-Worker-ID', async () => {
    const { token, cancel } = listener.expectAttach('r');
    for (const bad of ['has space', 'dots.not.allowed', 'x'.repeat(129), 'a/b', '']) {
      const response = await connect(`authorization: Bearer ${token}\r\nx-worker-id: ${bad}\r\n`);
      assert.equal(statusOf(response), 400, `worker id ${JSON.stringify(bad)}`);
    }
    cancel();
  });

  test('W1: should answer 403 to an unknown token', async () => {
    assert.equal(
      statusOf(
        await connect(
          `authorization: Bearer nope\r\nx-worker-id: w1\r\nx-switchyard-worker-secret: ${PROCESS_WORKER_SECRET}\r\n`,
        ),
      ),
      403,
    );
  });

  test('W1: should answer 403 to an already-used token', async () => {
    const { token, attached } = listener.expectAttach('r');
    const first = await dialTunnel({ callbackUri: uri, token, workerId: 'w-used', onStream: noStreams });
    await attached;
    assert.equal(
      statusOf(
        await connect(
          `authorization: Bearer ${token}\r\nx-worker-id: w-used\r\nx-switchyard-worker-secret: ${PROCESS_WORKER_SECRET}\r\n`,
        ),
      ),
      403,
    );
    await assert.rejects(dialTunnel({ callbackUri: uri, token, workerId: 'w-used', onStream: noStreams }), (err) =>
      isSwitchyardError(err, 'SY_TUNNEL_TOKEN_REJECTED'),
    );
    first.destroy();
  });

  test('W1: should answer 403 to an expired token', async () => {
    const { token } = listener.expectAttach('r', 50);
    await sleep(120);
    assert.equal(listener.pendingTokens, 0);
    assert.equal(
      statusOf(
        await connect(
          `authorization: Bearer ${token}\r\nx-worker-id: w1\r\nx-switchyard-worker-secret: ${PROCESS_WORKER_SECRET}\r\n`,
        ),
      ),
      403,
    );
  });

  test('W1: should expire tokens after tokenTtlMs by default', async () => {
    const { listener: short, uri: shortUri } = await startListener({ tokenTtlMs: 50 });
    try {
      const { token } = short.expectAttach('r');
      await sleep(120);
      await assert.rejects(dialTunnel({ callbackUri: shortUri, token, workerId: 'w1', onStream: noStreams }), (err) =>
        isSwitchyardError(err, 'SY_TUNNEL_TOKEN_REJECTED'),
      );
    } finally {
      await short.close();
    }
  });

  test('W1: should answer 200 to a valid CONNECT and resolve the attach with the tunnel of that worker', async () => {
    const { token, attached } = listener.expectAttach('req-200');
    const seen: string[] = [];
    listener.once('tunnel', (t) => seen.push(t.workerId));
    const response = await new Promise<string>((resolve) => {
      // Raw: the status line must be exactly 200 and the socket must stay open.
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          `CONNECT /v1/proxy HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\nx-worker-id: w-raw\r\nx-switchyard-worker-secret: ${PROCESS_WORKER_SECRET}\r\n\r\n`,
        );
      });
      socket.once('data', (chunk: Buffer) => {
        resolve(chunk.toString('latin1'));
        socket.destroy();
      });
    });
    assert.equal(statusOf(response), 200);
    const tunnel = await attached;
    assert.equal(tunnel.workerId, 'w-raw');
    assert.deepEqual(seen, ['w-raw']);
  });

  test('W1: HTTP/2 bytes a worker sends together with its CONNECT head should reach the tunnel', async () => {
    const { token, attached } = listener.expectAttach('req-head');
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    // CONNECT head and the worker's server preface (an empty SETTINGS frame) in one write.
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    socket.write(
      Buffer.concat([
        Buffer.from(
          `CONNECT /v1/proxy HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\nx-worker-id: w-head\r\nx-switchyard-worker-secret: ${PROCESS_WORKER_SECRET}\r\n\r\n`,
        ),
        settings,
      ]),
    );
    // Read exactly the 200 head, then serve HTTP/2 on the rest of the socket.
    const head = await new Promise<string>((resolve) => {
      let text = '';
      const onReadable = () => {
        for (let chunk = socket.read(1); chunk !== null; chunk = socket.read(1)) {
          text += chunk.toString('latin1');
          if (text.endsWith('\r\n\r\n')) {
            socket.off('readable', onReadable);
            resolve(text);
            return;
          }
        }
      };
      socket.on('readable', onReadable);
    });
    assert.equal(statusOf(head), 200);
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end('served');
    });
    server.emit('connection', socket);
    const proxyTunnel = await attached;
    const req = proxyTunnel.session.request({ ':path': '/' });
    req.setEncoding('utf8');
    let body = '';
    for await (const chunk of req) body += chunk;
    assert.equal(body, 'served');
    proxyTunnel.destroy();
  });

  test('W1: HTTP/2 bytes a proxy sends together with its 200 should reach the worker', async () => {
    // A fake callback listener: 200, the client preface, SETTINGS and a PING, all in one write.
    const ping = Buffer.from('switchyd');
    const answered = new Promise<Buffer>((resolve) => {
      const fake = net.createServer((socket) => {
        socket.once('data', () => {
          socket.write(
            Buffer.concat([
              Buffer.from('HTTP/1.1 200 Connection Established\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
              Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]),
              Buffer.from([0, 0, 8, 6, 0, 0, 0, 0, 0]),
              ping,
            ]),
          );
          let received = Buffer.alloc(0);
          socket.on('data', (chunk: Buffer) => {
            received = Buffer.concat([received, chunk]);
            const ack = Buffer.concat([Buffer.from([0, 0, 8, 6, 1, 0, 0, 0, 0]), ping]);
            if (received.includes(ack)) {
              resolve(ack);
              socket.destroy();
              fake.close();
            }
          });
        });
      });
      fake.listen(0, '127.0.0.1', () => {
        const fakePort = (fake.address() as net.AddressInfo).port;
        dialTunnel({
          callbackUri: `http://127.0.0.1:${fakePort}`,
          token: 't',
          workerId: 'w1',
          onStream: noStreams,
        }).then((tunnel) => tunnel.session.on('close', () => {}));
      });
    });
    assert.ok(await answered, 'the worker answered the PING that came with the 200');
  });

  test('W1: dialTunnel should resolve with a serving tunnel and the attach with a ProxyTunnel of its worker ID', async () => {
    const { token, attached } = listener.expectAttach('req-ok');
    const workerTunnel = await dialTunnel({ callbackUri: uri, token, workerId: 'worker_A-1', onStream: noStreams });
    const proxyTunnel = await attached;
    assert.equal(proxyTunnel.workerId, 'worker_A-1');
    assert.equal(listener.get('worker_A-1'), proxyTunnel);
    assert.equal(workerTunnel.callbackUri, uri);
    assert.equal(workerTunnel.closed, false);
    // HTTP/2 works over it: the proxy is the client.
    await new Promise<void>((resolve, reject) => proxyTunnel.session.ping((err) => (err ? reject(err) : resolve())));
    workerTunnel.destroy();
    await once(proxyTunnel, 'close');
    assert.equal(listener.get('worker_A-1'), undefined);
  });

  test('W1: dialTunnel should reject with SY_TUNNEL_AUTH_MISSING on 401', async () => {
    await assert.rejects(dialTunnel({ callbackUri: uri, token: '', workerId: 'w1', onStream: noStreams }), (err) =>
      isSwitchyardError(err, 'SY_TUNNEL_AUTH_MISSING'),
    );
  });

  test('W1: dialTunnel should reject with SY_TUNNEL_WORKER_ID_INVALID on 400', async () => {
    const { token, cancel } = listener.expectAttach('r');
    await assert.rejects(dialTunnel({ callbackUri: uri, token, workerId: 'bad id!', onStream: noStreams }), (err) =>
      isSwitchyardError(err, 'SY_TUNNEL_WORKER_ID_INVALID'),
    );
    cancel();
  });

  test('W1: dialTunnel should reject with SY_TUNNEL_TOKEN_REJECTED on 403', async () => {
    await assert.rejects(
      dialTunnel({ callbackUri: uri, token: 'unknown', workerId: 'w1', onStream: noStreams }),
      (err) => isSwitchyardError(err, 'SY_TUNNEL_TOKEN_REJECTED'),
    );
  });

  test('W1: dialTunnel should reject with SY_TUNNEL_DIAL_FAILED when nothing listens', async () => {
    const { listener: gone, uri: goneUri } = await startListener();
    await gone.close();
    await assert.rejects(dialTunnel({ callbackUri: goneUri, token: 't', workerId: 'w1', onStream: noStreams }), (err) =>
      isSwitchyardError(err, 'SY_TUNNEL_DIAL_FAILED'),
    );
  });

  test('W1: dialTunnel should reject with SY_TUNNEL_DIAL_FAILED when the CONNECT is not answered in time', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      await assert.rejects(
        dialTunnel({
          callbackUri: `http://127.0.0.1:${silentPort}`,
          token: 't',
          workerId: 'w1',
          onStream: noStreams,
          timeoutMs: 100,
        }),
        (err) => isSwitchyardError(err, 'SY_TUNNEL_DIAL_FAILED'),
      );
    } finally {
      silent.close();
    }
  });

  test('W1: a tunnel should stay up after the dial timeout has passed', async () => {
    const { token, attached } = listener.expectAttach('r');
    const workerTunnel = await dialTunnel({
      callbackUri: uri,
      token,
      workerId: 'w-idle',
      onStream: noStreams,
      timeoutMs: 100,
    });
    const proxyTunnel = await attached;
    await sleep(300);
    assert.equal(workerTunnel.closed, false);
    assert.equal(proxyTunnel.closed, false);
    workerTunnel.destroy();
  });

  test('W1: should answer 405 to a request that is not CONNECT', async () => {
    const response = await rawRequest(port, 'GET /v1/proxy HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    assert.equal(statusOf(response), 405);
    assert.match(response, /allow: CONNECT/i);
  });

  test('W1: should answer 404 to a CONNECT to another path', async () => {
    const { token, cancel } = listener.expectAttach('r');
    assert.equal(
      statusOf(
        await connect(
          `authorization: Bearer ${token}\r\nx-worker-id: w1\r\nx-switchyard-worker-secret: ${PROCESS_WORKER_SECRET}\r\n`,
          '/v2/other',
        ),
      ),
      404,
    );
    assert.equal(statusOf(await connect('', 'example.com:443')), 404);
    assert.equal(listener.pendingTokens > 0, true);
    cancel();
  });
});
