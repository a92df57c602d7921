// requestWithGrace against a real nats-server: "no responders" is retried for the grace (a worker
// moving to another NATS server), then believed; other failures are not retried.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { type NatsServerHandle, startNats } from '@switchyard/testkit';
import { isNoResponders, requestWithGrace } from '../src/index.ts';

describe('requestWithGrace', () => {
  let server: NatsServerHandle;
  let nc: Awaited<ReturnType<typeof connect>>;
  before(async () => {
    server = await startNats();
    nc = await connect({ servers: server.url });
  });
  after(async () => {
    await nc?.close();
    await server?.stop();
  });

  test('answers once a subscriber appears within the grace', async () => {
    const late = setTimeout(() => {
      nc.subscribe('grace.late', {
        max: 1,
        callback: (_err, msg) => {
          msg.respond(new TextEncoder().encode('here'));
        },
      });
    }, 300);
    try {
      const reply = await requestWithGrace(nc, 'grace.late', new Uint8Array(), {
        timeoutMs: 1_000,
        noRespondersGraceMs: 3_000,
      });
      assert.equal(new TextDecoder().decode(reply.data), 'here');
    } finally {
      clearTimeout(late);
    }
  });

  test('believes "no responders" only after the grace, and at once with a grace of 0', async () => {
    const started = Date.now();
    await assert.rejects(
      requestWithGrace(nc, 'grace.nobody', new Uint8Array(), { timeoutMs: 1_000, noRespondersGraceMs: 400 }),
      (err) => isNoResponders(err),
    );
    assert.ok(Date.now() - started >= 400, `gave up after ${Date.now() - started} ms`);
    await assert.rejects(
      requestWithGrace(nc, 'grace.nobody', new Uint8Array(), { timeoutMs: 1_000, noRespondersGraceMs: 0 }),
      (err) => isNoResponders(err),
    );
  });

  test('does not retry a subscriber that does not answer (a timeout is not "no responders")', async () => {
    const sub = nc.subscribe('grace.silent');
    try {
      let attempts = 0;
      const counter = nc.subscribe('grace.silent', {
        callback: () => {
          attempts++;
        },
      });
      await assert.rejects(
        requestWithGrace(nc, 'grace.silent', new Uint8Array(), { timeoutMs: 200, noRespondersGraceMs: 5_000 }),
        (err) => !isNoResponders(err),
      );
      await nc.flush();
      assert.equal(attempts, 1);
      counter.unsubscribe();
    } finally {
      sub.unsubscribe();
    }
  });
});
