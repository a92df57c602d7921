// Issue 11 item 2: the tunnel's connection-level window is a bounded config value (was 1 GiB). What a
// worker can make the front end buffer is bounded per stream by the stream window (node acknowledges
// the connection window as DATA arrives), so stalled streams never hold more than their stream window
// each, and the tunnel's other streams keep flowing, with a connection window far smaller than the
// sum of what the stalled streams hold.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http2 from 'node:http2';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DEFAULT_CONNECTION_WINDOW_BYTES,
  DEFAULT_STREAM_WINDOW_BYTES,
  type TunnelListener,
  type TunnelStreamHandler,
} from '../src/index.ts';
import { attachWorker, startListener } from './helpers.ts';

const MiB = 1024 * 1024;
const LIMITS = { headersTimeoutMs: 10_000, maxHeaderListBytes: 65_536, maxConnections: 100 };

/** The worker side of each stream: answers 200 and writes `bytes` (path `/<bytes>`), counting what was sent. */
function producer(sent: Map<string, number>): TunnelStreamHandler {
  return (stream, headers) => {
    const path = String(headers[':path']);
    const total = Number(path.slice(1));
    sent.set(path, 0);
    stream.respond({ ':status': 200 });
    const chunk = Buffer.alloc(64 * 1024, 7);
    let queued = 0;
    const pump = () => {
      while (queued < total) {
        queued += chunk.length;
        const more = stream.write(chunk, (err) => {
          if (!err) sent.set(path, (sent.get(path) ?? 0) + chunk.length);
        });
        if (!more) {
          stream.once('drain', pump);
          return;
        }
      }
      stream.end();
    };
    stream.on('error', () => {});
    pump();
  };
}

describe('tunnel connection window (issue 11 item 2)', () => {
  const listeners: TunnelListener[] = [];
  after(async () => {
    for (const l of listeners) await l.close();
  });

  test('should default to 16 MiB and take SWITCHYARD_HTTP2_CONNECTION_WINDOW_BYTES from the limits', async () => {
    assert.equal(DEFAULT_CONNECTION_WINDOW_BYTES, 16 * MiB);
    for (const [limits, expected] of [
      [LIMITS, DEFAULT_CONNECTION_WINDOW_BYTES],
      [{ ...LIMITS, http2ConnectionWindowBytes: 4 * MiB }, 4 * MiB],
    ] as const) {
      const { listener, uri } = await startListener({ limits });
      listeners.push(listener);
      const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-window', () => {});
      await sleep(100);
      assert.equal(proxyTunnel.session.state.effectiveLocalWindowSize, expected);
      workerTunnel.destroy();
    }
  });

  test('should take the tunnel stream window from the limits', async () => {
    const { listener, uri } = await startListener({ limits: { ...LIMITS, http2StreamWindowBytes: 256 * 1024 } });
    listeners.push(listener);
    const sent = new Map<string, number>();
    const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-small', producer(sent));
    try {
      const s = proxyTunnel.session.request({ ':method': 'GET', ':path': `/${16 * MiB}` });
      s.on('error', () => {});
      s.pause();
      await sleep(1_000);
      const bytes = sent.get(`/${16 * MiB}`) ?? 0;
      assert.ok(bytes > 0 && bytes <= 256 * 1024 + 128 * 1024, `a stalled stream sent ${bytes} bytes`);
      s.close();
    } finally {
      workerTunnel.destroy();
      proxyTunnel.destroy();
    }
  });

  test('should hold at most a stream window per stalled stream and keep other streams flowing under a 2 MiB connection window', async () => {
    const { listener, uri } = await startListener({ limits: { ...LIMITS, http2ConnectionWindowBytes: 2 * MiB } });
    listeners.push(listener);
    const sent = new Map<string, number>();
    const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-stalled', producer(sent));
    try {
      // Six streams of 64 MiB each that the front end never reads.
      const stalled: http2.ClientHttp2Stream[] = [];
      for (let i = 0; i < 6; i++) {
        const s = proxyTunnel.session.request({ ':method': 'GET', ':path': `/${64 * MiB + i}` });
        s.on('error', () => {});
        s.pause();
        stalled.push(s);
      }
      await sleep(1_000);
      const held = stalled.map((_, i) => sent.get(`/${64 * MiB + i}`) ?? 0);
      // Each stalled stream got about its stream window across, never much more...
      for (const bytes of held)
        assert.ok(bytes <= DEFAULT_STREAM_WINDOW_BYTES + 256 * 1024, `a stalled stream sent ${bytes} bytes`);
      // ...and together more than the 2 MiB connection window: it bounds bytes in flight, not memory.
      const total = held.reduce((a, b) => a + b, 0);
      assert.ok(total > 2 * MiB, `stalled streams sent ${total} bytes in all`);
      // Another stream on the same tunnel still moves 32 MiB end to end.
      const flowing = proxyTunnel.session.request({ ':method': 'GET', ':path': `/${32 * MiB}` });
      let received = 0;
      flowing.on('data', (c: Buffer) => {
        received += c.length;
      });
      await once(flowing, 'end');
      assert.equal(received, 32 * MiB);
      for (const s of stalled) s.close();
    } finally {
      workerTunnel.destroy();
      proxyTunnel.destroy();
    }
  });
});
