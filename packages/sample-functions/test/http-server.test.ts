import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  ECHO_BODY_LIMIT_BYTES,
  type HttpEchoResponse,
  type HttpUploadResponse,
  patternChunks,
  patternSha256,
  readSseEvents,
  type SampleServerHandle,
  type SseEvent,
  startHttpSampleServer,
} from '../src/index.ts';
import { multipartBody, request, splitInto } from './http-calls.ts';

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Posts `body` as JSON to `path` and resolves with the request and its response, body unread. */
async function postJson(
  port: number,
  path: string,
  body: unknown,
  headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' },
): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers });
  req.end(JSON.stringify(body));
  const [res] = (await once(req, 'response')) as [http.IncomingMessage];
  return { req, res };
}

/** Posts a chat request and collects the SSE events with their arrival times. */
async function streamChat(
  port: number,
  path: string,
  body: unknown,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ res: http.IncomingMessage; events: SseEvent[] }> {
  const { res } = await postJson(port, path, body, { 'content-type': 'application/json', ...headers });
  const events: SseEvent[] = [];
  for await (const event of readSseEvents(res)) events.push(event);
  return { res, events };
}

describe('HTTP sample server', () => {
  let server: SampleServerHandle;

  before(async () => {
    server = await startHttpSampleServer({ instanceId: 'http-test-1' });
  });

  after(async () => {
    await server.stop();
  });

  it('should listen on a free port at 127.0.0.1 and report its instance id', () => {
    assert.ok(server.port > 0);
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    assert.equal(server.instanceId, 'http-test-1');
  });

  describe('/echo', () => {
    it('should echo method, path, query, headers and a UTF-8 body, with x-instance-id', async () => {
      const r = await request(server.port, '/echo?name=John&tag=a&tag=b', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
        body: '{"name": "John"}',
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-instance-id'], 'http-test-1');
      const echo = r.json as HttpEchoResponse;
      assert.equal(echo.method, 'POST');
      assert.equal(echo.path, '/echo');
      assert.deepEqual(echo.query, { name: 'John', tag: ['a', 'b'] });
      assert.equal(echo.headers['x-custom'], 'yes');
      assert.equal(echo.headers['content-type'], 'application/json');
      assert.equal(echo.body, '{"name": "John"}');
      assert.equal(echo.bodyEncoding, 'utf8');
      assert.equal(echo.bodyBytes, 16);
      assert.equal(echo.bodySha256, sha256('{"name": "John"}'));
      assert.equal(echo.bodyTruncated, false);
      assert.equal(echo.instanceId, 'http-test-1');
    });

    it('should show the NVCF headers the worker adds to the request', async () => {
      const nvcf = {
        'nvcf-reqid': '5f0e7c43-31d8-4a55-9d34-8b7f1b0e8f5e',
        'nvcf-function-id': '0d7b2e5c-7d4e-4f57-a9a4-0b6c3d3e1f00',
        'nvcf-function-version-id': '7b1e2c5d-1b2c-4d3e-8f9a-0a1b2c3d4e5f',
        'nvcf-invocation-region': 'eu-west',
        'nvcf-poll-seconds': '60',
      };
      const r = await request(server.port, '/echo', { headers: nvcf });
      const echo = r.json as HttpEchoResponse;
      for (const [name, value] of Object.entries(nvcf)) assert.equal(echo.headers[name], value, name);
      assert.equal(echo.method, 'GET');
      assert.equal(echo.bodyBytes, 0);
    });

    it('should echo any method, and a binary body as base64', async () => {
      const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]);
      const r = await request(server.port, '/echo', { method: 'PATCH', body: bytes });
      const echo = r.json as HttpEchoResponse;
      assert.equal(echo.method, 'PATCH');
      assert.equal(echo.bodyEncoding, 'base64');
      assert.deepEqual(Buffer.from(echo.body, 'base64'), bytes);
      assert.equal(echo.bodyBytes, 5);
    });

    it('should return only the first MiB of a larger body but count and hash all of it', async () => {
      const total = ECHO_BODY_LIMIT_BYTES + 300_000;
      const body = Buffer.alloc(total, 'x');
      const r = await request(server.port, '/echo', { method: 'PUT', body: splitInto(body, [65_536, 1_000]) });
      const echo = r.json as HttpEchoResponse;
      assert.equal(echo.bodyBytes, total);
      assert.equal(echo.bodyTruncated, true);
      assert.equal(echo.body.length, ECHO_BODY_LIMIT_BYTES);
      assert.equal(echo.bodySha256, sha256(body));
    });
  });

  describe('/upload', () => {
    it('should hash a binary upload and report its size and content type', async () => {
      const body = randomBytes(3_000_000);
      const r = await request(server.port, '/upload', {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: splitInto(body, [100_000, 7, 65_536]),
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-instance-id'], 'http-test-1');
      const answer = r.json as HttpUploadResponse;
      assert.equal(answer.sha256, sha256(body));
      assert.equal(answer.bytes, body.length);
      assert.equal(answer.contentType, 'application/octet-stream');
      assert.equal(answer.parts, undefined);
    });

    it('should hash each part of a multipart upload, whatever the chunk boundaries', async () => {
      const boundary = '----switchyard-test-boundary';
      const file = randomBytes(2_000_003);
      // Content that almost looks like a delimiter must stay content.
      const tricky = Buffer.from(`a\r\n--${boundary.slice(0, -1)}X\r\n--\r\nb`);
      const body = multipartBody(
        boundary,
        [
          { name: 'metadata', content: '123' },
          { name: 'file', filename: 'cool-file.zip', contentType: 'application/zip', content: file },
          { name: 'tricky', content: tricky },
          { name: 'empty', content: '' },
        ],
        { preamble: 'ignored preamble', epilogue: 'ignored epilogue' },
      );
      for (const sizes of [[1, 2, 3, 5, 7, 11, 13], [65_536], [boundary.length + 3, 4096]]) {
        const r = await request(server.port, '/upload?abc=123', {
          method: 'POST',
          headers: { 'content-type': `multipart/form-data; boundary="${boundary}"` },
          body: sizes[0] === 1 ? splitInto(body.subarray(0, 200_000), sizes) : splitInto(body, sizes),
        });
        if (sizes[0] === 1) {
          // A cut-off body (no closing delimiter) is malformed.
          assert.equal(r.status, 400, `sizes ${sizes}`);
          continue;
        }
        assert.equal(r.status, 200, `sizes ${sizes}: ${r.body}`);
        const answer = r.json as HttpUploadResponse;
        assert.equal(answer.sha256, sha256(body));
        assert.equal(answer.bytes, body.length);
        assert.deepEqual(answer.parts, [
          { name: 'metadata', sha256: sha256('123'), bytes: 3 },
          {
            name: 'file',
            filename: 'cool-file.zip',
            contentType: 'application/zip',
            sha256: sha256(file),
            bytes: file.length,
          },
          { name: 'tricky', sha256: sha256(tricky), bytes: tricky.length },
          { name: 'empty', sha256: sha256(''), bytes: 0 },
        ]);
      }
    });

    it('should parse a small multipart body written one byte at a time', async () => {
      const boundary = 'b1';
      const body = multipartBody(boundary, [
        { name: 'x', content: 'hello' },
        { name: 'y', filename: 'y.bin', content: Buffer.from([0, 13, 10, 45, 45]) },
      ]);
      const r = await request(server.port, '/upload', {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body: splitInto(body, [1]),
      });
      assert.equal(r.status, 200, r.body.toString());
      const parts = (r.json as HttpUploadResponse).parts ?? [];
      assert.deepEqual(
        parts.map((p) => [p.name, p.filename, p.bytes]),
        [
          ['x', undefined, 5],
          ['y', 'y.bin', 5],
        ],
      );
    });

    it('should refuse GET with 405 and a multipart type without boundary with 400', async () => {
      const get = await request(server.port, '/upload');
      assert.equal(get.status, 405);
      assert.equal(get.headers.allow, 'POST, PUT');
      const noBoundary = await request(server.port, '/upload', {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data' },
        body: 'x',
      });
      assert.equal(noBoundary.status, 400);
    });
  });

  describe('/download', () => {
    it('should stream the requested number of pattern bytes with content-length', async () => {
      for (const [bytes, seed] of [
        [0, 0],
        [1, 0],
        [5_000_001, 7],
      ] as const) {
        const r = await request(server.port, `/download?bytes=${bytes}&seed=${seed}`);
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-length'], String(bytes));
        assert.equal(r.headers['content-type'], 'application/octet-stream');
        assert.equal(r.body.length, bytes);
        assert.equal(sha256(r.body), patternSha256(bytes, seed));
      }
    });

    it('should give the same pattern bytes whatever the chunk size', () => {
      const a = Buffer.concat([...patternChunks(100_003, 3, 4096)]);
      const b = Buffer.concat([...patternChunks(100_003, 3, 1000)]);
      assert.deepEqual(a, b);
      assert.notDeepEqual(a, Buffer.concat([...patternChunks(100_003, 4)]));
    });

    it('should answer 400 to a negative or non-numeric size', async () => {
      assert.equal((await request(server.port, '/download?bytes=-1')).status, 400);
      assert.equal((await request(server.port, '/download?bytes=abc')).status, 400);
    });
  });

  describe('/v1/chat/completions', () => {
    const chat = {
      model: 'meta/llama',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'Hello there friend' },
      ],
      max_tokens: 5,
    };

    it('should answer a non-streaming request with an OpenAI chat.completion', async () => {
      const r = await request(server.port, '/v1/chat/completions', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(chat),
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-instance-id'], 'http-test-1');
      assert.equal(r.json.object, 'chat.completion');
      assert.equal(r.json.model, 'meta/llama');
      assert.deepEqual(r.json.choices[0].message, { role: 'assistant', content: 'Hello there friend Hello there' });
      assert.equal(r.json.choices[0].finish_reason, 'stop');
      assert.deepEqual(r.json.usage, { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 });
    });

    it('should stream one SSE event per token every delay_ms, then the final chunk and [DONE]', async () => {
      const delayMs = 40;
      const { res, events } = await streamChat(server.port, `/v1/chat/completions?delay_ms=${delayMs}`, {
        ...chat,
        stream: true,
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'text/event-stream');
      assert.equal(res.headers['x-instance-id'], 'http-test-1');
      assert.equal(events.length, chat.max_tokens + 2);
      assert.equal(events.at(-1)?.data, '[DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
      assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: 'Hello' });
      assert.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'Hello there friend Hello there');
      assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
      assert.equal(chunks.at(-1).usage.completion_tokens, 5);
      // Each chunk is stamped when sent: the server waits at least delay_ms between two chunks (a timer
      // never fires early; 1 ms for Date.now rounding), and no chunk arrives before it was sent.
      for (let i = 1; i < chunks.length; i++) {
        const gap = chunks[i].created_ms - chunks[i - 1].created_ms;
        assert.ok(gap >= delayMs - 1, `gap ${i}: ${gap} ms`);
        assert.ok(
          (events[i] as SseEvent).receivedMs >= chunks[i].created_ms - 1,
          `chunk ${i} arrived before it was sent`,
        );
      }
    });

    it('should send the first token at once and each later one as it is made (streamed, not buffered)', async () => {
      // With delay_ms=60000 the second token is a minute away: getting the first event, within the
      // test's timeout, shows it went out before any delay and that the response is not buffered.
      const { req, res } = await postJson(server.port, '/v1/chat/completions?delay_ms=60000', {
        ...chat,
        stream: true,
      });
      try {
        const first = await readSseEvents(res).next();
        assert.equal(first.done, false);
        assert.deepEqual(JSON.parse((first.value as SseEvent).data).choices[0].delta, {
          role: 'assistant',
          content: 'Hello',
        });
      } finally {
        res.destroy();
        req.destroy();
      }
    });

    it('should take the SSE delay from x-sample-delay-ms, and stream when the client accepts text/event-stream', async () => {
      const { res, events } = await streamChat(
        server.port,
        '/v1/chat/completions?delay_ms=60000',
        { ...chat, max_tokens: 3 },
        { accept: 'text/event-stream', 'x-sample-delay-ms': '0' },
      );
      assert.equal(res.headers['content-type'], 'text/event-stream');
      assert.equal(res.headers['x-sample-delay-ms'], '0');
      // With the query's 60 s delay this would take minutes; the header's 0 ends it at once.
      assert.equal(events.length, 5);
    });

    it("should stream SSE from /echo for the product page's streaming example", async () => {
      const { res, events } = await streamChat(
        server.port,
        '/echo',
        { messages: [{ role: 'user', content: 'Hello' }], temperature: 0.2, top_p: 0.7, max_tokens: 4 },
        { accept: 'text/event-stream', 'x-sample-delay-ms': '1' },
      );
      assert.equal(res.headers['content-type'], 'text/event-stream');
      assert.equal(events.length, 6);
      assert.equal(events.at(-1)?.data, '[DONE]');
    });

    it('should answer 400 to a body that is not a chat request and 405 to GET', async () => {
      const post = (body: string) =>
        request(server.port, '/v1/chat/completions', {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
      assert.equal((await post('not json')).status, 400);
      assert.equal((await post('[1]')).status, 400);
      assert.equal((await post('{"max_tokens":0}')).status, 400);
      assert.equal(
        (await request(server.port, '/v1/chat/completions?delay_ms=x', { method: 'POST', body: '{}' })).status,
        400,
      );
      assert.equal((await request(server.port, '/v1/chat/completions')).status, 405);
    });

    it('should stop writing events when the client goes away', async () => {
      const { res } = await postJson(
        server.port,
        '/v1/chat/completions?delay_ms=20',
        { stream: true, max_tokens: 1000 },
        {},
      );
      await once(res, 'data');
      res.destroy();
      await new Promise((r) => setTimeout(r, 100));
      // The server is still healthy and answers the next request.
      assert.equal((await request(server.port, '/status?code=200')).status, 200);
    });
  });

  describe('/sleep and /status', () => {
    it('should answer /sleep after the requested time', async () => {
      const started = performance.now();
      const r = await request(server.port, '/sleep?ms=150');
      const elapsed = performance.now() - started;
      assert.equal(r.status, 200);
      assert.ok(elapsed >= 145, `elapsed ${elapsed}`);
      assert.ok(r.json.sleptMs >= 145);
      assert.equal(r.json.instanceId, 'http-test-1');
      assert.equal((await request(server.port, '/sleep?ms=soon')).status, 400);
    });

    it('should answer /status with the requested status and x-instance-id', async () => {
      for (const code of [200, 201, 202, 204, 404, 418, 500, 503]) {
        const r = await request(server.port, `/status?code=${code}`, { method: 'POST', body: 'ignored' });
        assert.equal(r.status, code);
        assert.equal(r.headers['x-instance-id'], 'http-test-1');
        if (code !== 204) assert.equal(r.json.status, code);
      }
      assert.equal((await request(server.port, '/status?code=99')).status, 400);
      assert.equal((await request(server.port, '/status')).status, 400);
    });

    it('should answer 404 with the list of routes for an unknown path', async () => {
      const r = await request(server.port, '/nope');
      assert.equal(r.status, 404);
      assert.equal(r.headers['x-instance-id'], 'http-test-1');
      assert.ok(r.json.routes.includes('/echo'));
    });
  });
});

describe('HTTP sample server lifecycle', () => {
  it('should let a request in flight finish on stop() and then refuse connections', async () => {
    const server = await startHttpSampleServer();
    const agent = new http.Agent({ keepAlive: true });
    // An idle keep-alive connection must not hold stop() up.
    assert.equal((await request(server.port, '/status?code=200', { agent })).status, 200);
    const inFlight = request(server.port, '/sleep?ms=300');
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    await server.stop();
    assert.ok(performance.now() - started >= 200, 'stop waited for the sleeping request');
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.connection, 'close');
    await assert.rejects(request(server.port, '/echo', { agent: false }), { code: 'ECONNREFUSED' });
    agent.destroy();
  });

  it('should reset connections on kill(), as a crashed container would', async () => {
    const server = await startHttpSampleServer();
    const inFlight = request(server.port, '/sleep?ms=10000');
    await new Promise((r) => setTimeout(r, 50));
    server.kill();
    await assert.rejects(inFlight, { code: 'ECONNRESET' });
    const socket = net.connect(server.port, '127.0.0.1');
    await assert.rejects(once(socket, 'connect'), { code: 'ECONNREFUSED' });
  });
});
