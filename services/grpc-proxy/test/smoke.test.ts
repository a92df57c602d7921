import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { EchoResponse } from '@switchyard/sample-functions';
import { RegionHarness } from './region-harness.ts';

describe('smoke', () => {
  const h = new RegionHarness();
  before(async () => {
    await h.start();
    await h.addProxy();
    await h.addWorker();
  });
  after(() => h.stop());

  test('G5: should relay a unary call and return nvcf-reqid', async () => {
    const client = h.client();
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(h.metadata())) md.set(k, v);
    const result = await new Promise<{ res: EchoResponse; headers: grpc.Metadata }>((resolve, reject) => {
      let headers: grpc.Metadata;
      const call = client.Unary({ payload: Buffer.from('hi') }, md, (err: Error | null, res: EchoResponse) =>
        err ? reject(err) : resolve({ res, headers }),
      );
      call.on('metadata', (m: grpc.Metadata) => {
        headers = m;
      });
    });
    assert.equal(result.res.payload.toString(), 'hi');
    const reqId = result.headers.get('nvcf-reqid')[0];
    assert.match(String(reqId), /^[0-9a-f-]{36}$/);
    assert.equal(result.res.request_id, reqId);
    client.close();
  });
});
