// H1-H5, H11 against a real region: Host routing, pexec routes, what passes through, NVCF headers.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { isUuidV4 } from '@switchyard/protocol';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

interface Echo {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}

describe('HTTP routing and pass-through (H1-H5, H11)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  const auth = () => ({ authorization: `Bearer ${h.apiKey}` });

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    await h.addWorker();
  });
  after(() => h.stop());

  it('H1: should route Host <function-id>.invocation.<address:port> (the page form) to the function, path unchanged', async () => {
    const res = await request(`${inv.url}/echo`, {
      method: 'POST',
      headers: { host: h.host(inv), ...auth(), 'content-type': 'application/json' },
      body: '{"message": "hello"}',
    });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.path, '/echo');
    assert.equal(echo.body, '{"message": "hello"}');
  });

  it('H1: should route <version-id>.<function-id>.invocation.<domain> to that version, case-insensitively', async () => {
    const res = await request(`${inv.url}/x`, {
      headers: { host: `${h.versionId}.${h.functionId}.INVOCATION.example.com`.toUpperCase(), ...auth() },
    });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.headers['nvcf-function-version-id'], h.versionId);
  });

  it('H1: should let function-id / function-version-id headers win over the Host', async () => {
    const other = await h.addFunction();
    // The Host names a function nobody serves; the header names ours.
    const res = await request(`${inv.url}/echo`, {
      headers: { host: `${other.functionId}.invocation.example.com`, 'function-id': h.functionId, ...auth() },
    });
    assert.equal(res.statusCode, 200);
    assert.equal(((await res.body.json()) as Echo).headers['nvcf-function-id'], h.functionId);
    const bad = await request(`${inv.url}/echo`, {
      headers: { host: h.host(inv), 'function-version-id': '00000000-0000-4000-8000-000000000000', ...auth() },
    });
    assert.equal(bad.statusCode, 404);
    await bad.body.dump();
  });

  it('H1: should answer 404 problem+json for a Host that matches no route', async () => {
    for (const host of ['example.com', 'not-a-uuid.invocation.example.com', `${h.functionId}.invocation.`]) {
      const res = await request(`${inv.url}/echo`, { headers: { host, ...auth() } });
      assert.equal(res.statusCode, 404, host);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      const problem = (await res.body.json()) as { type: string; title: string; status: number; detail: string };
      assert.equal(problem.status, 404);
      assert.ok(problem.type && problem.title && problem.detail);
    }
  });

  it('H2: should forward POST /v2/nvcf/pexec/functions/{id} to the inference URL, with /versions/{id} too', async () => {
    const res = await request(`${inv.url}/v2/nvcf/pexec/functions/${h.functionId}?a=1`, {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: '{"x":1}',
    });
    assert.equal(res.statusCode, 200);
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.path, '/echo');
    assert.deepEqual(echo.query, { a: '1' });
    const v = await request(`${inv.url}/v2/nvcf/pexec/functions/${h.functionId}/versions/${h.versionId}`, {
      method: 'POST',
      headers: auth(),
      body: 'y',
    });
    assert.equal(v.statusCode, 200);
    assert.equal(((await v.body.json()) as Echo).headers['nvcf-function-version-id'], h.versionId);
  });

  it('H3: should preserve method, path and query, and pass any body and content type', async () => {
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'POST'] as const) {
      const res = await request(`${inv.url}/my-cool-endpoint/a%20b?abc=123&x=y`, {
        method,
        headers: { host: h.host(inv), ...auth(), 'content-type': 'application/x-weird' },
        body: method === 'GET' ? undefined : Buffer.from([0, 1, 2, 255]),
      });
      assert.equal(res.statusCode, 200, method);
      const echo = (await res.body.json()) as Echo;
      assert.equal(echo.method, method);
      assert.equal(echo.path, '/my-cool-endpoint/a%20b');
      assert.deepEqual(echo.query, { abc: '123', x: 'y' });
      if (method !== 'GET') assert.equal(echo.headers['content-type'], 'application/x-weird');
    }
  });

  it('H4: should return the container status, headers and body unchanged, hop-by-hop removed', async () => {
    const res = await request(`${inv.url}/status?code=418`, { headers: { host: h.host(inv), ...auth() } });
    assert.equal(res.statusCode, 418);
    assert.equal(res.headers['x-container'], 'yes');
    assert.deepEqual(await res.body.json(), { error: 'invalid datatype for input message', code: 418 });
    const cookies = await request(`${inv.url}/echo`, { headers: { host: h.host(inv), ...auth() } });
    assert.deepEqual(cookies.headers['set-cookie'], ['a=1', 'b=2']);
    await cookies.body.dump();
  });

  it('H4: should give the container NVCF-* headers set by Switchyard, never the client copies nor authorization', async () => {
    const res = await request(`${inv.url}/echo`, {
      headers: {
        host: h.host(inv),
        ...auth(),
        'nvcf-reqid': 'client-value',
        'nvcf-function-id': 'client-value',
        'nvcf-function-version-id': 'client-value',
        'nvcf-invocation-region': 'client-value',
        'x-switchyard-reqid': 'client-value',
        'x-custom': 'kept',
        'nvcf-poll-seconds': '30',
      },
    });
    const reqId = res.headers['nvcf-reqid'];
    const echo = (await res.body.json()) as Echo;
    assert.equal(echo.headers['nvcf-reqid'], reqId);
    assert.equal(echo.headers['nvcf-function-id'], h.functionId);
    assert.equal(echo.headers['nvcf-function-version-id'], h.versionId);
    assert.equal(echo.headers['nvcf-invocation-region'], h.region);
    const poll = Number(echo.headers['nvcf-poll-seconds']);
    assert.ok(poll >= 29 && poll <= 30, `time left ${poll}`);
    assert.equal(echo.headers.authorization, undefined);
    assert.equal(echo.headers['x-switchyard-reqid'], undefined);
    assert.equal(echo.headers['x-custom'], 'kept');
  });

  it('H5: should answer nvcf-reqid (UUIDv4, new per request), expose it, and nvcf-status by status', async () => {
    const ids = new Set<string>();
    for (const [code, status] of [
      [200, 'fulfilled'],
      [302, 'fulfilled'],
      [202, 'in-progress'],
      [404, 'errored'],
      [500, 'errored'],
    ] as const) {
      const res = await request(`${inv.url}/status?code=${code}`, { headers: { host: h.host(inv), ...auth() } });
      await res.body.dump();
      assert.equal(res.statusCode, code);
      assert.equal(res.headers['nvcf-status'], status, String(code));
      assert.ok(isUuidV4(String(res.headers['nvcf-reqid'])));
      assert.match(String(res.headers['access-control-expose-headers']), /nvcf-reqid/);
      ids.add(String(res.headers['nvcf-reqid']));
    }
    assert.equal(ids.size, 5);
    const err = await request(`${inv.url}/echo`, { headers: { host: h.host(inv) } });
    await err.body.dump();
    assert.equal(err.statusCode, 401);
    assert.equal(err.headers['nvcf-status'], 'errored');
  });

  it('H3: should serve the same routes over cleartext HTTP/2 (h2c prior knowledge) on the same port', async () => {
    const client = http2.connect(inv.url);
    try {
      const stream = client.request({
        ':method': 'POST',
        ':path': '/echo?h2=1',
        ':authority': h.host(inv),
        ...auth(),
      });
      stream.end('over h2');
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
      let body = '';
      for await (const c of stream) body += c;
      assert.equal(headers[':status'], 200);
      assert.equal(headers['nvcf-status'], 'fulfilled');
      const echo = JSON.parse(body) as Echo;
      assert.equal(echo.body, 'over h2');
      assert.deepEqual(echo.query, { h2: '1' });
    } finally {
      client.close();
    }
  });

  it('H11: should serve with any deployed version when none is given', async () => {
    const v2 = await h.control.createVersion(h.functionId);
    await h.addWorker({}, { versionId: v2.versionId });
    const seen = new Set<string>();
    for (let i = 0; i < 30 && seen.size < 2; i++) {
      const res = await request(`${inv.url}/echo`, { headers: { host: h.host(inv), ...auth() } });
      seen.add(((await res.body.json()) as Echo).headers['nvcf-function-version-id']);
    }
    assert.deepEqual([...seen].sort(), [h.versionId, v2.versionId].sort());
  });
});
