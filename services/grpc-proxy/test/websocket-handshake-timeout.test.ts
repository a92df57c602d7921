// G12 bounded: a WebSocket upgrade whose handshake never completes (the container holds the Upgrade
// and never answers) is answered 504 SY_REQUEST_TIMEOUT after websocketHandshakeTimeoutMs, instead of
// holding the client, its session and a tunnel stream forever.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { rawUpgradeRequest } from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

/** A container that accepts Upgrade requests and never answers them. */
async function startSilentContainer(): Promise<{ port: number; held: Set<Duplex>; stop(): Promise<void> }> {
  const held = new Set<Duplex>();
  const server = http.createServer((_req, res) => res.end());
  server.on('upgrade', (_req, socket: Duplex) => {
    socket.on('error', () => undefined);
    // The peer's FIN ends the hold (an upgraded socket is half-open until then).
    socket.once('end', () => socket.destroy());
    held.add(socket);
    socket.once('close', () => held.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    held,
    stop: async () => {
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends an Upgrade and resolves with the status of whatever comes back (0 when the socket just closes). */
async function upgradeStatus(address: string, headers: Record<string, string>): Promise<number> {
  try {
    const { status, socket } = await rawUpgradeRequest(address, headers);
    socket?.destroy();
    return status;
  } catch {
    return 0;
  }
}

describe('WebSocket handshake timeout (G12)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let container: Awaited<ReturnType<typeof startSilentContainer>>;

  before(async () => {
    await h.start();
    container = await startSilentContainer();
    proxy = await h.addProxy({ websocketHandshakeTimeoutMs: 1_500 });
    await h.addWorker({ concurrency: 5, websocketUpstream: `ws://127.0.0.1:${container.port}` });
  });
  after(async () => {
    await h.stop();
    await container.stop();
  });

  test('G12: should answer 504 when the container never completes the handshake, and free the upstream', {
    timeout: 60_000,
  }, async () => {
    const started = Date.now();
    const status = await upgradeStatus(proxy.address, {
      authorization: `Bearer ${h.apiKey}`,
      'function-id': h.functionId,
    });
    const tookMs = Date.now() - started;
    assert.equal(status, 504);
    assert.ok(tookMs >= 1_400, `answered after ${tookMs} ms, before the timeout`);
    // The tunnel stream was cancelled: the worker lets go of the container's socket.
    const until = Date.now() + 10_000;
    while (container.held.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(container.held.size, 0, 'the container still holds the upgrade');
  });
});
