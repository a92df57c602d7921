// G1, G2 over HTTP/2: metadata whose value starts or ends with whitespace (RFC 9113 §8.2.1 calls such
// a field malformed). nghttp2 drops such fields by default, so a `function-version-id` of " <uuid>"
// or "x " used to vanish and the call went to any deployed version, as if no version had been named.
// The proxy must see the field and answer INVALID_ARGUMENT (3): it is not a UUID as sent.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { grpcFrame, grpcRequestHeaders, rawH2 } from './echo-calls.ts';
import { type HarnessProxy, RegionHarness } from './region-harness.ts';

describe('metadata with surrounding whitespace (G1, G2)', () => {
  const h = new RegionHarness();
  let proxy: HarnessProxy;
  before(async () => {
    await h.start();
    // No worker: a call that got past the metadata checks would end DEADLINE_EXCEEDED (G10).
    proxy = await h.addProxy({ attachTimeoutMs: 1_000 });
  });
  after(() => h.stop());

  for (const value of [' x', 'x ', ' ffffffef-3534-3fa3-9302-6a72c73706ce', 'ffffffef-3534-3fa3-9302-6a72c73706ce\t']) {
    test(`should answer INVALID_ARGUMENT for function-version-id ${JSON.stringify(value)}`, async () => {
      const r = await rawH2(
        proxy.address,
        grpcRequestHeaders({
          authorization: `Bearer ${h.apiKey}`,
          'function-id': h.functionId,
          'function-version-id': value,
        }),
        grpcFrame({}),
      );
      const status = r.trailers?.['grpc-status'] ?? r.headers['grpc-status'];
      assert.equal(status, '3', `grpc-status ${status} ${r.headers['grpc-message'] ?? r.trailers?.['grpc-message']}`);
    });
  }
});
