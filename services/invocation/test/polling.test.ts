// H8, H9 against a real region: NVCF-POLL-SECONDS, 504 with the ticket withdrawn, 202 and status
// polls served by another replica from Redis, once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { NatsNames } from '@switchyard/protocol';
import { request } from 'undici';
import { type HarnessInvocation, InvocationHarness } from './harness.ts';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

describe('HTTP polling (H8, H9)', () => {
  const h = new InvocationHarness();
  let a: HarnessInvocation;
  let b: HarnessInvocation;
  const auth = () => ({ authorization: `Bearer ${h.apiKey}` });

  before(async () => {
    await h.start();
    a = await h.addInvocation({ maxResultBytes: 64 * 1024, resultChunkBytes: 16 * 1024 });
    b = await h.addInvocation();
    await h.addWorker();
  });
  after(() => h.stop());

  it('H8: should answer 504 errored when no worker takes the request within NVCF-POLL-SECONDS, and withdraw the ticket', async () => {
    const idle = await h.addFunction();
    const started = Date.now();
    const res = await request(`${a.url}/echo`, {
      headers: { host: h.host(a, idle.functionId), ...auth(), 'nvcf-poll-seconds': '1' },
    });
    const problem = (await res.body.json()) as Problem;
    assert.equal(res.statusCode, 504);
    assert.equal(res.headers['nvcf-status'], 'errored');
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(problem.code, 'SY_ATTACH_TIMEOUT');
    const took = Date.now() - started;
    assert.ok(took >= 950 && took < 3_000, `took ${took} ms`);
    const jsm = await jetstreamManager(h.nc);
    const info = await jsm.streams.info(NatsNames.ticketStream(h.region), {
      subjects_filter: NatsNames.ticketFilter(h.region, idle.versionId),
    });
    assert.equal(Object.keys(info.state.subjects ?? {}).length, 0, 'ticket withdrawn');
  });

  it('H8: should answer 400 "failed to parse poll duration" for a value that is not an integer in 1..3600', async () => {
    for (const value of ['0', '3601', 'abc', '1.5', '-1', '']) {
      const res = await request(`${a.url}/echo`, {
        headers: { host: h.host(a), ...auth(), 'nvcf-poll-seconds': value },
      });
      const problem = (await res.body.json()) as Problem;
      assert.equal(res.statusCode, 400, JSON.stringify(value));
      assert.equal(problem.title, 'failed to parse poll duration');
      assert.equal(res.headers['nvcf-status'], 'errored');
    }
  });

  it('H8: should default the poll window to 60 s, and to 1200 s for Accept: text/event-stream', async () => {
    const plain = await request(`${a.url}/echo`, { headers: { host: h.host(a), ...auth() } });
    const sse = await request(`${a.url}/echo`, {
      headers: { host: h.host(a), ...auth(), accept: 'text/event-stream' },
    });
    const left = async (r: typeof plain) =>
      Number(((await r.body.json()) as { headers: Record<string, string> }).headers['nvcf-poll-seconds']);
    assert.ok([59, 60].includes(await left(plain)));
    assert.ok([1199, 1200].includes(await left(sse)));
  });

  it('H9: should answer 202 in-progress past the poll window, then serve the result once from another replica', async () => {
    const res = await request(`${a.url}/slow?ms=1800`, {
      method: 'POST',
      headers: { host: h.host(a), ...auth(), 'nvcf-poll-seconds': '1' },
      body: 'work',
    });
    assert.equal(res.statusCode, 202);
    assert.equal(res.headers['nvcf-status'], 'in-progress');
    const reqId = String(res.headers['nvcf-reqid']);
    await res.body.dump();
    const status = (replica: HarnessInvocation, key = h.apiKey) =>
      request(`${replica.url}/v2/nvcf/pexec/status/${reqId}`, { headers: { authorization: `Bearer ${key}` } });
    const early = await status(b);
    assert.equal(early.statusCode, 202);
    assert.equal(early.headers['nvcf-status'], 'in-progress');
    assert.equal(early.headers['nvcf-reqid'], reqId);
    await early.body.dump();
    // Another account's key never sees it.
    const other = await h.control.createApiKey({ accountId: 'acct-other' });
    const foreign = await status(b, other.key);
    assert.equal(foreign.statusCode, 404);
    await foreign.body.dump();
    // NVCF-POLL-SECONDS on the status poll waits for the result.
    const ready = await request(`${b.url}/v2/nvcf/pexec/status/${reqId}`, {
      headers: { ...auth(), 'nvcf-poll-seconds': '5' },
    });
    assert.equal(ready.statusCode, 200);
    assert.equal(ready.headers['nvcf-status'], 'fulfilled');
    assert.equal(ready.headers['nvcf-reqid'], reqId);
    assert.deepEqual(await ready.body.json(), { slept: 1800 });
    const again = await status(a);
    assert.equal(again.statusCode, 404);
    assert.equal(((await again.body.json()) as Problem).code, 'SY_RESULT_NOT_FOUND');
  });

  it('H9: should answer 404 for an unknown request ID', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await request(`${a.url}/v2/nvcf/pexec/status/${id}`, { headers: auth() });
      assert.equal(res.statusCode, 404);
      await res.body.dump();
    }
    const noKey = await request(`${a.url}/v2/nvcf/pexec/status/00000000-0000-4000-8000-000000000000`);
    assert.equal(noKey.statusCode, 401);
    await noKey.body.dump();
  });

  it('H9: should keep a large result in chunks, and answer 500 SY_RESULT_TOO_LARGE past maxResultBytes', async () => {
    const poll = async (path: string) => {
      const res = await request(`${a.url}${path}`, {
        headers: { host: h.host(a), ...auth(), 'nvcf-poll-seconds': '1' },
      });
      assert.equal(res.statusCode, 202);
      await res.body.dump();
      const got = await request(`${a.url}/v2/nvcf/pexec/status/${res.headers['nvcf-reqid']}`, {
        headers: { ...auth(), 'nvcf-poll-seconds': '10' },
      });
      return { status: got.statusCode, body: Buffer.from(await got.body.arrayBuffer()), headers: got.headers };
    };
    const fits = await poll('/download?bytes=60000&delayMs=1200');
    assert.equal(fits.status, 200);
    assert.equal(fits.body.length, 60000);
    assert.equal(fits.body[59999], 59999 % 251);
    const large = await poll('/download?bytes=200000&delayMs=1200');
    assert.equal(large.status, 500);
    assert.equal((JSON.parse(large.body.toString()) as Problem).code, 'SY_RESULT_TOO_LARGE');
  });
});
