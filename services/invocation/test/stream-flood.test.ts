// Issue 11 item 2: what the invocation service's HTTP/2 listener does with a client that opens streams
// past SWITCHYARD_MAX_CONCURRENT_STREAMS before acknowledging our SETTINGS (the proxy's listener is the
// same code: test/stream-flood.test.ts). nghttp2 refuses each such stream (REFUSED_STREAM) and node
// counts each refusal as an invalid frame: past SWITCHYARD_HTTP2_MAX_INVALID_FRAMES the connection is
// closed with GOAWAY ENHANCE_YOUR_CALM (node itself would say INTERNAL_ERROR). A client that never
// acknowledges our SETTINGS is closed with GOAWAY SETTINGS_TIMEOUT after SWITCHYARD_HEADERS_TIMEOUT_MS.
// The service serves on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawH2Connection } from '@switchyard/testkit';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

const MAX_STREAMS = 4;
const MAX_INVALID = 20;
const HEADERS_MS = 1_500;
const REFUSED_STREAM = 7;
const SETTINGS_TIMEOUT = 4;
const ENHANCE_YOUR_CALM = 11;

describe('HTTP/2 stream flood on the invocation listener (issue 11 item 2)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  before(async () => {
    await h.start();
    inv = await h.addInvocation({
      maxConcurrentStreams: MAX_STREAMS,
      http2MaxInvalidFrames: MAX_INVALID,
      headersTimeoutMs: HEADERS_MS,
    });
    await h.addWorker({ concurrency: 8 });
  });
  after(() => h.stop());

  const headers = () => ({
    ':method': 'POST',
    ':scheme': 'http',
    ':path': '/hang',
    ':authority': h.host(inv),
    authorization: `Bearer ${h.apiKey}`,
  });

  async function flood(streams: number, body: Buffer | undefined): Promise<RawH2Connection> {
    const conn = await RawH2Connection.open('127.0.0.1', inv.port);
    const started = Date.now();
    await conn.openStreams(streams, headers(), body);
    while (!conn.counts.closed && Date.now() - started < HEADERS_MS + 15_000) await sleep(50);
    conn.destroy();
    return conn;
  }

  async function servesOn(): Promise<void> {
    const res = await request(`${inv.url}/echo`, {
      headers: { host: h.host(inv), authorization: `Bearer ${h.apiKey}` },
    });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }

  it('should refuse streams past the limit and close with ENHANCE_YOUR_CALM once the refusals pass the invalid-frame bound', async () => {
    const conn = await flood(200, Buffer.alloc(0));
    assert.ok(conn.counts.closed);
    assert.equal(conn.counts.goaway?.code, ENHANCE_YOUR_CALM);
    assert.equal(conn.counts.goaway?.lastStreamId, 2 * MAX_STREAMS - 1, 'the first MAX_STREAMS were taken');
    const refused = conn.resets(REFUSED_STREAM);
    assert.ok(refused >= MAX_INVALID && refused <= MAX_INVALID + 2, `refused ${refused}`);
    await servesOn();
  });

  it('should close a client that never acknowledges our SETTINGS with SETTINGS_TIMEOUT', async () => {
    const started = Date.now();
    const conn = await flood(MAX_STREAMS + 5, undefined);
    assert.ok(conn.counts.closed);
    assert.ok(Date.now() - started >= HEADERS_MS - 100, 'closed by the timeout, not at once');
    assert.equal(conn.resets(REFUSED_STREAM), 5, 'the streams past the limit were refused');
    assert.equal(conn.counts.goaway?.code, SETTINGS_TIMEOUT);
    await servesOn();
  });
});
