// H10 (and TLS) against a real region: every platform error is problem+json with the contract status.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '@switchyard/testkit';
import { Agent, request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

async function problemOf(res: Awaited<ReturnType<typeof request>>): Promise<Problem> {
  assert.equal(res.headers['content-type'], 'application/problem+json');
  assert.equal(res.headers['nvcf-status'], 'errored');
  const body = (await res.body.json()) as Problem;
  for (const field of ['type', 'title', 'status', 'detail'] as const) assert.ok(body[field], `problem has ${field}`);
  assert.equal(body.status, res.statusCode);
  return body;
}

describe('HTTP platform errors (H10) and TLS', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    await h.addWorker();
  });
  after(() => h.stop());

  const call = (headers: Record<string, string>, target: HarnessInvocation = inv, fn = h.functionId) =>
    request(`${target.url}/echo`, { headers: { host: h.host(target, fn), ...headers } });

  it('H10: should answer 401 for a missing or malformed Authorization and for an unknown key', async () => {
    assert.equal((await problemOf(await call({}))).code, 'SY_AUTH_MISSING');
    const basic = await call({ authorization: 'Basic abc' });
    assert.equal(basic.statusCode, 401);
    await basic.body.dump();
    const unknown = await call({ authorization: 'Bearer sy_not-a-real-key' });
    assert.equal(unknown.statusCode, 401);
    assert.equal((await problemOf(unknown)).code, 'SY_AUTH_INVALID');
  });

  it('H10: should answer 403 for a key not allowed to invoke the function', async () => {
    const other = await h.addFunction();
    const scoped = await h.control.createApiKey({ accountId: h.accountId, functions: [other.functionId] });
    const res = await call({ authorization: `Bearer ${scoped.key}` });
    assert.equal(res.statusCode, 403);
    assert.equal((await problemOf(res)).code, 'SY_AUTH_FORBIDDEN');
  });

  it('H10: should answer 404 for an unknown function or version', async () => {
    const res = await call({ authorization: `Bearer ${h.apiKey}` }, inv, '00000000-0000-4000-8000-000000000000');
    assert.equal(res.statusCode, 404);
    assert.equal((await problemOf(res)).code, 'SY_FUNCTION_NOT_FOUND');
    const v = await request(
      `${inv.url}/v2/nvcf/pexec/functions/${h.functionId}/versions/00000000-0000-4000-8000-000000000000`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${h.apiKey}` },
      },
    );
    assert.equal(v.statusCode, 404);
    await v.body.dump();
  });

  it('H10: should answer 429 past the rate limit per API key and per function (token buckets in Redis)', async () => {
    const limited = await h.addInvocation({ rateLimitPerKeyPerMinute: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await call({ authorization: `Bearer ${h.apiKey}` }, limited);
      statuses.push(res.statusCode);
      if (res.statusCode === 429) assert.equal((await problemOf(res)).title, 'exceeded rate limit');
      else await res.body.dump();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    // Per function: another key of the account shares the function's bucket.
    const perFn = await h.addInvocation({ rateLimitPerFunctionPerMinute: 2 });
    const k2 = await h.control.createApiKey({ accountId: h.accountId });
    const seen: number[] = [];
    for (const key of [h.apiKey, k2.key, k2.key]) {
      const res = await call({ authorization: `Bearer ${key}` }, perFn);
      seen.push(res.statusCode);
      await res.body.dump();
    }
    assert.deepEqual(seen, [200, 200, 429]);
  });

  it('H10: should answer 429 when the queue of a function version is full', async () => {
    const idle = await h.addFunction();
    const small = await h.addInvocation({ maxQueuePerVersion: 1 });
    const headers = { authorization: `Bearer ${h.apiKey}`, 'nvcf-poll-seconds': '2' };
    const first = call(headers, small, idle.functionId);
    await new Promise((r) => setTimeout(r, 200));
    const second = await call(headers, small, idle.functionId);
    assert.equal(second.statusCode, 429);
    assert.equal((await problemOf(second)).code, 'SY_QUEUE_FULL');
    const firstRes = await first;
    assert.equal(firstRes.statusCode, 504);
    await firstRes.body.dump();
  });

  it('H10: should answer 503 problem+json when the function container is down', async () => {
    const down = await h.addFunction();
    await h.addWorker({}, { ...down, upstream: `http://127.0.0.1:${await freePort()}` });
    const res = await call({ authorization: `Bearer ${h.apiKey}` }, inv, down.functionId);
    assert.equal(res.statusCode, 503);
    assert.equal((await problemOf(res)).code, 'SY_UPSTREAM_UNAVAILABLE');
  });

  it('H3: should serve TLS with ALPN h2 and http/1.1 on one port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        key,
        '-out',
        cert,
      ],
      { stdio: 'ignore' },
    );
    const tls = await h.addInvocation({ tlsCertFile: cert, tlsKeyFile: key });
    const url = `https://127.0.0.1:${tls.port}`;
    const h1 = await request(`${url}/echo`, {
      headers: { host: h.host(tls), authorization: `Bearer ${h.apiKey}` },
      dispatcher: new Agent({ connect: { rejectUnauthorized: false } }),
    });
    assert.equal(h1.statusCode, 200);
    await h1.body.dump();
    const client = http2.connect(url, { rejectUnauthorized: false });
    try {
      const stream = client.request({
        ':path': '/echo',
        ':authority': h.host(tls),
        authorization: `Bearer ${h.apiKey}`,
      });
      const headers = await new Promise<http2.IncomingHttpHeaders>((resolve) => stream.once('response', resolve));
      stream.resume();
      assert.equal(headers[':status'], 200);
      assert.equal(client.alpnProtocol, 'h2');
    } finally {
      client.close();
    }
  });
});
