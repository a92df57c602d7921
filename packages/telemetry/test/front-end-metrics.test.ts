// FrontEndMetrics on a real Prometheus endpoint: bounded outcome labels, `unknown` for versions the
// catalogue does not know, 0 samples for versions it learns later. The catalogue here is a plain list
// (the control store implements the same interface and is tested with the services).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sampleValue, scrapeMetrics } from '@switchyard/testkit';
import { FrontEndMetrics, grpcOutcome, httpOutcome, type KnownVersion, startTelemetry } from '../src/index.ts';

describe('FrontEndMetrics', () => {
  test('should bound outcome labels to the gRPC codes and HTTP status classes', () => {
    assert.equal(grpcOutcome('0'), '0');
    assert.equal(grpcOutcome(16), '16');
    assert.equal(grpcOutcome('17'), '2');
    assert.equal(grpcOutcome('made-up-by-a-container'), '2');
    assert.equal(grpcOutcome(undefined), 'cancelled');
    assert.equal(httpOutcome(200), '2xx');
    assert.equal(httpOutcome(504), '5xx');
    assert.equal(httpOutcome(0), 'cancelled');
    assert.equal(httpOutcome(999), 'cancelled');
  });

  test('should label unknown versions `unknown` and initialise versions the catalogue learns later', async () => {
    const versions = new Map<string, KnownVersion>([['v1', { functionId: 'f1', versionId: 'v1' }]]);
    const listeners = new Set<(versionId: string, record: KnownVersion | undefined) => void>();
    const catalogue = {
      listVersions: () => versions.values(),
      getVersion: (id: string) => versions.get(id),
      onVersionChange(listener: (versionId: string, record: KnownVersion | undefined) => void) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
    const telemetry = await startTelemetry({ service: 'invocation', region: 'r', instanceId: 'i', metricsPort: 0 });
    const metrics = new FrontEndMetrics(telemetry.meter, { service: 'invocation', catalogue });
    try {
      const url = telemetry.metricsUrl ?? '';
      const v1 = { switchyard_function_id: 'f1', switchyard_function_version_id: 'v1' };
      assert.equal(
        sampleValue(await scrapeMetrics(url), 'switchyard_calls_total', { ...v1, switchyard_outcome: '5xx' }),
        0,
      );
      metrics.callEnded('not-deployed', '4xx', 0.01);
      metrics.callEnded(undefined, '4xx', 0.01);
      metrics.callEnded('v1', '2xx', 0.2);
      let text = await scrapeMetrics(url);
      const unknown = { switchyard_function_id: 'unknown', switchyard_function_version_id: 'unknown' };
      assert.equal(sampleValue(text, 'switchyard_calls_total', { ...unknown, switchyard_outcome: '4xx' }), 2);
      assert.doesNotMatch(text, /not-deployed/);
      assert.equal(
        sampleValue(text, 'switchyard_call_duration_seconds_sum', { ...v1, switchyard_outcome: '2xx' }),
        0.2,
      );

      // Deployed later: told by the catalogue's listener, then 0 samples.
      versions.set('v2', { functionId: 'f1', versionId: 'v2' });
      for (const listener of listeners) listener('v2', versions.get('v2'));
      text = await scrapeMetrics(url);
      const v2 = { switchyard_function_id: 'f1', switchyard_function_version_id: 'v2' };
      assert.equal(sampleValue(text, 'switchyard_calls_total', { ...v2, switchyard_outcome: '2xx' }), 0);
      assert.equal(sampleValue(text, 'switchyard_results_accepted_total', v2), 0);
      metrics.close();
      assert.equal(listeners.size, 0, 'close() stops following the catalogue');
    } finally {
      await telemetry.shutdown();
    }
  });
});
