// Worker identity on the callback listener (W1, issue 8): a token is bound to the ticket's function
// version or to the session's owner, tunnels are keyed by (version, worker ID), a worker ID is bound to
// the secret of its open tunnel of that version, and a
// token opens a tunnel only within 30 s of issue (older tickets get a fresh token over `refresh`).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AttachRequestSchema,
  ControlReplySchema,
  decodeMessage,
  encodeMessage,
  isSwitchyardError,
} from '@switchyard/protocol';
import { dialTunnel, type ProxyTunnel, type TunnelListener } from '../src/index.ts';
import { startListener } from './helpers.ts';

const noStreams = () => {};
const VERSION_A = '0b9f3c2e-6f4d-4d7a-9a41-3f0c2b7e8a10';
const VERSION_B = '5d2e8f1a-2c3b-4e5f-8a9b-0c1d2e3f4a5b';
const REQ_1 = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a01';
const REQ_2 = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a02';
const SECRET_A = 'secret-of-worker-a-0123456789';
const SECRET_B = 'secret-of-worker-b-0123456789';

const attach = (listener: TunnelListener, request: Record<string, unknown>) =>
  decodeMessage(
    ControlReplySchema,
    listener.answerAttach(encodeMessage(decodeMessage(AttachRequestSchema, encodeMessage(request)))),
  );

