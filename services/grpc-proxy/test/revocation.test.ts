// Revocation ends what is already open (issue 8, G2): a key revoked through the control store ends its
// live bidi stream with UNAUTHENTICATED trailers and closes its WebSocket with 1008 (policy violation)
// within 1 s, and new calls with it are refused; another key's calls go on.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { EchoResponse } from '@switchyard/sample-functions';
import { newChannel, toMetadata, unary } from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';
import { startWsContainer, type WsContainer } from './ws-container.ts';

/** A bidi call that answered one message; `status` resolves when it ends. */
async function openBidi(client: ReturnType<typeof newChannel>, metadata: Record<string, string>) {
  const call = client.Bidi(toMetadata(metadata));
  const status = new Promise<grpc.StatusObject & { atMs: number }>((resolve) =>
    call.on('status', (s: grpc.StatusObject) => resolve({ ...s, atMs: Date.now() })),
  );
  call.on('error', () => undefined);
  const first = new Promise<EchoResponse>((resolve) => call.once('data', resolve));
  call.on('data', () => undefined);
  call.write({ payload: Buffer.from('hello') });
  assert.equal((await first).payload.toString(), 'hello');
  return { call, status };
}

/** An open WebSocket; `closed` resolves with its close event and when it came. */
async function openWs(address: string, protocols: string[]) {
  const ws = new WebSocket(`ws://${address}/`, protocols);
  const closed = new Promise<{ code: number; reason: string; atMs: number }>((resolve) =>
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, atMs: Date.now() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error('WebSocket failed before opening')), { once: true });
  });
  return { ws, closed };
}

describe('revoked keys end their open calls (issue 8)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let container: WsContainer;

  before(async () => {
    await h.start();
    container = await startWsContainer();
    proxy = await h.addProxy();
    await h.addWorker({ concurrency: 20, websocketUpstream: `ws://127.0.0.1:${container.port}` });
  });
  after(async () => {
    await h.stop();
    await container.stop();
  });

  test('should end a live bidi stream with UNAUTHENTICATED and close a WebSocket with 1008 within 1 s; new calls refused', async () => {
    const doomed = await h.addApiKey();
    const kept = await h.addApiKey();
    const metadata = { ...h.metadata(), authorization: `Bearer ${doomed.key}` };
    const keptMetadata = { ...h.metadata(), authorization: `Bearer ${kept.key}` };
    const client = newChannel(proxy.address);
    const keptClient = newChannel(proxy.address);
    try {
      const bidi = await openBidi(client, metadata);
      const keptBidi = await openBidi(keptClient, keptMetadata);
      const ws = await openWs(proxy.address, [`authorization.${doomed.key}`, `function-id.${h.functionId}`]);

      const revokedAt = Date.now();
      await h.control.revokeApiKey(doomed.keyId);
      const status = await bidi.status;
      assert.equal(status.code, grpc.status.UNAUTHENTICATED, status.details);
      assert.ok(status.atMs - revokedAt <= 1_000, `bidi ended after ${status.atMs - revokedAt} ms`);
      const closed = await ws.closed;
      assert.equal(closed.code, 1008, 'policy violation');
      assert.ok(closed.atMs - revokedAt <= 1_000, `WebSocket closed after ${closed.atMs - revokedAt} ms`);

      const again = await unary(client, {}, metadata);
      assert.equal(again.error?.code, grpc.status.UNAUTHENTICATED);
      // Another key's stream is untouched.
      keptBidi.call.write({ payload: Buffer.from('still') });
      keptBidi.call.end();
      assert.equal((await keptBidi.status).code, grpc.status.OK);
    } finally {
      client.close();
      keptClient.close();
    }
  });
});
