// Issue 11 item 2: the operator API's listener is bounded like the others, from the same config
// fields (SWITCHYARD_FIRST_BYTE_TIMEOUT_MS, _HEADERS_TIMEOUT_MS, _MAX_CONNECTIONS,
// _MAX_HEADER_LIST_BYTES) plus its own request timeout and body limit. The API runs as a process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNats, stopAll } from '@switchyard/testkit';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const TOKEN = 'bounds-test-admin-token-0123';
const FIRST_BYTE_MS = 1_000;
const HEADERS_MS = 2_000;
const REQUEST_MS = 3_000;
const MAX_CONNECTIONS = 50;
/** Generous: 2 shared cores; the point is that they close, not when exactly. */
const MARGIN_MS = 10_000;

/** Resolves with the time `socket` closed (ms since the epoch), or rejects after `withinMs`. */
function closedWithin(socket: net.Socket, withinMs: number): Promise<number> {
  if (socket.destroyed) return Promise.resolve(Date.now());
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${withinMs} ms`)), withinMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now());
    });
  });
}

async function connect(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

/** Sends `raw` and collects what comes back until the server closes or `ms` pass. */
async function exchange(port: number, raw: string | Buffer, ms = 5_000): Promise<string> {
  const s = await connect(port);
  let got = '';
  s.on('data', (d) => {
    got += d;
  });
  s.write(raw);
  await Promise.race([once(s, 'close'), new Promise((r) => setTimeout(r, ms))]);
  s.destroy();
  return got;
}

describe('API listener bounds (issue 11 item 2)', () => {
  let child: ReturnType<typeof spawn>;
  let port: number;
  const healthy = async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status;

  before(async () => {
    const nats = await startNats({});
    child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        SWITCHYARD_LOG_LEVEL: 'warn',
        SWITCHYARD_NATS_SERVERS: nats.url,
        SWITCHYARD_ADMIN_TOKEN: TOKEN,
        SWITCHYARD_PORT: '0',
        SWITCHYARD_FIRST_BYTE_TIMEOUT_MS: String(FIRST_BYTE_MS),
        SWITCHYARD_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
        SWITCHYARD_REQUEST_TIMEOUT_MS: String(REQUEST_MS),
        SWITCHYARD_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
        SWITCHYARD_MAX_HEADER_LIST_BYTES: '4096',
        SWITCHYARD_BODY_LIMIT_BYTES: '2048',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
    port = JSON.parse(line.toString().split('\n')[0]).port;
    assert.ok(port > 0);
  });
  after(async () => {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
    await stopAll();
  });

  test('should close silent sockets after the first-byte timeout and one past maxConnections at once', async () => {
    const silent = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => connect(port)));
    const started = Date.now();
    // One more: closed by the listener at once (well before the silent ones time out).
    const extra = await connect(port);
    const extraClosed = await closedWithin(extra, FIRST_BYTE_MS - 200);
    assert.ok(extraClosed - started < FIRST_BYTE_MS);
    assert.ok(
      silent.every((s) => !s.destroyed),
      'the silent sockets are still open when the extra one is cut',
    );
    const closed = await Promise.all(silent.map((s) => closedWithin(s, FIRST_BYTE_MS + MARGIN_MS)));
    assert.ok(Math.max(...closed) - started >= FIRST_BYTE_MS - 100, 'not closed before the timeout');
    assert.equal(await healthy(), 200);
  });

  test('should close a socket trickling its headers after the headers timeout', async () => {
    const s = await connect(port);
    const request = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`);
    let sent = 0;
    const trickle = setInterval(() => {
      if (!s.destroyed && sent < request.length) s.write(request.subarray(sent, ++sent));
    }, 200);
    const started = Date.now();
    try {
      const closedAt = await closedWithin(s, HEADERS_MS + MARGIN_MS);
      assert.ok(closedAt - started >= HEADERS_MS - 500, `closed after ${closedAt - started} ms`);
      assert.ok(sent < request.length, 'the headers never completed');
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
    assert.equal(await healthy(), 200);
  });

  test('should answer 408 to a body trickled past the request timeout', async () => {
    const s = await connect(port);
    let got = '';
    s.on('data', (d) => {
      got += d;
    });
    s.write(
      `POST /v1/functions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`,
    );
    const trickle = setInterval(() => s.destroyed || s.write(' '), 200);
    try {
      await closedWithin(s, REQUEST_MS + MARGIN_MS);
      assert.match(got, /^HTTP\/1\.1 408/);
    } finally {
      clearInterval(trickle);
      s.destroy();
    }
  });

  test('should answer 431 to a header block over maxHeaderListBytes and 413 to a body over the body limit', async () => {
    const big = await exchange(port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8_000)}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 431/);
    const body = JSON.stringify({ name: 'x'.repeat(4_000) });
    const res = await fetch(`http://127.0.0.1:${port}/v1/functions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body,
    });
    assert.equal(res.status, 413);
    assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
    await res.body?.cancel();
    assert.equal(await healthy(), 200);
  });
});
