// Tenant isolation end to end (issue 8, W1): a worker of function B that names worker A's ID (here a
// real worker of B configured with A's worker ID, dialling with its own tickets' tokens) gets a tunnel
// of its own version only: tunnels are keyed by (version, worker ID), so holding A's ID while A's
// tunnel is down neither blocks A's re-dial nor receives a byte of A's calls.

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

  test('B squatting A’s ID while A’s tunnel is down cannot block A: A re-dials and its calls go on', async () => {
    const clientA = newChannel(proxy.address);
    const clientB = newChannel(proxy.address);
    try {
      const first = await unary(clientA, {}, h.metadata());
      assert.equal(first.error, undefined, first.status.details);
      assert.equal(answeredBy(first), instanceA);
      const tunnelA = proxy.proxy.tunnels.get(SHARED_ID, h.versionId);
      assert.ok(tunnelA, 'A’s tunnel is open');

      // A's tunnel drops (a network cut); B's worker takes B's tickets and dials with A's ID.
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
      assert.equal(proxy.proxy.tunnels.get(SHARED_ID, h.versionId), undefined, 'A has no tunnel here now');
      const streamsOnB = tunnelB.session.state.nextStreamID;

      // A's pinned connection calls again: the proxy asks A to re-dial, A is accepted, A answers.
      const pinned = await unary(clientA, {}, h.metadata(), { deadline: Date.now() + 15_000 });
      assert.equal(pinned.error, undefined, pinned.status.details);
      assert.equal(answeredBy(pinned), instanceA);
      const redialled = proxy.proxy.tunnels.get(SHARED_ID, h.versionId);
      assert.ok(redialled && redialled !== tunnelA, 'A re-dialled under its own version');
      // A new session of A works as well.
      const clientA2 = newChannel(proxy.address);
      const fresh = await unary(clientA2, {}, h.metadata());
      clientA2.close();
      assert.equal(fresh.error, undefined, fresh.status.details);
      assert.equal(answeredBy(fresh), instanceA);
      assert.equal(tunnelB.session.state.nextStreamID, streamsOnB, 'no stream of A’s calls went to B');
      // B keeps serving B on its own tunnel, untouched by A's re-dial.
      assert.equal(proxy.proxy.tunnels.get(SHARED_ID, fnB.versionId), tunnelB, 'B’s tunnel is untouched');
      const ofB = await unary(clientB, {}, metadataB());
      assert.equal(ofB.error, undefined, ofB.status.details);
      assert.equal(answeredBy(ofB), instanceB);
    } finally {
      clientA.close();
      clientB.close();
    }
  });
});
