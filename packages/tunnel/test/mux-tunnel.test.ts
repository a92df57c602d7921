// The framed tunnel opened the production way (issue 12): ProxyTunnel.mux() on the front end, and on
// the worker isTunnelMuxStream + serveTunnelMux before the usual dispatch.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { ErrorCatalogue, encodeGrpcMessage } from '@switchyard/protocol';
import {
  isTunnelMuxStream,
  type MuxClientStream,
  type MuxServer,
  type MuxServerStream,
  openTunnelMux,
  type ProxyTunnel,
  relayStream,
  serveTunnelMux,
  type TunnelListener,
  type WorkerTunnel,
} from '../src/index.ts';
import { attachWorker, startListener, until } from './helpers.ts';
import { grpcHeaders, listenLoopback, rawCall } from './mux-helpers.ts';

const { NGHTTP2_INTERNAL_ERROR } = http2.constants;

describe('framed tunnel opened by ProxyTunnel.mux()', () => {
  let listener: TunnelListener;
  let proxyTunnel: ProxyTunnel;
  let workerTunnel: WorkerTunnel;
  const servers: MuxServer[] = [];
  /** False: the worker answers the mux stream as a worker without the feature would (404). */
  let workerServesMux = true;
  /** True: the worker's mux stream is reset before serveTunnelMux gets it. */
  let resetFirst = false;

  before(async () => {
    let uri: string;
    ({ listener, uri } = await startListener());
    ({ proxyTunnel, workerTunnel } = await attachWorker(listener, uri, 'worker-mux', (stream, headers) => {
      if (workerServesMux && isTunnelMuxStream(headers)) {
        if (resetFirst) stream.close(NGHTTP2_INTERNAL_ERROR);
        const server = serveTunnelMux(stream, (call: MuxServerStream, callHeaders) => {
          call.respond(
            { ':status': 200, 'content-type': 'application/grpc', 'x-path': String(callHeaders[':path']) },
            {
              waitForTrailers: true,
            },
          );
          call.once('wantTrailers', () => call.sendTrailers({ 'grpc-status': '0' }));
          call.on('data', (chunk: Buffer) => call.write(chunk));
          call.once('end', () => call.end());
        });
        servers.push(server);
        return;
      }
      stream.respond({ ':status': 404 }, { endStream: true });
    }));
  });
  after(async () => {
    workerTunnel.destroy();
    await listener.close();
  });

  test('should carry calls on one stream, the same mux each time', async () => {
    const mux = proxyTunnel.mux();
    assert.equal(proxyTunnel.mux(), mux);
    const answers = await Promise.all(
      ['a', 'b', 'c'].map(async (body) => {
        const call: MuxClientStream = mux.request(grpcHeaders(`/echo/${body}`));
        const chunks: Buffer[] = [];
        call.on('data', (c: Buffer) => chunks.push(c));
        const [response] = (await once(call, 'response')) as [http2.IncomingHttpHeaders];
        call.end(body);
        const [trailers] = (await once(call, 'trailers')) as [http2.IncomingHttpHeaders];
        return [response['x-path'], Buffer.concat(chunks).toString(), trailers['grpc-status']];
      }),
    );
    assert.deepEqual(answers, [
      ['/echo/a', 'a', '0'],
      ['/echo/b', 'b', '0'],
      ['/echo/c', 'c', '0'],
    ]);
    assert.equal(servers.length, 1, 'one mux stream on the worker');
  });

  test('should open a new mux after the current one was lost', async () => {
    const first = proxyTunnel.mux();
    await until(() => servers.length === 1);
    (servers[0] as MuxServer).duplex.destroy();
    await until(() => first.destroyed, 5000, 'the proxy end saw the loss');
    const second = proxyTunnel.mux();
    assert.notEqual(second, first);
    const call = second.request(grpcHeaders('/again'), { endStream: true });
    const [response] = (await once(call, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(response['x-path'], '/again');
    call.resume();
    await once(call, 'close');
    assert.equal(servers.length, 2);
  });

  test('a worker that does not serve the mux should fail the calls as a lost tunnel (SY_TUNNEL_LOST)', async () => {
    workerServesMux = false;
    const previous = proxyTunnel.mux();
    servers.at(-1)?.destroy(NGHTTP2_INTERNAL_ERROR);
    await until(() => previous.destroyed, 5000, 'the proxy end saw the loss');
    const front = http2.createServer();
    front.on('stream', (stream, headers) => {
      relayStream(stream, proxyTunnel.mux(), {
        ':method': 'POST',
        ':path': String(headers[':path']),
        'content-type': 'application/grpc',
      });
    });
    const port = await listenLoopback(front);
    const client = http2.connect(`http://127.0.0.1:${port}`);
    const { headers } = await rawCall(client, grpcHeaders('/nope'), Buffer.from('x')).answer;
    assert.equal(headers?.['grpc-message'], encodeGrpcMessage(ErrorCatalogue.SY_TUNNEL_LOST.message));
    client.destroy();
    front.close();
    workerServesMux = true;
  });

  test('serveTunnelMux should not throw on a stream already reset, and its mux is ended', async () => {
    resetFirst = true;
    const before = servers.length;
    const client = openTunnelMux(proxyTunnel.session);
    await until(() => servers.length > before, 5000, 'the worker saw the stream');
    assert.equal(servers.at(-1)?.destroyed, true);
    await until(() => client.destroyed, 5000, 'the proxy end ended too');
    resetFirst = false;
  });

  test('should spread concurrent calls over up to `streams` mux streams, reusing an idle one', async () => {
    const before = servers.length;
    const first = proxyTunnel.mux(undefined, 2);
    assert.equal(proxyTunnel.mux(undefined, 2), first, 'an idle mux is reused');
    const a = first.request(grpcHeaders('/a'));
    const second = proxyTunnel.mux(undefined, 2);
    assert.notEqual(second, first, 'every open mux has calls: another one opens');
    const b = second.request(grpcHeaders('/b'));
    assert.equal(proxyTunnel.mux(undefined, 2), first, 'at the bound, one with the fewest calls');
    const c = first.request(grpcHeaders('/c'));
    assert.equal(proxyTunnel.mux(undefined, 2), second, 'at the bound, the one with the fewest calls');
    const calls = [a, b, c];
    const statuses = calls.map(async (call) => {
      call.resume();
      const [trailers] = (await once(call, 'trailers')) as [http2.IncomingHttpHeaders];
      return trailers['grpc-status'];
    });
    for (const call of calls) call.end('x');
    assert.deepEqual(await Promise.all(statuses), ['0', '0', '0']);
    assert.equal(servers.length, before + 2, 'two mux streams on the worker');
  });
});
