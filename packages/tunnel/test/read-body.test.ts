// readDeclaredBody against real node:http2 and node:http servers: a complete body, a reset stream
// and a body shorter than its content-length.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { readDeclaredBody } from '../src/index.ts';

describe('readDeclaredBody', () => {
  let h2: http2.Http2Server;
  let h1: http.Server;
  let next: ((value: Buffer | undefined) => void) | undefined;
  const result = () =>
    new Promise<Buffer | undefined>((resolve) => {
      next = resolve;
    });

  before(async () => {
    h2 = http2.createServer();
    h2.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      void readDeclaredBody(stream, Number(headers['content-length'])).then((body) => {
        next?.(body);
        if (!stream.closed) stream.respond({ ':status': body ? 200 : 400 }, { endStream: true });
      });
    });
    h1 = http.createServer((req, res) => {
      void readDeclaredBody(req, Number(req.headers['content-length'])).then((body) => {
        next?.(body);
        res.writeHead(body ? 200 : 400).end();
      });
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await new Promise((r) => h2.close(r));
    await new Promise((r) => h1.close(r));
  });

  test('should read a complete body over HTTP/2 and HTTP/1.1', async () => {
    const body = Buffer.alloc(40_000, 7);
    const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    const wait = result();
    const req = client.request({ ':method': 'POST', 'content-length': String(body.length) });
    req.end(body);
    assert.ok((await wait)?.equals(body));
    req.close();
    client.close();
    const wait1 = result();
    const res = await fetch(`http://127.0.0.1:${(h1.address() as AddressInfo).port}/`, { method: 'POST', body });
    assert.equal(res.status, 200);
    assert.ok((await wait1)?.equals(body));
  });

  test('should give undefined for a stream reset mid-body, never the part that came', async () => {
    const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    const wait = result();
    const req = client.request({ ':method': 'POST', 'content-length': '40000' });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(10_000, 1));
    setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 50);
    assert.equal(await wait, undefined);
    client.close();
  });

  test('should give undefined for a body that ends short of its content-length', async () => {
    const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    const wait = result();
    const req = client.request({ ':method': 'POST', 'content-length': '40000' });
    req.on('error', () => undefined);
    req.end(Buffer.alloc(10_000, 2));
    assert.equal(await wait, undefined);
    client.close();
  });
});
