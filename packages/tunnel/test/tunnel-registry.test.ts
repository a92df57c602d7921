import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import {
  dialTunnel,
  PROCESS_WORKER_SECRET,
  type ProxyTunnel,
  type TunnelListener,
  type WorkerTunnel,
} from '../src/index.ts';
import { attachWorker, startListener, until } from './helpers.ts';

/** Worker stream handler: answers 200 with the path, after `delayMs` when the path asks for it. */
function answer(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const path = String(headers[':path']);
  const delayMs = Number(/delay=(\d+)/.exec(path)?.[1] ?? 0);
  stream.on('error', () => {});
  setTimeout(() => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(path);
  }, delayMs);
}

/** GET `path` over the proxy side of a tunnel; resolves with status and body. */
async function get(tunnel: ProxyTunnel, path: string): Promise<{ status: number; body: string }> {
  const req = tunnel.session.request({ ':method': 'GET', ':path': path });
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  let body = '';
  req.setEncoding('utf8');
  for await (const chunk of req) body += chunk;
  return { status: Number(headers[':status']), body };
}

describe('W1 shared tunnels: redeem over NATS, re-dial, one tunnel per worker', () => {
  let listener: TunnelListener;
  let uri: string;

  before(async () => {
    ({ listener, uri } = await startListener());
  });
  after(async () => {
    await listener.close();
  });

  test('W1: redeem should attach a session to the existing tunnel of the worker, once; the same worker asking again is answered attached', async () => {
    const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-redeem', answer);
    const { token, attached } = listener.expectAttach('req-2');
    assert.equal(listener.redeem(token, 'w-redeem', PROCESS_WORKER_SECRET, 'req-2'), undefined);
    assert.equal(await attached, proxyTunnel);
    assert.equal(listener.pendingTokens, 0, 'the token is used');
    // The same worker asking again over the same tunnel (its first reply was lost): attached already.
    assert.equal(listener.redeem(token, 'w-redeem', PROCESS_WORKER_SECRET, 'req-2'), undefined);
    assert.equal(
      listener.redeem(token, 'w-redeem', PROCESS_WORKER_SECRET, 'req-other'),
      'SY_TUNNEL_TOKEN_REJECTED',
      'used token, another request',
    );
    const other = await attachWorker(listener, uri, 'w-other', answer, 'req-other-worker');
    assert.notEqual(
      listener.redeem(token, 'w-other', PROCESS_WORKER_SECRET, 'req-2'),
      undefined,
      'used token, another worker',
    );
    workerTunnel.destroy();
    await once(proxyTunnel, 'close');
    assert.equal(
      listener.redeem(token, 'w-redeem', PROCESS_WORKER_SECRET, 'req-2'),
      'SY_TUNNEL_LOST',
      'used token, the tunnel it was redeemed on is gone',
    );
    other.workerTunnel.destroy();
    await once(other.proxyTunnel, 'close');
  });

  test('W1: redeem should reject a token issued for another request ID, and an unknown token', async () => {
    const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-reqid', answer);
    const { token, cancel } = listener.expectAttach('req-a');
    assert.equal(listener.redeem(token, 'w-reqid', PROCESS_WORKER_SECRET, 'req-b'), 'SY_TUNNEL_TOKEN_REJECTED');
    assert.equal(listener.redeem('unknown', 'w-reqid', PROCESS_WORKER_SECRET, 'req-a'), 'SY_TUNNEL_TOKEN_REJECTED');
    cancel();
    workerTunnel.destroy();
    await once(proxyTunnel, 'close');
  });

  test('W1: redeem should answer SY_TUNNEL_LOST for a worker without a tunnel, and keep the token', async () => {
    const { token, attached } = listener.expectAttach('req-3');
    assert.equal(listener.redeem(token, 'w-none', PROCESS_WORKER_SECRET, 'req-3'), 'SY_TUNNEL_LOST');
    // The worker then dials with the same token (W1: a lost tunnel is re-dialled with the token).
    const workerTunnel = await dialTunnel({ callbackUri: uri, token, workerId: 'w-none', onStream: answer });
    assert.equal((await attached).workerId, 'w-none');
    workerTunnel.destroy();
  });

  test('W1: redeem should answer SY_TUNNEL_LOST once the tunnel closed', async () => {
    const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-gone', answer);
    workerTunnel.destroy();
    await once(proxyTunnel, 'close');
    const { token, cancel } = listener.expectAttach('req-4');
    assert.equal(listener.redeem(token, 'w-gone', PROCESS_WORKER_SECRET, 'req-4'), 'SY_TUNNEL_LOST');
    cancel();
  });

  test('W1: a re-dial from the same worker becomes current, the old tunnel closes after its in-flight streams', async () => {
    const first = await attachWorker(listener, uri, 'w-redial', answer);
    const inFlight = get(first.proxyTunnel, '/slow?delay=300');
    await new Promise((r) => setTimeout(r, 50));
    const closedEvents: ProxyTunnel[] = [];
    const onClosed = (t: ProxyTunnel) => closedEvents.push(t);
    listener.on('tunnel-closed', onClosed);
    const second = await attachWorker(listener, uri, 'w-redial', answer, 'req-5');
    assert.equal(listener.get('w-redial'), second.proxyTunnel);
    assert.notEqual(second.proxyTunnel, first.proxyTunnel);
    assert.equal(first.proxyTunnel.closed, true, 'no new streams on the old tunnel');
    // The old tunnel's stream finishes normally.
    assert.deepEqual(await inFlight, { status: 200, body: '/slow?delay=300' });
    // Then the old tunnel's socket goes away on both ends.
    await until(() => first.proxyTunnel.session.destroyed && first.workerTunnel.session.destroyed, 5000, 'old socket');
    assert.equal(first.workerTunnel.closed, true);
    assert.deepEqual(closedEvents, [first.proxyTunnel]);
    assert.equal(first.proxyTunnel.closeReasonKind, 'replaced', 'the metrics label of a re-dialled tunnel');
    assert.equal(listener.get('w-redial'), second.proxyTunnel);
    assert.deepEqual(await get(second.proxyTunnel, '/new'), { status: 200, body: '/new' });
    listener.off('tunnel-closed', onClosed);
    second.workerTunnel.destroy();
    await once(second.proxyTunnel, 'close');
  });

  test('W1: the old tunnel closing late must not remove the new one from the registry', async () => {
    const first = await attachWorker(listener, uri, 'w-late', answer);
    const second = await attachWorker(listener, uri, 'w-late', answer, 'req-6');
    first.workerTunnel.destroy();
    await until(() => first.proxyTunnel.session.destroyed, 5000, 'old session destroyed');
    assert.equal(listener.get('w-late'), second.proxyTunnel);
    second.workerTunnel.destroy();
    await once(second.proxyTunnel, 'close');
  });

  test('W1: 1,000 attaches of one worker over NATS should share one tunnel', async () => {
    const { proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'w-shared', answer);
    assert.equal(listener.size, 1);
    for (let i = 0; i < 1000; i++) {
      const reqId = `req-${i}`;
      const { token, attached } = listener.expectAttach(reqId);
      assert.equal(listener.redeem(token, 'w-shared', PROCESS_WORKER_SECRET, reqId), undefined);
      assert.equal(await attached, proxyTunnel);
    }
    assert.equal(listener.size, 1);
    assert.equal(listener.pendingTokens, 0);
    workerTunnel.destroy();
    await once(proxyTunnel, 'close');
    assert.equal(listener.size, 0);
  });

  test('W1: close() should let in-flight streams finish, then end every tunnel', async () => {
    const { listener: own, uri: ownUri } = await startListener();
    const { proxyTunnel, workerTunnel } = await attachWorker(own, ownUri, 'w-close', answer);
    const inFlight = get(proxyTunnel, '/slow?delay=200');
    await new Promise((r) => setTimeout(r, 30));
    const closing = own.close();
    assert.deepEqual(await inFlight, { status: 200, body: '/slow?delay=200' });
    await closing;
    await until(() => (workerTunnel as WorkerTunnel).session.destroyed, 5000, 'worker session');
  });
});
