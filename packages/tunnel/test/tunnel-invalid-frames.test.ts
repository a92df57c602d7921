import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, test } from 'node:test';
import { dialTunnel, type ProxyTunnel, TunnelListener, type WorkerTunnel } from '@switchyard/tunnel';

// A tunnel lives for days and carries every call between a worker and a proxy, including calls the
// worker ends while the proxy is still sending. The HTTP soak once lost its tunnel with
// ERR_HTTP2_TOO_MANY_INVALID_FRAMES at the worker after minutes of cancellations (node's per-session
// budget is 1,000 invalid frames; the tunnel now lifts it). This scenario did not reproduce that exact
// frame pattern; it checks that thousands of early-ended streams leave the shared tunnel up.
const listener = new TunnelListener({ host: '127.0.0.1', port: 0 });
let worker: WorkerTunnel | undefined;
after(async () => {
  worker?.destroy();
  await listener.close();
});

test('W1: a tunnel should survive thousands of streams the worker ends while the proxy is still sending', async () => {
  const port = await listener.listen();
  const { token, attached } = listener.expectAttach('00000000-0000-4000-8000-000000000001');
  worker = await dialTunnel({
    callbackUri: `http://127.0.0.1:${port}`,
    token,
    workerId: 'worker-frames',
    onStream: (stream) => {
      // Answer at once and reset: the proxy's body is still on its way.
      stream.on('error', () => undefined);
      stream.respond({ ':status': 200 });
      stream.close(http2.constants.NGHTTP2_NO_ERROR);
    },
  });
  const tunnel: ProxyTunnel = await attached;
  const chunk = Buffer.alloc(16 * 1024, 1);
  const total = 2_500;
  for (let i = 0; i < total; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, () => {
        return new Promise<void>((resolve) => {
          const req = tunnel.session.request({ ':method': 'POST', ':path': '/upload' });
          req.on('error', () => undefined);
          req.on('close', () => resolve());
          // Several DATA frames in flight when the worker resets the stream.
          for (let k = 0; k < 8; k++) req.write(chunk);
          req.end();
          req.resume();
        });
      }),
    );
    assert.equal(worker.closed, false, `tunnel closed (${worker.closeReason}) after ${i + 50} streams`);
  }
  assert.equal(tunnel.closed, false, `proxy end closed: ${tunnel.closeReason}`);
});