describe('worker identity on the callback listener', () => {
  let listener: TunnelListener;
  let uri: string;

  before(async () => {
    ({ listener, uri } = await startListener({ tokenTtlMs: 30_000 }));
  });
  after(async () => {
    await listener.close();
  });

  test('a worker of B naming A’s ID gets a tunnel of B’s version only, and A’s tunnel stays', async () => {
    const a = listener.expectAttach(REQ_1, 30_000, { versionId: VERSION_A });
    const tunnelA = await dialTunnel({
      callbackUri: uri,
      token: a.token,
      workerId: 'worker-a',
      workerSecret: SECRET_A,
      versionId: VERSION_A,
      onStream: noStreams,
    });
    const proxyA: ProxyTunnel = await a.attached;
    try {
      const b = listener.expectAttach(REQ_2, 30_000, { versionId: VERSION_B });
      const tunnelB = await dialTunnel({
        callbackUri: uri,
        token: b.token,
        workerId: 'worker-a',
        workerSecret: SECRET_B,
        versionId: VERSION_B,
        onStream: noStreams,
      });
      const proxyB = await b.attached;
      assert.equal(listener.get('worker-a', VERSION_A), proxyA, 'A’s tunnel is still A’s');
      assert.equal(listener.get('worker-a', VERSION_B), proxyB, 'B’s tunnel is keyed by B’s version');
      assert.equal(proxyA.closed, false);
      // B's secret opens nothing of A's over NATS either; A's own attach still works.
      const next = listener.expectAttach(REQ_1, 30_000, { versionId: VERSION_A });
      const asB = { token: next.token, workerId: 'worker-a', workerSecret: SECRET_B, reqId: REQ_1 };
      assert.deepEqual(attach(listener, asB), { ok: false, code: 'SY_TUNNEL_WORKER_MISMATCH' });
      assert.deepEqual(attach(listener, { ...asB, workerSecret: SECRET_A }), { ok: true });
      assert.equal(await next.attached, proxyA);
      tunnelB.close();
    } finally {
      tunnelA.close();
    }
  });

  test('a worker of the same version with A’s ID and another secret gets 403, and A’s tunnel stays', async () => {
    const a = listener.expectAttach(REQ_1, 30_000, { versionId: VERSION_A });
    const tunnelA = await dialTunnel({
      callbackUri: uri,
      token: a.token,
      workerId: 'worker-a5',
      workerSecret: SECRET_A,
      versionId: VERSION_A,
      onStream: noStreams,
    });
    const proxyA: ProxyTunnel = await a.attached;
    try {
      const other = listener.expectAttach(REQ_2, 30_000, { versionId: VERSION_A });
      await assert.rejects(
        dialTunnel({
          callbackUri: uri,
          token: other.token,
          workerId: 'worker-a5',
          workerSecret: SECRET_B,
          versionId: VERSION_A,
          onStream: noStreams,
        }),
        (err) => isSwitchyardError(err, 'SY_TUNNEL_WORKER_MISMATCH'),
      );
      assert.equal(listener.get('worker-a5', VERSION_A), proxyA, 'A’s tunnel is still the current one');
      assert.equal(proxyA.closed, false);
      // The refused CONNECT did not use the token: a worker with its own ID can still redeem it.
      const tunnelC = await dialTunnel({
        callbackUri: uri,
        token: other.token,
        workerId: 'worker-c5',
        workerSecret: SECRET_B,
        versionId: VERSION_A,
        onStream: noStreams,
      });
      assert.equal((await other.attached).workerId, 'worker-c5');
      tunnelC.close();
    } finally {
      tunnelA.close();
    }
  });

  test('a NATS attach naming another worker’s ID is refused without the secret of its tunnel', async () => {
    const a = listener.expectAttach(REQ_1, 30_000, { versionId: VERSION_A });
    const tunnelA = await dialTunnel({
      callbackUri: uri,
      token: a.token,
      workerId: 'worker-a2',
      workerSecret: SECRET_A,
      versionId: VERSION_A,
      onStream: noStreams,
    });
    try {
      await a.attached;
      const next = listener.expectAttach(REQ_2, 30_000, { versionId: VERSION_A });
      const stolen = { token: next.token, workerId: 'worker-a2', workerSecret: SECRET_B, reqId: REQ_2 };
      assert.deepEqual(attach(listener, stolen), { ok: false, code: 'SY_TUNNEL_WORKER_MISMATCH' });
      assert.deepEqual(attach(listener, { ...stolen, workerSecret: SECRET_A }), { ok: true }, 'the owner still can');
    } finally {
      tunnelA.close();
    }
  });

  test('a worker of B holding A’s ID while A has no tunnel here neither blocks A nor gets A’s sessions', async () => {
    // A's tunnel closed (a restart, a network cut): B dials first with its own ticket's token and A's ID.
    const b = listener.expectAttach(REQ_1, 30_000, { versionId: VERSION_B });
    const tunnelB = await dialTunnel({
      callbackUri: uri,
      token: b.token,
      workerId: 'worker-a4',
      workerSecret: SECRET_B,
      versionId: VERSION_B,
      onStream: noStreams,
    });
    try {
      const proxyB = await b.attached;
      // Routing for A's sessions (pinned calls, resume, detach) asks for a tunnel of A's version.
      assert.equal(listener.get('worker-a4', VERSION_A), undefined, 'no tunnel of version A under that ID');
      assert.equal(listener.get('worker-a4', VERSION_B), proxyB, 'B still serves its own version');
      // A's NATS attach is told to dial (no tunnel of A here), not refused.
      const reconnect = listener.expectAttach(REQ_2, 30_000, { workerId: 'worker-a4', versionId: VERSION_A });
      const request = { token: reconnect.token, workerId: 'worker-a4', workerSecret: SECRET_A, reqId: REQ_2 };
      assert.deepEqual(attach(listener, request), { ok: false, code: 'SY_TUNNEL_LOST' });
      // A re-dials with the reconnect token bound to its ID and version: accepted beside B's tunnel.
      const tunnelA = await dialTunnel({
        callbackUri: uri,
        token: reconnect.token,
        workerId: 'worker-a4',
        workerSecret: SECRET_A,
        versionId: VERSION_A,
        onStream: noStreams,
      });
      const proxyA = await reconnect.attached;
      assert.equal(listener.get('worker-a4', VERSION_A), proxyA);
      assert.equal(listener.get('worker-a4', VERSION_B), proxyB, 'B’s tunnel is untouched');
      assert.equal(proxyB.closed, false);
      tunnelA.close();
    } finally {
      tunnelB.close();
    }
  });

  test('a token bound to a version or to a session’s owner is refused to anyone else', async () => {
    const ticket = listener.expectAttach(REQ_1, 30_000, { versionId: VERSION_A });
    await assert.rejects(
      dialTunnel({
        callbackUri: uri,
        token: ticket.token,
        workerId: 'worker-b3',
        workerSecret: SECRET_B,
        versionId: VERSION_B,
        onStream: noStreams,
      }),
      (err) => isSwitchyardError(err, 'SY_TUNNEL_WORKER_MISMATCH'),
    );
    ticket.cancel();
    const reconnect = listener.expectAttach(REQ_2, 30_000, { workerId: 'owner-1' });
    await assert.rejects(
      dialTunnel({ callbackUri: uri, token: reconnect.token, workerId: 'not-owner', onStream: noStreams }),
      (err) => isSwitchyardError(err, 'SY_TUNNEL_WORKER_MISMATCH'),
    );
    const owner = await dialTunnel({
      callbackUri: uri,
      token: reconnect.token,
      workerId: 'owner-1',
      onStream: noStreams,
    });
    assert.equal((await reconnect.attached).workerId, 'owner-1');
    owner.close();
  });
});

