// The tunnel's control namespace is not a client's (issue 8): a client request for
// `/_switchyard/v1/sessions/<its own reqId>/detach|attach` (H3 would otherwise pass the path through)
// is answered 404 problem+json by the invocation service, like any request without a route (H1, H10),
// even with the control marker set; it never reaches the worker or the container, and takes no unit.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROBLEM_CONTENT_TYPE, TunnelControlPaths, TunnelHeaders } from '@switchyard/protocol';
import { waitFor } from '@switchyard/testkit';
import { request } from 'undici';
import { type HarnessInvocation, type HarnessWorker, InvocationHarness } from './harness.ts';

const CONCURRENCY = 8;

describe('control paths are closed to HTTP clients (issue 8)', () => {
  const h = new InvocationHarness();
  let inv: HarnessInvocation;
  let worker: HarnessWorker;
  const auth = () => ({ authorization: `Bearer ${h.apiKey}` });

  before(async () => {
    await h.start();
    inv = await h.addInvocation();
    worker = await h.addWorker({ concurrency: CONCURRENCY });
  });
  after(() => h.stop());

  it('should answer 404 problem+json for /_switchyard/ paths naming the own request ID, and never reach the worker', async () => {
    const first = await request(`${inv.url}/echo`, { method: 'POST', headers: { host: h.host(inv), ...auth() } });
    assert.equal(first.statusCode, 200);
    await first.body.dump();
    const reqId = String(first.headers['nvcf-reqid']);
    const seenBefore = h.container.log.seen.length;

    for (const path of [TunnelControlPaths.detach(reqId), TunnelControlPaths.attach(reqId)]) {
      for (const marker of [{}, { [TunnelHeaders.control]: '1' }] as Record<string, string>[]) {
        const res = await request(`${inv.url}${path}`, {
          method: 'POST',
          headers: { host: h.host(inv), ...auth(), 'nvcf-reqid': reqId, ...marker },
        });
        assert.equal(res.statusCode, 404, path);
        assert.equal(res.headers['content-type'], PROBLEM_CONTENT_TYPE, path);
        const problem = (await res.body.json()) as { status: number; title: string };
        assert.equal(problem.status, 404);
      }
    }
    assert.equal(h.container.log.seen.length, seenBefore, 'the container saw none of them');
    // No capacity unit is left held by a request the worker took for a control request.
    await waitFor(() => worker.worker.freeCapacity === CONCURRENCY, { timeoutMs: 1_000, what: 'all units free' });
    const again = await request(`${inv.url}/echo`, { method: 'POST', headers: { host: h.host(inv), ...auth() } });
    assert.equal(again.statusCode, 200);
    await again.body.dump();
  });
});
