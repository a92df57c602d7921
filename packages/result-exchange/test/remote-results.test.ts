// RemoteResults against a real nats-server: region 'a' answers from an in-memory ClaimableResults,
// region 'b' asks (H9). Bodies larger than max_payload cross in slices; a region that does not answer
// is a 503, never a wrong 404.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Subscription } from '@nats-io/nats-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { isSwitchyardError } from '@switchyard/protocol';
import { type ClaimableResults, type ClaimOutcome, RemoteResults } from '@switchyard/result-exchange';
import { type NatsServerHandle, startNats, waitFor } from '@switchyard/testkit';

interface Stored {
  accountId: string;
  ready: boolean;
  chunks: Buffer[];
}

/** A result store in memory: claims hand a result out once, as ResultStore does in Redis. */
class MemoryResults implements ClaimableResults {
  readonly results = new Map<string, Stored>();
  readonly claimed = new Map<string, Buffer[]>();

  async claim(reqId: string, accountId: string): Promise<ClaimOutcome> {
    const stored = this.results.get(reqId);
    if (stored === undefined || stored.accountId !== accountId) return { state: 'missing' };
    if (!stored.ready) return { state: 'pending' };
    this.results.delete(reqId);
    this.#accounts.set(reqId, accountId);
    const claim = randomUUID();
    this.claimed.set(`${reqId}/${claim}`, stored.chunks);
    return { state: 'ready', status: 201, headers: { 'content-type': 'application/octet-stream' }, claim };
  }

  async readClaimed(reqId: string, claim: string, index: number): Promise<Buffer | undefined> {
    return this.claimed.get(`${reqId}/${claim}`)?.[index];
  }

  /** Gives the claim up: the result is there again for the next poll. */
  async release(reqId: string, claim: string): Promise<void> {
    const chunks = this.claimed.get(`${reqId}/${claim}`);
    this.claimed.delete(`${reqId}/${claim}`);
    if (chunks !== undefined)
      this.results.set(reqId, { accountId: this.#accounts.get(reqId) ?? '', ready: true, chunks });
  }

  async delivered(reqId: string, claim: string): Promise<void> {
    this.claimed.delete(`${reqId}/${claim}`);
  }

  readonly #accounts = new Map<string, string>();
}

const quiet = { warn: () => undefined };

describe('RemoteResults (H9)', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let store: MemoryResults;
  let owner: RemoteResults;
  let asker: RemoteResults;
  let sub: Subscription;

  before(async () => {
    nats = await startNats({ jetstream: false });
    nc = await connect({ servers: nats.url });
    store = new MemoryResults();
    owner = new RemoteResults(nc, store, { region: 'a', remoteRegions: ['b'], timeoutMs: 2_000 }, quiet);
    asker = new RemoteResults(
      nc,
      new MemoryResults(),
      { region: 'b', remoteRegions: ['a', 'b', 'a'], timeoutMs: 2_000 },
      quiet,
    );
    sub = owner.serve();
    await nc.flush();
  });

  after(async () => {
    sub.unsubscribe();
    await nc.close();
    await nats.stop();
  });

  test('should ask each other region once, never its own', () => {
    assert.deepEqual(asker.remoteRegions, ['a']);
  });

  test('should pull a result larger than max_payload from the owning region in slices, and hand it out once', async () => {
    const reqId = randomUUID();
    const chunks = [Buffer.alloc(1_500_000, 1), Buffer.alloc(10, 2), Buffer.alloc(1_200_000, 3)];
    store.results.set(reqId, { accountId: 'acct', ready: true, chunks });
    const outcome = await asker.lookup(reqId, 'acct');
    assert.equal(outcome.state, 'ready');
    if (outcome.state !== 'ready') return;
    assert.equal(outcome.region, 'a');
    assert.equal(outcome.result.status, 201);
    const slices: Buffer[] = [];
    for await (const slice of outcome.result.body) slices.push(slice);
    assert.ok(slices.length > chunks.length, 'bodies cross in slices below max_payload');
    assert.ok(Buffer.concat(slices).equals(Buffer.concat(chunks)));
    assert.equal(store.claimed.size, 0, 'the claim is released at the end of the body');
    assert.deepEqual(await asker.lookup(reqId, 'acct'), { state: 'missing' });
  });

  test('should answer pending for a result still running, and missing for another account', async () => {
    const reqId = randomUUID();
    store.results.set(reqId, { accountId: 'acct', ready: false, chunks: [] });
    assert.deepEqual(await asker.lookup(reqId, 'acct'), { state: 'pending', region: 'a' });
    assert.deepEqual(await asker.lookup(reqId, 'other'), { state: 'missing' });
  });

  test('should release the claim, keeping the result, when the poller stops reading the body', async () => {
    const reqId = randomUUID();
    store.results.set(reqId, { accountId: 'acct', ready: true, chunks: [Buffer.from('one'), Buffer.from('two')] });
    const outcome = await asker.lookup(reqId, 'acct');
    assert.equal(outcome.state, 'ready');
    if (outcome.state !== 'ready') return;
    for await (const slice of outcome.result.body) {
      assert.equal(slice.toString(), 'one');
      break;
    }
    await waitFor(() => store.claimed.size === 0);
    assert.ok(store.results.get(reqId)?.ready, 'a result not fully delivered stays for the next poll');
  });

  test('should reject with SY_RESULT_STORE_UNAVAILABLE when a region does not answer and none has it', async () => {
    const lonely = new RemoteResults(
      nc,
      new MemoryResults(),
      { region: 'b', remoteRegions: ['a', 'c'], timeoutMs: 500 },
      quiet,
    );
    await assert.rejects(lonely.lookup(randomUUID(), 'acct'), (err) => {
      assert.ok(isSwitchyardError(err));
      assert.equal(err.code, 'SY_RESULT_STORE_UNAVAILABLE');
      assert.match(err.detail ?? '', /region c did not answer/);
      return true;
    });
  });
});
