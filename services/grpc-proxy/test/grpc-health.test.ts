// grpc.health.v1.Health on the proxy's client listener, called with @grpc/grpc-js (a generic client
// with the two messages encoded by the test): Check answers SERVING for "" and "grpc-proxy", NOT_FOUND
// for another service; Watch streams SERVING; a bad request body is INVALID_ARGUMENT.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parseHealthRequest } from '../src/grpc-health.ts';
import { RegionHarness } from './region-harness.ts';

/** HealthCheckRequest { service = 1 } (service under 128 bytes). */
const encodeRequest = (req: { service: string }) => {
  const s = Buffer.from(req.service);
  return s.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, s.length]), s]);
};
/** HealthCheckResponse { status = 1 }. */
const decodeResponse = (b: Buffer) => ({ status: b.length >= 2 && b[0] === 0x08 ? b[1] : 0 });

const HealthClient = grpc.makeGenericClientConstructor(
  {
    check: {
      path: '/grpc.health.v1.Health/Check',
      requestStream: false,
      responseStream: false,
      requestSerialize: encodeRequest,
      requestDeserialize: (b: Buffer) => ({ service: parseHealthRequest(b) ?? '' }),
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: decodeResponse,
    },
    watch: {
      path: '/grpc.health.v1.Health/Watch',
      requestStream: false,
      responseStream: true,
      requestSerialize: encodeRequest,
      requestDeserialize: (b: Buffer) => ({ service: parseHealthRequest(b) ?? '' }),
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: decodeResponse,
    },
  },
  'Health',
);

describe('grpc.health.v1.Health on the client listener', () => {
  const h = new RegionHarness();
  let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

  before(async () => {
    await h.start();
    await h.addProxy();
    client = new HealthClient(h.proxies[0].address, grpc.credentials.createInsecure()) as typeof client;
  });
  after(async () => {
    client?.close();
    await h.stop();
  });

  const check = (service: string) =>
    new Promise<{ status: number }>((resolve, reject) =>
      (client.check as (r: unknown, cb: (e: Error | null, v: { status: number }) => void) => void)(
        { service },
        (err, res) => (err ? reject(err) : resolve(res)),
      ),
    );

  test('should answer SERVING for the proxy itself and NOT_FOUND for another service', async () => {
    assert.deepEqual(await check(''), { status: 1 });
    assert.deepEqual(await check('grpc-proxy'), { status: 1 });
    await assert.rejects(
      check('switchyard.echo.v1.Echo'),
      (err: grpc.ServiceError) => err.code === grpc.status.NOT_FOUND,
    );
  });

  test('should stream SERVING on Watch', async () => {
    const call = (client.watch as (r: unknown) => grpc.ClientReadableStream<{ status: number }>)({ service: '' });
    const first = await new Promise<{ status: number }>((resolve, reject) => {
      call.once('data', resolve);
      call.once('error', reject);
    });
    assert.deepEqual(first, { status: 1 });
    call.on('error', () => undefined);
    call.cancel();
  });

  test('should parse a request body only when it is a HealthCheckRequest', () => {
    assert.equal(parseHealthRequest(Buffer.from([0, 0, 0, 0, 3, 0x0a, 1, 0x61])), 'a');
    assert.equal(parseHealthRequest(Buffer.alloc(0)), '');
    assert.equal(parseHealthRequest(Buffer.from([0, 0, 0, 0, 9, 0x0a])), undefined);
    assert.equal(parseHealthRequest(Buffer.from([1, 0, 0, 0, 0])), undefined);
  });
});
