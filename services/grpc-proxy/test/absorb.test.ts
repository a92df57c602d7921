// G13: X-NVCF-ABSORB pre-allocation over HTTP/2 and HTTP/1.1, DELETE ending a session, and the
// [ours] rule that callers sharing one HTTP/2 connection never share a pre-allocated session.

import assert from 'node:assert/strict';
import type http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { codeOf, eventually, h2connect, newChannel, rawH1, rawH2, reqIdOf, unary } from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, type HarnessWorker, RegionHarness } from './region-harness.ts';

const WINDOW_MS = 1_500;
const NOT_FOUND = 5;

/** A unary Echo call on a new channel. */
async function callWith(address: string, metadata: Record<string, string>) {
  const c = newChannel(address);
  try {
    return await unary(c, {}, metadata);
  } finally {
    c.close();
  }
}

describe('pre-allocation (G13)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let worker: HarnessWorker;
  let foreign: HarnessFunction;
  let foreignKey: string;
  let foreignWorker: HarnessWorker;

  /** Headers of an ABSORB POST for the harness function (or `fn` with `key`). */
  const absorbHeaders = (key = h.apiKey, fn = h.functionId): Record<string, string> => ({
    'x-nvcf-absorb': 'true',
    authorization: `Bearer ${key}`,
    'function-id': fn,
  });
  const absorbH2 = (target: string | http2.ClientHttp2Session, key?: string, fn?: string) =>
    rawH2(target, { ':method': 'POST', ':path': '/', ...absorbHeaders(key, fn) });

  before(async () => {
    await h.start({ reconnectWindowMs: WINDOW_MS });
    proxy = await h.addProxy();
    worker = await h.addWorker({ concurrency: 20 });
    foreign = await h.addFunction({ accountId: 'acct-foreign', name: 'foreign' });
    foreignKey = (await h.addApiKey({ accountId: 'acct-foreign' })).key;
    foreignWorker = await h.addWorker({ functionId: foreign.functionId, versionId: foreign.versionId });
  });
  after(() => h.stop());

  test('G13: should pre-allocate a session over HTTP/2 without a call, and a gRPC call with its nvcf-reqid reaches it', async () => {
    const res = await absorbH2(proxy.address);
    assert.equal(res.headers[':status'], 200);
    const reqId = String(res.headers['nvcf-reqid']);
    assert.match(reqId, /^[0-9a-f-]{36}$/);
    assert.match(String(res.headers['set-cookie']), new RegExp(`nvcf-request-id=${reqId}`));
    assert.ok(worker.worker.sessionIds().includes(reqId), 'the worker holds the session');

    const call = await callWith(proxy.address, h.metadata({ 'nvcf-reqid': reqId }));
    assert.equal(call.error, undefined, call.error?.message);
    assert.equal(reqIdOf(call), reqId);
    assert.equal(call.response?.request_id, reqId);
    assert.equal(call.response?.session_calls, 1, 'no call reached the function before');
  });

  test('G13: should pre-allocate over HTTP/1.1 too', async () => {
    const res = await rawH1(proxy.address, 'POST', absorbHeaders(), '/any/path');
    assert.equal(res.status, 200);
    const reqId = String(res.headers['nvcf-reqid']);
    assert.match(String(res.headers['set-cookie']), new RegExp(`nvcf-request-id=${reqId}`));
    assert.ok(worker.worker.sessionIds().includes(reqId));
    const call = await callWith(proxy.address, h.metadata({ 'nvcf-reqid': reqId }));
    assert.equal(call.response?.request_id, reqId);
  });

  test('G13: should end a session on DELETE with its request ID; a later resume gets NOT_FOUND', async () => {
    const reqId = String((await absorbH2(proxy.address)).headers['nvcf-reqid']);
    const auth = { authorization: `Bearer ${h.apiKey}`, 'function-id': h.functionId };
    const del = await rawH2(proxy.address, { ':method': 'DELETE', ':path': '/', 'nvcf-reqid': reqId, ...auth });
    assert.equal(del.headers[':status'], 204);
    assert.match(String(del.headers['set-cookie']), /nvcf-request-id=;.*Max-Age=0/);
    assert.ok(!worker.worker.sessionIds().includes(reqId), 'the worker ended it');
    const call = await callWith(proxy.address, h.metadata({ 'nvcf-reqid': reqId }));
    assert.equal(codeOf(call), NOT_FOUND);
    assert.match(call.error?.details ?? '', /no existing session found/);
    const again = await rawH2(proxy.address, { ':method': 'DELETE', ':path': '/', 'nvcf-reqid': reqId, ...auth });
    assert.equal(again.headers[':status'], 404);
    assert.match(String(again.headers['set-cookie']), /Max-Age=0/);

    // HTTP/1.1, request ID in the cookie, with the ABSORB flag.
    const other = String((await rawH1(proxy.address, 'POST', absorbHeaders())).headers['nvcf-reqid']);
    const h1 = await rawH1(proxy.address, 'DELETE', {
      ...auth,
      'x-nvcf-absorb': 'true',
      cookie: `nvcf-request-id=${other}`,
    });
    assert.equal(h1.status, 204);
    assert.ok(!worker.worker.sessionIds().includes(other));
    // Another account cannot end a session it does not own.
    const mine = String((await absorbH2(proxy.address)).headers['nvcf-reqid']);
    const foreignDel = await rawH1(proxy.address, 'DELETE', {
      authorization: `Bearer ${foreignKey}`,
      'function-id': foreign.functionId,
      'nvcf-reqid': mine,
    });
    assert.equal(foreignDel.status, 404);
    assert.ok(worker.worker.sessionIds().includes(mine));
  });

  test('G13: two ABSORB POSTs on one HTTP/2 connection with two keys get two sessions, each usable only by its own account', async () => {
    const secondKey = (await h.addApiKey()).key;
    const conn = h2connect(proxy.address);
    let a: string;
    let b: string;
    let a2: string;
    try {
      [a, b, a2] = await Promise.all([
        absorbH2(conn).then((r) => String(r.headers['nvcf-reqid'])),
        absorbH2(conn, foreignKey, foreign.functionId).then((r) => String(r.headers['nvcf-reqid'])),
        absorbH2(conn, secondKey).then((r) => String(r.headers['nvcf-reqid'])),
      ]);
    } finally {
      conn.close();
    }
    assert.equal(new Set([a, b, a2]).size, 3, 'every pre-allocation is its own session');
    assert.ok(worker.worker.sessionIds().includes(a) && worker.worker.sessionIds().includes(a2));
    assert.ok(foreignWorker.worker.sessionIds().includes(b));

    const foreignMd = { authorization: `Bearer ${foreignKey}`, 'function-id': foreign.functionId };
    const bOwn = await callWith(proxy.address, { ...foreignMd, 'nvcf-reqid': b });
    assert.equal(bOwn.error, undefined, bOwn.error?.message);
    assert.equal(bOwn.response?.request_id, b);
    const aOwn = await callWith(proxy.address, h.metadata({ 'nvcf-reqid': a }));
    assert.equal(aOwn.response?.request_id, a);
    // A request ID is not a bearer token: the other account's key gets NOT_FOUND both ways.
    assert.equal(codeOf(await callWith(proxy.address, { ...foreignMd, 'nvcf-reqid': a })), NOT_FOUND);
    assert.equal(codeOf(await callWith(proxy.address, h.metadata({ 'nvcf-reqid': b }))), NOT_FOUND);
  });

  test('G13: should end an unused pre-allocation one reconnect window after it (S1)', async () => {
    const reqId = String((await absorbH2(proxy.address)).headers['nvcf-reqid']);
    assert.ok(worker.worker.sessionIds().includes(reqId));
    await eventually(() => !worker.worker.sessionIds().includes(reqId), WINDOW_MS + 3_000, 'pre-allocation ended');
  });
});
