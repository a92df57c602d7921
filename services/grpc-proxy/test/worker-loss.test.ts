// G8 and DESIGN flow 5: a worker process that dies (SIGKILL: no cleanup, no GOAWAY) is noticed by the
// proxy through its tunnel socket; calls pinned to its sessions answer NOT_FOUND promptly, not hang.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { RequestError } from '@nats-io/transport-node';
import { NatsNames } from '@switchyard/protocol';
import { type SampleServerHandle, startEchoServer } from '@switchyard/sample-functions';
import { waitFor } from '@switchyard/testkit';
import { newChannel, reqIdOf, unary } from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

/** The proxy's no-responders grace in this test: a killed worker is believed gone after it. */
const GRACE_MS = 500;
const WORKER_MAIN = fileURLToPath(new URL('../../worker/src/main.ts', import.meta.url));

describe('a killed worker process (G8)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  let echo: SampleServerHandle;
  let child: ChildProcess;
  before(async () => {
    await h.start();
    proxy = await h.addProxy({ noRespondersGraceMs: GRACE_MS });
    echo = await startEchoServer({ port: 0 });
    h.containers.push(echo);
    child = spawn(process.execPath, [WORKER_MAIN], {
      env: {
        PATH: process.env.PATH,
        SWITCHYARD_REGION: h.region,
        SWITCHYARD_WORKER_ID: 'worker-killed',
        SWITCHYARD_FUNCTION_ID: h.functionId,
        SWITCHYARD_VERSION_ID: h.versionId,
        SWITCHYARD_UPSTREAM: `grpc://127.0.0.1:${echo.port}`,
        SWITCHYARD_NATS_SERVERS: h.nats.url,
        SWITCHYARD_TICKET_PULL_EXPIRES_MS: '1000',
        SWITCHYARD_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout?.on('data', (d) => {
      output += d;
    });
    await waitFor(() => output.includes('"ready":true'), { timeoutMs: 15_000, what: 'the worker process to be ready' });
  });
  after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await h.stop();
  });

  test('G8: should answer a call pinned to a killed worker with NOT_FOUND once the no-responders grace is over, and drop its tunnel', async () => {
    const pinned = newChannel(proxy.address);
    try {
      const first = await unary(pinned, {}, h.metadata());
      assert.equal(first.error, undefined);
      assert.equal(proxy.proxy.tunnels.size, 1);
      child.kill('SIGKILL');
      await once(child, 'exit');
      await waitFor(() => proxy.proxy.tunnels.size === 0, { timeoutMs: 1_000, what: 'the tunnel to be dropped' });
      // The proxy (its tunnel) and nats-server (the worker's connection) notice the death apart. Until
      // nats-server has dropped that connection, a request to the worker's subject goes to a dead socket
      // and is answered by nobody within the proxy's 5 s reconnect timeout (longer than this call's
      // deadline) rather than with "no responders", whose grace this test measures.
      const subject = NatsNames.workerReconnect(h.versionId, 'worker-killed');
      await waitFor(
        async () => {
          try {
            await h.nc.request(subject, new Uint8Array(), { timeout: 500 });
            return false;
          } catch (err) {
            return err instanceof RequestError && err.isNoResponders();
          }
        },
        { timeoutMs: 5_000, what: 'nats-server to drop the killed worker’s subscription' },
      );
      const started = Date.now();
      const after = await unary(pinned, {}, h.metadata(), { deadline: Date.now() + 4_000 });
      assert.equal(after.status.code, grpc.status.NOT_FOUND, `${after.status.code} ${after.status.details}`);
      assert.match(after.status.details, /no existing session found/);
      // Nobody subscribes to the worker's subject any more; that is believed after the grace, not before.
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= GRACE_MS - 50 && elapsed < GRACE_MS + 2_000, `NOT_FOUND after ${elapsed} ms`);
      // G6, G8: the lost session is unpinned; the connection's next call without nvcf-reqid starts a
      // new session on a live worker, instead of NOT_FOUND again and again.
      await h.addWorker({ workerId: 'worker-after-loss' }, echo);
      const next = await unary(pinned, {}, h.metadata(), { deadline: Date.now() + 10_000 });
      assert.equal(next.error, undefined, `${next.status?.code} ${next.status?.details}`);
      assert.notEqual(reqIdOf(next), reqIdOf(first), 'a new session');
    } finally {
      pinned.close();
    }
  });
});
