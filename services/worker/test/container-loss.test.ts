// The function container dies under a live session: calls end with UNAVAILABLE rather than hang,
// and a container started again on the same port serves the next call (ContainerClient reconnects).
// Also S3's other shape: eviction of a call the container has not answered at all yet.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { NatsNames } from '@switchyard/protocol';
import { echoServiceDefinition, type SampleServerHandle, startEchoServer } from '@switchyard/sample-functions';
import { echoClient, rejectsWithStatus, settle, sleep, unary, within } from './helpers.ts';
import { startRegion, type TestRegion } from './region.ts';

describe('a killed function container', () => {
  let r: TestRegion;
  let container: SampleServerHandle;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy();
  });
  after(async () => {
    await container?.stop().catch(() => undefined);
    await r.h.stop();
  });

  test("S1: should answer UNAVAILABLE while the session's container is dead and serve the same session once it is back", async () => {
    container = await startEchoServer({ port: 0 });
    const port = container.port;
    const { worker } = await r.h.addWorker({ concurrency: 2 }, container);
    const client = echoClient(r.h.proxies[0].address);
    const first = await unary(client, {}, r.h.metadata());

    const inFlight = settle(unary(client, { delay_ms: 5_000 }, r.h.metadata()));
    await sleep(300);
    const killedAt = Date.now();
    container.kill();
    const result = await within(inFlight, 3_000, 'the in-flight call');
    assert.equal(result.ok, false);
    const err = (result as { error: grpc.ServiceError }).error;
    assert.equal(err.code, grpc.status.UNAVAILABLE, `in-flight call: ${grpc.status[err.code]} ${err.details}`);
    assert.ok(Date.now() - killedAt < 2_000);

    await rejectsWithStatus(unary(client, {}, r.h.metadata(), { deadlineMs: 3_000 }), grpc.status.UNAVAILABLE);
    assert.equal(worker.sessionCount, 1, 'the session outlives its container');

    container = await startEchoServer({ port });
    const again = await unary(client, {}, r.h.metadata(), { deadlineMs: 3_000 });
    assert.equal(again.res.request_id, first.reqId, 'same session');
    assert.equal(again.res.instance_id, container.instanceId, 'served by the new container');
    client.close();
    await worker.stop();
  });
});

describe('S3: eviction before the container answered', () => {
  let r: TestRegion;
  let server: grpc.Server;
  let port = 0;
  before(async () => {
    r = await startRegion();
    await r.h.addProxy();
    // A container whose Unary answers the first call and never answers a call with delay_ms set.
    server = new grpc.Server();
    server.addService(echoServiceDefinition(), {
      Unary(call: grpc.ServerUnaryCall<{ delay_ms: number }, unknown>, cb: grpc.sendUnaryData<unknown>) {
        if (call.request.delay_ms > 0) return; // no headers, no answer
        cb(null, { request_id: String(call.metadata.get('nvcf-reqid')[0] ?? '') });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  after(async () => {
    server.forceShutdown();
    await r.h.stop();
  });

  test('S3: should end an unanswered in-flight call of an evicted session with UNAVAILABLE', async () => {
    const handle = { port, address: `127.0.0.1:${port}`, instanceId: 'silent', stop: async () => {}, kill: () => {} };
    const { worker } = await r.h.addWorker({ concurrency: 2 }, handle);
    const client = echoClient(r.h.proxies[0].address);
    const { reqId } = await unary(client, {}, r.h.metadata());
    const inFlight = settle(unary(client, { delay_ms: 1 }, r.h.metadata()));
    await sleep(300);
    const reply = await r.h.nc.request(
      NatsNames.workerEvict(worker.config.versionId, worker.config.workerId),
      JSON.stringify({ reqId }),
    );
    assert.deepEqual(JSON.parse(Buffer.from(reply.data).toString()), { ok: true });
    const result = await within(inFlight, 3_000, 'the in-flight call');
    assert.equal(result.ok, false);
    const err = (result as { error: grpc.ServiceError }).error;
    assert.equal(err.code, grpc.status.UNAVAILABLE, `${grpc.status[err.code]} ${err.details}`);
    assert.match(err.details, /evicted/);
    client.close();
    await worker.stop();
  });
});
