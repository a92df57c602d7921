// G12 + G15 across two regions on loopback: a WebSocket session started through us-east's gRPC proxy
// is resumed through eu-west's with `Sec-WebSocket-Protocol: nvcf-reqid.<id>, authorization.<key>,
// function-id.<id>` and reaches the same container session (the sample WebSocket container of
// services/grpc-proxy/test/ws-container.ts behind a us-east worker). Nothing is mocked.

import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { after, before, describe, test } from 'node:test';
import { RegionsStack, type StackFunction, type StackProxy } from './regions-stack.ts';

/** The fields of services/grpc-proxy/test/ws-container.ts's WsHello this suite reads. */
interface WsHello {
  instance: string;
  reqId: string | undefined;
  offered: string | undefined;
  sawAuthorization: boolean;
  connectionsOfSession: number;
}

/** A running sample WebSocket container (ws-container.ts). */
interface WsContainer {
  port: number;
  stop(): Promise<void>;
}

// ws-container.ts is loaded at run time: tsc -b refuses any import (even type-only) of another
// project's test file whose output path it cannot rewrite (TS2878).
const wsContainerModule = (await import(
  new URL('../services/grpc-proxy/test/ws-container.ts', import.meta.url).href
)) as {
  APP_SUBPROTOCOL: string;
  startWsContainer(): Promise<WsContainer>;
};
const { APP_SUBPROTOCOL, startWsContainer } = wsContainerModule;

const EAST = 'us-east';
const WEST = 'eu-west';

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

/** Opens a WebSocket to `address` offering `protocols`; resolves once the container's hello arrived. */
function openWs(address: string, protocols: string[]): Promise<Client> {
  const ws = new WebSocket(`ws://${address}/`, protocols);
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

describe('two regions: WebSocket resume across regions (G12, G15)', () => {
  let stack: RegionsStack;
  let fn: StackFunction;
  let container: WsContainer;
  let east: StackProxy;
  let west: StackProxy;

  before(async () => {
    stack = await RegionsStack.start({ regions: [EAST, WEST] });
    fn = await stack.addFunction({ name: 'ws-echo' });
    container = await startWsContainer();
    // Only us-east has a worker: eu-west can reach the session only through the cross-region lookup.
    await stack.addWorker(EAST, fn, { websocketUpstream: `ws://127.0.0.1:${container.port}` });
    const overrides = { remoteLookupTimeoutMs: 800, attachTimeoutMs: 5_000, reconnectTimeoutMs: 2_000 };
    east = await stack.addProxy(EAST, overrides);
    west = await stack.addProxy(WEST, overrides);
  });

  after(async () => {
    await stack?.stop();
    await container?.stop();
  });

  test('G12, G15: a WebSocket session of us-east is resumed through eu-west with nvcf-reqid.<id> and reaches the same container session', async () => {
    const creds = [`authorization.${stack.apiKey}`, `function-id.${fn.functionId}`];
    const first = await openWs(east.address, [...creds, APP_SUBPROTOCOL]);
    const reqId = first.headers['nvcf-reqid'];
    try {
      assert.match(reqId, /^[0-9a-f-]{36}$/);
      assert.equal(first.hello.reqId, reqId);
      assert.equal(first.hello.connectionsOfSession, 1);
      const resumed = await openWs(west.address, [`nvcf-reqid.${reqId}`, ...creds, APP_SUBPROTOCOL]);
      try {
        assert.equal(resumed.ws.protocol, APP_SUBPROTOCOL, 'the container chose the subprotocol');
        assert.equal(resumed.headers['nvcf-reqid'], reqId);
        assert.equal(resumed.hello.reqId, reqId, 'the same session');
        assert.equal(resumed.hello.instance, first.hello.instance, 'the same container');
        assert.equal(resumed.hello.connectionsOfSession, 2, 'the session continues');
        assert.equal(resumed.hello.sawAuthorization, false);
        assert.ok(!resumed.hello.offered?.includes(stack.apiKey), 'the API key must not reach the container');
        resumed.ws.send('through eu-west');
        assert.equal(await resumed.next(), 'through eu-west');
        first.ws.send('still through us-east');
        assert.equal(await first.next(), 'still through us-east');
      } finally {
        resumed.ws.close();
        await resumed.closed;
      }
    } finally {
      first.ws.close();
      await first.closed;
    }
  });
});
