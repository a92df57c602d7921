// Revocation is bounded (issue 8): a revoked key's open calls are told within 1 s where the watch is
// live (OpenCalls, fed by the store's events), and a store whose watch silently stops delivering (a
// gateway cut between its region and the buckets' home region: its own NATS is fine) stops serving
// within maxStalenessMs, refuses with SY_CONTROL_UNAVAILABLE (never a success) for as long as the cut
// lasts, ends its open calls, and after the cut heals serves again with the revocation applied.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, describe, test } from 'node:test';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { isSwitchyardError } from '@switchyard/protocol';
import {
  startNats,
  startNatsSupercluster,
  startTcpRelay,
  stopAll,
  type TcpRelayHandle,
  waitFor,
} from '@switchyard/testkit';
import { type AuthorizeInput, type CallCarrier, ControlStore, OpenCalls } from '../src/index.ts';

function connectTo(urls: string | string[]): Promise<NatsConnection> {
  return connect({ servers: urls, maxReconnectAttempts: -1, reconnectTimeWait: 100, timeout: 2_000 });
}

/** A call's carrier: an emitter that closes when told. */
class Carrier extends EventEmitter implements CallCarrier {
  destroyed = false;
  end(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

/** Resolves with the abort reason of `signal` and when it came, or rejects after `ms`. */
function aborted(signal: AbortSignal, ms: number): Promise<{ reason: unknown; atMs: number }> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      resolve({ reason: signal.reason, atMs: Date.now() });
      return;
    }
    const timer = setTimeout(() => reject(new Error(`not aborted within ${ms} ms`)), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve({ reason: signal.reason, atMs: Date.now() });
    });
  });
}

function outcome(store: ControlStore, input: AuthorizeInput): string {
  try {
    store.authorize(input);
    return 'ok';
  } catch (err) {
    return isSwitchyardError(err) ? err.code : 'thrown';
  }
}

after(async () => {
  await stopAll();
});

describe('revocation in one region', () => {
  test('should end a revoked key’s tracked calls within 1 s, and only that key’s', async () => {
    const server = await startNats({ jetstream: true });
    const [ncA, ncB] = [await connectTo(server.url), await connectTo(server.url)];
    const a = await ControlStore.open(ncA);
    const b = await ControlStore.open(ncB);
    const calls = new OpenCalls(b);
    try {
      const { fn } = await a.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' });
      const { fn: other } = await a.createFunction({ accountId: 'acct-1', name: 'other', kind: 'grpc' });
      const revoked = await a.createApiKey({ accountId: 'acct-1' });
      const kept = await a.createApiKey({ accountId: 'acct-1' });
      await b.sync();
      const doomed = calls.track(revoked.record.keyId, fn.functionId, new Carrier());
      const doomedToo = calls.track(revoked.record.keyId, other.functionId, new Carrier());
      const living = calls.track(kept.record.keyId, fn.functionId, new Carrier());
      // watch(): a plain callback slot instead of a signal (the gRPC proxy's relays).
      const watched = calls.watch(revoked.record.keyId, fn.functionId, new Carrier());
      const told: string[] = [];
      watched.stopper = { stop: (code) => told.push(code) };
      const ended = new Carrier();
      calls.track(revoked.record.keyId, fn.functionId, ended);
      ended.end();
      const endedWatch = new Carrier();
      calls.watch(revoked.record.keyId, fn.functionId, endedWatch).stopper = { stop: (code) => told.push(code) };
      endedWatch.end();
      assert.equal(calls.size, 4, 'a closed call is no longer tracked');

      const revokedAt = Date.now();
      await a.revokeApiKey(revoked.record.keyId);
      const first = await aborted(doomed, 1_000);
      assert.equal(first.reason, 'SY_AUTH_INVALID');
      assert.ok(first.atMs - revokedAt <= 1_000, `ended after ${first.atMs - revokedAt} ms`);
      assert.equal((await aborted(doomedToo, 1_000)).reason, 'SY_AUTH_INVALID');
      assert.equal(living.aborted, false, 'another key’s call goes on');
      assert.equal(watched.code, 'SY_AUTH_INVALID');
      assert.deepEqual(told, ['SY_AUTH_INVALID'], 'the watched call’s stopper is told once; the closed one not');
      assert.equal(calls.size, 1);
      // A call tracked after the revocation (authorized from a copy a moment older) ends at once.
      assert.equal(calls.track(revoked.record.keyId, fn.functionId, new Carrier()).reason, 'SY_AUTH_INVALID');
      assert.equal(calls.watch(revoked.record.keyId, fn.functionId, new Carrier()).code, 'SY_AUTH_INVALID');
      assert.equal(calls.size, 1, 'a call ended at once is not tracked');
    } finally {
      calls.close();
      await a.close();
      await b.close();
      await ncA.close();
      await ncB.close();
      await server.stop();
    }
  });

  test('should end every tracked call with SY_CONTROL_UNAVAILABLE once NATS is gone past maxStalenessMs', async () => {
    const server = await startNats({ jetstream: true });
    const nc = await connectTo(server.url);
    const store = await ControlStore.open(nc, { maxStalenessMs: 400 });
    const calls = new OpenCalls(store);
    try {
      const { fn } = await store.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' });
      const { record } = await store.createApiKey({ accountId: 'acct-1' });
      const signal = calls.track(record.keyId, fn.functionId, new Carrier());
      const stoppedAt = Date.now();
      await server.stop();
      const end = await aborted(signal, 3_000);
      assert.equal(end.reason, 'SY_CONTROL_UNAVAILABLE');
      assert.ok(end.atMs - stoppedAt <= 400 + 300, `ended after ${end.atMs - stoppedAt} ms`);
    } finally {
      calls.close();
      await store.close();
      await nc.close();
    }
  });
  test('should end tracked calls even when the expiry timer fires before Date.now() says the time is up', async () => {
    // After a long turn of the event loop, libuv's loop time (which timers count from) lags the clock,
    // so a timer can fire while Date.now() still reads inside the window. Shown here by setting the
    // clock back 150 ms once NATS is gone: an expiry that does not re-arm is never told.
    const server = await startNats({ jetstream: true });
    const nc = await connectTo(server.url);
    const store = await ControlStore.open(nc, { maxStalenessMs: 400 });
    const calls = new OpenCalls(store);
    const realNow = Date.now;
    try {
      const { fn } = await store.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' });
      const { record } = await store.createApiKey({ accountId: 'acct-1' });
      const signal = calls.track(record.keyId, fn.functionId, new Carrier());
      await server.stop();
      Date.now = () => realNow.call(Date) - 150;
      const end = await aborted(signal, 3_000);
      assert.equal(end.reason, 'SY_CONTROL_UNAVAILABLE');
    } finally {
      Date.now = realNow;
      calls.close();
      await store.close();
      await nc.close();
    }
  });
});

