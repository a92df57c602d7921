// The classifiers against real nats-server answers: a request nobody answers in time is a timeout
// (also when wrapped in `cause`), "no responders" is not; a stream at max_msgs with DiscardPolicy.New
// refuses a publish as "stream full", which isUnavailable alone would call an outage.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DiscardPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { errors } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type NatsServerHandle, startNats } from '@switchyard/testkit';
import {
  DeadlineExceededError,
  isNoResponders,
  isStreamFull,
  isTimeout,
  isUnavailable,
  toSwitchyardError,
} from '../src/index.ts';

describe('classifiers', () => {
  let server: NatsServerHandle;
  let nc: Awaited<ReturnType<typeof connect>>;
  before(async () => {
    server = await startNats({ jetstream: true });
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  test('isTimeout: a request to a subscriber that does not answer, directly and through cause', async () => {
    const silent = nc.subscribe('classify.silent');
    try {
      const err = await nc.request('classify.silent', new Uint8Array(), { timeout: 200 }).then(
        () => assert.fail('answered'),
        (e: unknown) => e,
      );
      assert.equal(isTimeout(err), true);
      assert.equal(isNoResponders(err), false);
      assert.equal(isTimeout(new Error('evict failed', { cause: err })), true, 'one link down');
      assert.equal(isTimeout(new Error('a', { cause: new Error('b', { cause: err }) })), true, 'two links down');
    } finally {
      silent.unsubscribe();
    }
  });

  test('isTimeout: not "no responders", not a deadline of withDeadline, not an error merely named TimeoutError', async () => {
    const err = await nc.request('classify.nobody', new Uint8Array(), { timeout: 1_000 }).then(
      () => assert.fail('answered'),
      (e: unknown) => e,
    );
    assert.equal(isNoResponders(err), true);
    assert.equal(isTimeout(err), false);
    assert.equal(isTimeout(new DeadlineExceededError('op', 10)), false);
    const named = new Error('timeout');
    named.name = 'TimeoutError';
    assert.equal(isTimeout(named), false, 'classified by class, not by name');
    assert.equal(isTimeout(new errors.TimeoutError()), true);
    assert.equal(isTimeout(undefined), false);
    assert.equal(isTimeout('timeout'), false);
  });

  test('isTimeout: follows at most 8 cause links (a cycle ends)', () => {
    let deep: Error = new errors.TimeoutError();
    for (let i = 0; i < 8; i++) deep = new Error(`link ${i}`, { cause: deep });
    assert.equal(isTimeout(deep), true, '8 links');
    assert.equal(isTimeout(new Error('one more', { cause: deep })), false, '9 links');
    const cycle = new Error('cycle');
    (cycle as { cause?: unknown }).cause = cycle;
    assert.equal(isTimeout(cycle), false);
  });

  test('isUnavailable: a JetStream publish nobody takes (no stream leader) is unavailable, not an internal error', async () => {
    // What a KV write meets while its stream has no leader (a NATS server failing over): nats.js
    // retries "no responders", then throws JetStreamNotEnabled with that as its cause.
    const js = jetstream(nc, { timeout: 500 });
    const err = await js.publish('classify.nobody.a', new Uint8Array([1]), { retries: 1 }).then(
      () => assert.fail('stored'),
      (e: unknown) => e,
    );
    assert.equal(isUnavailable(err), true);
    assert.equal(isTimeout(err), false);
    assert.equal(toSwitchyardError(err, 'SY_DIRECTORY_UNAVAILABLE', 'refresh').code, 'SY_DIRECTORY_UNAVAILABLE');
  });

  test('isStreamFull: a publish refused by a stream at max_msgs with DiscardPolicy.New', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'classify_full',
      subjects: ['classify.full.>'],
      max_msgs: 1,
      discard: DiscardPolicy.New,
    });
    const js = jetstream(nc);
    await js.publish('classify.full.a', new Uint8Array([1]));
    const err = await js.publish('classify.full.b', new Uint8Array([2])).then(
      () => assert.fail('stored'),
      (e: unknown) => e,
    );
    assert.equal(isStreamFull(err), true);
    assert.equal(isUnavailable(err), true, 'why isStreamFull is checked first: a 503 reads as an outage');
    assert.equal(isStreamFull(new Error('stream full')), false);
    assert.equal(isTimeout(err), false);
  });
});
