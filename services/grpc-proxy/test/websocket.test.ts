// G12: WebSocket clients on the proxy's client port. A real WebSocket client (Node's built-in one)
// reaches a real WebSocket container behind a worker, with credentials in Sec-WebSocket-Protocol;
// errors before the upgrade are HTTP answers (G3, G8, G14); sessions resume and end like gRPC ones.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dc from 'node:diagnostics_channel';
import type http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { NatsNames } from '@switchyard/protocol';
import { eventually, newChannel, rawUpgradeRequest, reqIdOf, unary } from './echo-calls.ts';
import { type HarnessProxy, type HarnessWorker, RegionHarness } from './region-harness.ts';
import { APP_SUBPROTOCOL, startWsContainer, type WsContainer, type WsHello } from './ws-container.ts';

const UNKNOWN = '3c9a7b1e-52d4-4f0a-8b6c-1d2e3f4a5b6c';
const WINDOW_MS = 1_500;

/** Headers of each WebSocket's 101 answer (the WebSocket API hides them; undici publishes them). */
const handshakes = new WeakMap<WebSocket, Record<string, string>>();
dc.subscribe('undici:websocket:open', (message) => {
  const m = message as { websocket: WebSocket; handshakeResponse?: { headers: Record<string, string> } };
  if (m.handshakeResponse) handshakes.set(m.websocket, m.handshakeResponse.headers);
});

/** An open client WebSocket, its 101 headers, the container's hello and a queue of later messages. */
interface Client {
  ws: WebSocket;
  headers: Record<string, string>;
  hello: WsHello;
  next(): Promise<string | Buffer>;
  closed: Promise<CloseEvent>;
}

function openWs(
  address: string,
  options: { protocols?: string[]; headers?: Record<string, string>; path?: string } = {},
): Promise<Client> {
  const ws = new WebSocket(`ws://${address}${options.path ?? '/'}`, {
    protocols: options.protocols ?? [],
    headers: options.headers,
  } as unknown as string[]);
  ws.binaryType = 'arraybuffer';
  const queue: (string | Buffer)[] = [];
  const waiters: ((m: string | Buffer) => void)[] = [];
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener('close', resolve));
  ws.addEventListener('message', (e) => {
    const data = typeof e.data === 'string' ? e.data : Buffer.from(e.data as ArrayBuffer);
    const waiter = waiters.shift();
    if (waiter) waiter(data);
    else queue.push(data);
  });
  const next = () =>
    new Promise<string | Buffer>((resolve) => {
      const m = queue.shift();
      if (m !== undefined) resolve(m);
      else waiters.push(resolve);
    });
  return new Promise((resolve, reject) => {
    ws.addEventListener('error', () => reject(new Error('WebSocket failed before opening')), { once: true });
    ws.addEventListener(
      'open',
      async () => {
        const hello = JSON.parse(String(await next())) as WsHello;
        resolve({ ws, headers: handshakes.get(ws) ?? {}, hello, next, closed });
      },
      { once: true },
    );
  });
}

/** A raw HTTP/1.1 Upgrade request: what a refused handshake answers (status, headers, body). */
async function rawUpgrade(
  address: string,
  headers: Record<string, string>,
  path = '/',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const { socket, ...answer } = await rawUpgradeRequest(address, headers, path);
  socket?.destroy();
  return answer;
}