describe('revocation across regions, gateway cut included', () => {
  test('should refuse (never serve) past maxStalenessMs while the gateway is cut, and apply the revocation once healed', async () => {
    const EAST = 'us-east';
    const WEST = 'eu-west';
    const MAX_STALENESS_MS = 1_500;
    const relays = new Map<string, TcpRelayHandle>();
    const started: TcpRelayHandle[] = [];
    const nats = await startNatsSupercluster({
      regions: [EAST, WEST],
      gatewayAddresses: async (region, ports) => {
        const addresses: string[] = [];
        for (const port of ports) {
          const relay = await startTcpRelay({ targetPort: port });
          relays.set(region, relay);
          started.push(relay);
          addresses.push(`127.0.0.1:${relay.port}`);
        }
        return addresses;
      },
    });
    const ncEast = await connectTo(nats.clusters[EAST].urls);
    const ncWest = await connectTo(nats.clusters[WEST].urls);
    const east = await ControlStore.open(ncEast);
    const west = await ControlStore.open(ncWest, { create: false, maxStalenessMs: MAX_STALENESS_MS });
    const calls = new OpenCalls(west);
    const heal = () => {
      for (const relay of relays.values()) relay.heal();
    };
    try {
      const { fn } = await east.createFunction({ accountId: 'acct-1', name: 'echo', kind: 'grpc' });
      const { key, record } = await east.createApiKey({ accountId: 'acct-1' });
      const input = { authorization: `Bearer ${key}`, functionId: fn.functionId, versionId: undefined };
      await waitFor(() => outcome(west, input) === 'ok', { timeoutMs: 5_000, what: 'the key in eu-west' });

      // Same bound across a healthy gateway: a revocation in us-east ends eu-west's call within 1 s.
      const other = await east.createApiKey({ accountId: 'acct-1' });
      await waitFor(() => west.getApiKey(other.record.keyId) !== undefined, { timeoutMs: 5_000, what: 'key 2' });
      const crossSignal = calls.track(other.record.keyId, fn.functionId, new Carrier());
      const crossAt = Date.now();
      await east.revokeApiKey(other.record.keyId);
      const crossEnd = await aborted(crossSignal, 1_000);
      assert.equal(crossEnd.reason, 'SY_AUTH_INVALID');
      assert.ok(crossEnd.atMs - crossAt <= 1_000);

      // The cut: eu-west's own NATS is fine, nothing tells its connection that the watch is dead.
      const signal = calls.track(record.keyId, fn.functionId, new Carrier());
      const cutAt = Date.now();
      for (const relay of relays.values()) relay.cut();
      await east.revokeApiKey(record.keyId); // us-east holds the buckets: the write succeeds there
      const revokedAt = Date.now();
      assert.equal(outcome(east, input), 'SY_AUTH_INVALID');

      const end = await aborted(signal, MAX_STALENESS_MS + 2_000);
      assert.equal(end.reason, 'SY_CONTROL_UNAVAILABLE', 'the open call ends: its key may be revoked');
      assert.ok(end.atMs - cutAt <= MAX_STALENESS_MS + 300, `ended ${end.atMs - cutAt} ms after the cut`);
      // From the bound on, every authorize is refused while the cut lasts: never a success.
      const until = Date.now() + 2_500;
      const seen = new Set<string>();
      while (Date.now() < until) {
        if (Date.now() - revokedAt > MAX_STALENESS_MS) seen.add(outcome(west, input));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual([...seen], ['SY_CONTROL_UNAVAILABLE']);

      heal();
      await waitFor(() => west.available, { timeoutMs: 20_000, what: 'eu-west available again' });
      assert.equal(outcome(west, input), 'SY_AUTH_INVALID', 'the revocation made during the cut applies');
      const fresh = await east.createApiKey({ accountId: 'acct-1' });
      const freshInput = { ...input, authorization: `Bearer ${fresh.key}` };
      await waitFor(() => outcome(west, freshInput) === 'ok', { timeoutMs: 5_000, what: 'a new key in eu-west' });
    } finally {
      heal();
      calls.close();
      await west.close();
      await east.close();
      await ncWest.close();
      await ncEast.close();
      await nats.stop();
      for (const relay of started) await relay.stop();
    }
  });
});