describe('W1: a token opens a tunnel for 30 s; a ticket that waited longer gets a fresh one', () => {
  test('an old token is refused on CONNECT, a refresh gives a working one, and the old one is gone', async () => {
    // A 200 ms CONNECT lifetime stands for W1's 30 s; the pending attach lives 10 s (the ticket's wait).
    const { listener, uri } = await startListener({ tokenTtlMs: 200 });
    try {
      const pending = listener.expectAttach(REQ_1, 10_000, { versionId: VERSION_A });
      await sleep(300);
      const dial = (token: string) =>
        dialTunnel({ callbackUri: uri, token, workerId: 'late', versionId: VERSION_A, onStream: noStreams });
      await assert.rejects(dial(pending.token), (err) => isSwitchyardError(err, 'SY_TUNNEL_TOKEN_REJECTED'));
      const request = { token: pending.token, workerId: 'late', workerSecret: SECRET_A, reqId: REQ_1, refresh: true };
      assert.deepEqual(attach(listener, { ...request, reqId: REQ_2 }), { ok: false, code: 'SY_TUNNEL_TOKEN_REJECTED' });
      const reply = attach(listener, request);
      assert.equal(reply.ok, true);
      assert.ok(reply.token && reply.token !== pending.token);
      await assert.rejects(dial(pending.token), (err) => isSwitchyardError(err, 'SY_TUNNEL_TOKEN_REJECTED'));
      // The same worker asking again (its answer was lost) gets the token now current; nobody else does.
      assert.deepEqual(attach(listener, request), { ok: true, token: reply.token }, 'a repeat by the same worker');
      assert.deepEqual(
        attach(listener, { ...request, workerId: 'other' }),
        { ok: false, code: 'SY_TUNNEL_TOKEN_REJECTED' },
        'old token, another worker',
      );
      assert.deepEqual(attach(listener, { ...request, reqId: REQ_2 }), { ok: false, code: 'SY_TUNNEL_TOKEN_REJECTED' });
      const tunnel = await dial(reply.token);
      assert.equal((await pending.attached).workerId, 'late');
      assert.deepEqual(attach(listener, request), { ok: false, code: 'SY_TUNNEL_TOKEN_REJECTED' }, 'used: gone');
      tunnel.close();
    } finally {
      await listener.close();
    }
  });

  test('cancel withdraws a pending attach whatever token it has now', async () => {
    const { listener } = await startListener({ tokenTtlMs: 200 });
    try {
      const pending = listener.expectAttach(REQ_1, 10_000);
      const reply = attach(listener, {
        token: pending.token,
        workerId: 'w',
        workerSecret: SECRET_A,
        reqId: REQ_1,
        refresh: true,
      });
      assert.equal(listener.pendingTokens, 1);
      pending.cancel();
      assert.equal(listener.pendingTokens, 0);
      assert.ok(reply.token);
    } finally {
      await listener.close();
    }
  });
});
