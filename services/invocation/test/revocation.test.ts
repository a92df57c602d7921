// Revocation ends what is already open (issue 8, H10): a key revoked through the control store cuts
// its SSE response mid-stream within 1 s (a cut response, never one that looks complete), a request of
// it still waiting for its answer gets 401 problem+json, and new requests with it get 401; another
// key's SSE response goes on.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

/** An SSE request over HTTP/1.1: resolves once the first event arrived; `ended` tells how it ended. */
function openSse(inv: HarnessInvocation, host: string, key: string) {
  return new Promise<{ ended: Promise<{ how: 'complete' | 'cut'; events: number; atMs: number }> }>(
    (resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: inv.port,
        path: '/sse?n=60&intervalMs=50',
        agent: false,
        headers: { host, authorization: `Bearer ${key}`, accept: 'text/event-stream' },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        assert.equal(res.statusCode, 200);
        let events = 0;
        let body = '';
        const ended = new Promise<{ how: 'complete' | 'cut'; events: number; atMs: number }>((done) => {
          res.on('end', () => done({ how: body.includes('[DONE]') ? 'complete' : 'cut', events, atMs: Date.now() }));
          res.on('error', () => done({ how: 'cut', events, atMs: Date.now() }));
          res.on('aborted', () => done({ how: 'cut', events, atMs: Date.now() }));
        });
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString();
          events = body.split('\n\n').length - 1;
          if (events === 1) resolve({ ended });
        });
      });
      req.end();
    },
  );
}

describe('revoked keys end their open requests (issue 8)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    await h.addWorker({ concurrency: 8 });
  });
  after(() => h.stop());

  it('should cut a revoked key’s SSE response within 1 s and refuse its new requests; another key’s goes on', async () => {
    const doomed = await h.control.createApiKey({ accountId: h.accountId });
    const kept = await h.control.createApiKey({ accountId: h.accountId });
    const sse = await openSse(inv, h.host(inv), doomed.key);
    const keptSse = await openSse(inv, h.host(inv), kept.key);
    const waiting = request(`${inv.url}/slow?ms=5000`, {
      headers: { host: h.host(inv), authorization: `Bearer ${doomed.key}` },
    });
    await new Promise((resolve) => setTimeout(resolve, 200));

    const revokedAt = Date.now();
    await h.control.revokeApiKey(doomed.record.keyId);
    const end = await sse.ended;
    assert.equal(end.how, 'cut', 'the response is cut, not completed');
    assert.ok(end.atMs - revokedAt <= 1_000, `cut after ${end.atMs - revokedAt} ms`);
    const answer = await waiting;
    assert.equal(answer.statusCode, 401, 'a request still waiting for its answer gets 401');
    assert.ok(Date.now() - revokedAt <= 1_000);
    await answer.body.dump();

    const again = await request(`${inv.url}/echo`, {
      headers: { host: h.host(inv), authorization: `Bearer ${doomed.key}` },
    });
    assert.equal(again.statusCode, 401);
    await again.body.dump();
    const keptEnd = await keptSse.ended;
    assert.equal(keptEnd.how, 'complete', 'another key’s SSE response runs to its end');
  });
});
