// Tenant isolation end to end (issue 8, W1): a worker of function B that names worker A's ID (here a
// real worker of B configured with A's worker ID, dialling with its own tickets' tokens) is refused
// while A's tunnel is open, leaves A's clients working, and never receives a byte of A's calls, not
// even when it holds A's ID on the proxy after A's tunnel dropped.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startEchoServer } from '@switchyard/sample-functions';
import { waitFor } from '@switchyard/testkit';
import { type CallResult, newChannel, unary } from './echo-calls.ts';
import { type HarnessFunction, type HarnessProxy, RegionHarness } from './region-harness.ts';

const SHARED_ID = 'worker-shared-id';

describe('a worker of B naming A’s worker ID (issue 8)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let fnB: HarnessFunction;
  let keyB: string;
  let instanceA = '';
  let instanceB = '';
  before(async () => {
    await h.start();
    proxy = await h.addProxy();
    fnB = await h.addFunction({ accountId: 'acct-b', name: 'tenant-b' });
    keyB = (await h.addApiKey({ accountId: 'acct-b', functions: [fnB.functionId] })).key;
    const echoA = await startEchoServer({ port: 0 });
    const echoB = await startEchoServer({ port: 0 });
    h.containers.push(echoA, echoB);
    instanceA = echoA.instanceId;
    instanceB = echoB.instanceId;
    await h.addWorker({ workerId: SHARED_ID }, echoA);
    await h.addWorker({ workerId: SHARED_ID, functionId: fnB.functionId, versionId: fnB.versionId }, echoB);
  });
  after(async () => {
    await h.stop();
  });

  const metadataB = () => ({ authorization: `Bearer ${keyB}`, 'function-id': fnB.functionId });
  const answeredBy = (r: CallResult) => r.response?.instance_id;

  test('B is refused while A’s tunnel is open, A keeps working, and B never carries A’s calls', async () => {
    const clientA = newChannel(proxy.address);
    const clientB = newChannel(proxy.address);
    try {
      const first = await unary(clientA, {}, h.metadata());
      assert.equal(first.error, undefined, first.status.details);
      assert.equal(answeredBy(first), instanceA);
      const tunnelA = proxy.proxy.tunnels.get(SHARED_ID, h.versionId);
      assert.ok(tunnelA, 'A’s tunnel is open');

      // B's worker takes B's ticket and dials with A's ID: 403, A's tunnel stays.
      await unary(clientB, {}, metadataB(), { deadline: Date.now() + 3_000 });
      assert.equal(proxy.proxy.tunnels.get(SHARED_ID), tunnelA, 'A’s tunnel is still the current one');
      const again = await unary(clientA, {}, h.metadata());
      assert.equal(again.error, undefined, again.status.details);
      assert.equal(answeredBy(again), instanceA);

      // A's tunnel drops (a network cut); B dials first and now holds the ID on this proxy.
      tunnelA.close();
      await waitFor(
        async () => {
          if (proxy.proxy.tunnels.get(SHARED_ID, fnB.versionId)) return true;
          await unary(clientB, {}, metadataB(), { deadline: Date.now() + 3_000 });
          return proxy.proxy.tunnels.get(SHARED_ID, fnB.versionId) !== undefined;
        },
        { timeoutMs: 30_000, what: 'B’s worker to hold the shared ID on the proxy' },
      );
      const tunnelB = proxy.proxy.tunnels.get(SHARED_ID, fnB.versionId);
      assert.ok(tunnelB);
      const streamsOnB = tunnelB.session.state.nextStreamID;
      // A's pinned connection calls again: whatever it is answered, not one stream opens on B's tunnel.
      const pinned = await unary(clientA, {}, h.metadata(), { deadline: Date.now() + 8_000 });
      assert.notEqual(answeredBy(pinned), instanceB);
      assert.equal(tunnelB.session.state.nextStreamID, streamsOnB, 'no stream of A’s calls went to B');
    } finally {
      clientA.close();
      clientB.close();
    }
  });
});