describe('WebSocket clients (G12)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let container: WsContainer;
  let worker: HarnessWorker;
  /** Credentials of the harness function as subprotocol entries. */
  let creds: string[];

  before(async () => {
    await h.start({ reconnectWindowMs: WINDOW_MS });
    container = await startWsContainer();
    proxy = await h.addProxy();
    // gRPC calls go to the echo container, WebSockets to the sample WebSocket container.
    worker = await h.addWorker({ concurrency: 20, websocketUpstream: `ws://127.0.0.1:${container.port}` });
    creds = [`authorization.${h.apiKey}`, `function-id.${h.functionId}`];
  });
  after(async () => {
    await h.stop();
    await container.stop();
  });

  test('G12: should relay a WebSocket whose credentials ride only in Sec-WebSocket-Protocol, with the container choosing the subprotocol', async () => {
    const c = await openWs(proxy.address, { protocols: [...creds, APP_SUBPROTOCOL] });
    try {
      assert.equal(c.ws.protocol, APP_SUBPROTOCOL);
      const reqId = c.headers['nvcf-reqid'];
      assert.match(reqId, /^[0-9a-f-]{36}$/);
      assert.match(c.headers['set-cookie'] ?? '', new RegExp(`nvcf-request-id=${reqId}`));
      assert.equal(c.headers['x-container'], 'ws-echo');
      // The container sees the session's request ID, never the API key.
      assert.equal(c.hello.reqId, reqId);
      assert.equal(c.hello.sawAuthorization, false);
      assert.ok(!c.hello.offered?.includes(h.apiKey), 'the API key must not reach the container');
      assert.ok(worker.worker.sessionIds().includes(reqId));

      c.ws.send('hello, function');
      assert.equal(await c.next(), 'hello, function');
      const small = randomBytes(1_000);
      c.ws.send(small);
      assert.deepEqual(await c.next(), small);
      const big = randomBytes(10 * 1024 * 1024);
      c.ws.send(big);
      const echoed = (await c.next()) as Buffer;
      assert.equal(echoed.length, big.length);
      assert.ok(echoed.equals(big), '10 MiB binary message echoed unchanged');
      c.ws.send('after the big one');
      assert.equal(await c.next(), 'after the big one');
    } finally {
      c.ws.close();
      await c.closed;
    }
  });

  test('G12: should let real headers win over Sec-WebSocket-Protocol entries', async () => {
    const good = await openWs(proxy.address, {
      protocols: ['authorization.not-a-key', `function-id.${UNKNOWN}`, APP_SUBPROTOCOL],
      headers: { authorization: `Bearer ${h.apiKey}`, 'function-id': h.functionId },
    });
    good.ws.close();
    await good.closed;
    const bad = await rawUpgrade(proxy.address, {
      authorization: 'Bearer not-a-key',
      'sec-websocket-protocol': [...creds, APP_SUBPROTOCOL].join(', '),
    });
    assert.equal(bad.status, 401);
  });

  test('G12: should resume a session from an nvcf-reqid.<id> entry or the cookie while another WebSocket holds it', async () => {
    const first = await openWs(proxy.address, { protocols: [...creds, APP_SUBPROTOCOL] });
    const reqId = first.headers['nvcf-reqid'];
    try {
      const byProtocol = await openWs(proxy.address, { protocols: [...creds, `nvcf-reqid.${reqId}`, APP_SUBPROTOCOL] });
      assert.equal(byProtocol.headers['nvcf-reqid'], reqId);
      assert.equal(byProtocol.headers['set-cookie'], undefined, 'a resumed session sets no new cookie');
      assert.equal(byProtocol.hello.reqId, reqId);
      assert.equal(byProtocol.hello.connectionsOfSession, 2);
      byProtocol.ws.send('same session');
      assert.equal(await byProtocol.next(), 'same session');
      byProtocol.ws.close();
      await byProtocol.closed;

      const byCookie = await openWs(proxy.address, {
        protocols: [...creds, APP_SUBPROTOCOL],
        headers: { cookie: `nvcf-request-id=${reqId}` },
      });
      assert.equal(byCookie.hello.reqId, reqId);
      byCookie.ws.close();
      await byCookie.closed;

      // A gRPC call with that request ID reaches the same worker session.
      const c = newChannel(proxy.address);
      const call = await unary(c, {}, h.metadata({ 'nvcf-reqid': reqId }));
      c.close();
      assert.equal(call.error, undefined, call.error?.message);
      assert.equal(reqIdOf(call), reqId);
    } finally {
      first.ws.close();
      await first.closed;
    }
  });

  test('G12: should answer a bad key with 401 and CORS headers before any upgrade', async () => {
    const res = await rawUpgrade(proxy.address, {
      origin: 'https://app.example',
      'sec-websocket-protocol': ['authorization.not-a-key', `function-id.${h.functionId}`].join(','),
    });
    assert.equal(res.status, 401);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example');
    assert.match(res.body, /invalid or revoked API key/);
    const missing = await rawUpgrade(proxy.address, { 'sec-websocket-protocol': `function-id.${h.functionId}` });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers['access-control-allow-origin'], '*');
  });

  test('G12: should answer an unknown request ID with 404 and clear the cookie', async () => {
    const res = await rawUpgrade(proxy.address, {
      'sec-websocket-protocol': [...creds, `nvcf-reqid.${UNKNOWN}`].join(', '),
    });
    assert.equal(res.status, 404);
    assert.match(res.body, /no existing session found/);
    assert.match(String(res.headers['set-cookie']), /nvcf-request-id=;.*Max-Age=0/);
  });

  test("G12: should pass on the container's refusal of an upgrade", async () => {
    const res = await rawUpgrade(proxy.address, { 'sec-websocket-protocol': creds.join(', ') }, '/refuse');
    assert.equal(res.status, 403);
    assert.equal(res.body, 'refused\n');
    assert.match(String(res.headers['nvcf-reqid']), /^[0-9a-f-]{36}$/);
  });

  test('G12: should free the session one reconnect window after the client closed its WebSocket (S1)', async () => {
    const c = await openWs(proxy.address, { protocols: [...creds, APP_SUBPROTOCOL] });
    const reqId = c.headers['nvcf-reqid'];
    assert.ok(worker.worker.sessionIds().includes(reqId));
    const closedAt = Date.now();
    c.ws.close(1000, 'done');
    const event = await c.closed;
    assert.equal(event.code, 1000);
    await eventually(() => !worker.worker.sessionIds().includes(reqId), WINDOW_MS + 3_000, 'session freed');
    assert.ok(Date.now() - closedAt >= WINDOW_MS - 100, 'the session outlived the close by its window');
    const res = await rawUpgrade(proxy.address, {
      'sec-websocket-protocol': [...creds, `nvcf-reqid.${reqId}`].join(', '),
    });
    assert.equal(res.status, 404);
  });

  test('G12: should close the WebSocket of an evicted session (S3)', async () => {
    const c = await openWs(proxy.address, { protocols: [...creds, APP_SUBPROTOCOL] });
    const reqId = c.headers['nvcf-reqid'];
    const reply = await h.nc.request(
      NatsNames.workerEvict(worker.worker.config.versionId, worker.worker.config.workerId),
      JSON.stringify({ reqId }),
      {
        timeout: 2_000,
      },
    );
    assert.deepEqual(JSON.parse(reply.string()), { ok: true });
    const event = await c.closed;
    // A close frame added by the proxy between the container's frames, not a cut connection (1006).
    assert.equal(event.code, 1001);
    assert.equal(event.reason, 'session ended');
    await eventually(() => !worker.worker.sessionIds().includes(reqId), 2_000, 'session ended at the worker');
  });
});
