import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { EchoResponse } from '@switchyard/sample-functions';
import { type Chain, callWithMany, callWithOne, startChain, startTcpRelay, until } from './helpers.ts';

describe('W3 dead peers: PINGs find a tunnel whose peer stopped answering', () => {
  let chain: Chain | undefined;
  let relay: Awaited<ReturnType<typeof startTcpRelay>> | undefined;

  afterEach(async () => {
    relay?.close();
    await chain?.close();
    chain = undefined;
    relay = undefined;
  });

  const viaRelay = async (uri: string) => {
    relay = await startTcpRelay(Number(new URL(uri).port));
    return relay.uri;
  };

  test('W3: an idle tunnel whose peer answers PINGs should stay up', async () => {
    chain = await startChain({ listener: { pingIntervalMs: 50 }, dial: { pingIntervalMs: 50 }, dialUri: viaRelay });
    await sleep(500);
    assert.equal(chain.proxyTunnel.closed, false);
    assert.equal(chain.workerTunnel.closed, false);
    const { status } = await callWithOne<EchoResponse>(chain.client, 'Unary', { payload: Buffer.from('x') });
    assert.equal(status.code, grpc.status.OK);
  });

  test('W3: a silent worker should be dropped by the proxy within four PING intervals, its calls UNAVAILABLE', async () => {
    chain = await startChain({
      listener: { pingIntervalMs: 100 },
      dial: { pingIntervalMs: 60_000 },
      dialUri: viaRelay,
    });
    const { call, result } = callWithMany<EchoResponse>(chain.client, 'ServerStream', {
      payload: Buffer.from('x'),
      repeat: 1000,
      delay_ms: 20,
    });
    await once(call, 'data');
    const closed = once(chain.proxyTunnel, 'close');
    relay!.freeze();
    const frozenAt = Date.now();
    const { status } = await result;
    assert.equal(status.code, grpc.status.UNAVAILABLE);
    assert.equal(status.details, 'tunnel to worker lost');
    await closed;
    // Four PING intervals are 400 ms; the slack is for a loaded machine, the close reason is the proof.
    assert.ok(Date.now() - frozenAt < 2_000, `dropped after ${Date.now() - frozenAt} ms`);
    assert.equal(chain.listener.get('worker-1'), undefined);
    assert.equal(chain.proxyTunnel.closeReason, 'ping timeout');
    assert.equal(chain.proxyTunnel.closeReasonKind, 'ping_timeout');
    assert.equal(chain.workerTunnel.closed, false, 'the worker has not noticed yet (its PING interval is long)');
  });

  test('W3: a silent proxy should be dropped by the worker within four PING intervals', async () => {
    chain = await startChain({
      listener: { pingIntervalMs: 60_000 },
      dial: { pingIntervalMs: 100 },
      dialUri: viaRelay,
    });
    const closed = once(chain.workerTunnel, 'close');
    relay!.freeze();
    const frozenAt = Date.now();
    await closed;
    // Four PING intervals are 400 ms; the slack is for a loaded machine, the close reason is the proof.
    assert.ok(Date.now() - frozenAt < 2_000, `dropped after ${Date.now() - frozenAt} ms`);
    await until(() => chain!.workerTunnel.session.destroyed, 2000, 'worker session destroyed');
    assert.equal(chain.workerTunnel.closeReason, 'ping timeout');
    assert.equal(chain.proxyTunnel.closed, false, 'the proxy has not noticed yet (its PING interval is long)');
  });
});
