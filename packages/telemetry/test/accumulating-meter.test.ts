// AccumulatingMeter against the SDK's own instruments: the same measurements, read by two Prometheus
// exporters (the SDK's MeterProvider in both), must give the same exposition, line for line. Random
// sequences (fast-check) mix counters, up-down counters and histograms (advised and default bounds, a
// value type INT), reused and fresh attribute objects, values on bucket bounds, negative values and
// zeros; then the real startTelemetry endpoint is scraped to see the producer wired in.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Attributes, type Meter, ValueType } from '@opentelemetry/api';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { sampleValue, scrapeMetrics } from '@switchyard/testkit';
import fc from 'fast-check';
import { AccumulatingMeter } from '../src/accumulating-meter.ts';
import { startTelemetry } from '../src/index.ts';

/** One measurement: instrument index, value, attribute set index, and whether to pass a fresh copy. */
type Step = [instrument: number, value: number, attrs: number, fresh: boolean];

const ATTRS: Attributes[] = [
  {},
  { 'switchyard.outcome': '0' },
  { 'switchyard.outcome': '14', 'switchyard.function.id': 'f' },
  { 'switchyard.function.id': 'f', 'switchyard.outcome': '14' },
  { 'switchyard.protocol': 'grpc', 'switchyard.outcome': '2xx' },
];

const BOUNDS = [0.001, 0.005, 0.01, 0.1, 1, 10];

/** Creates the test's instruments on `meter`; returns a function applying one step to them. */
function instrumentsOn(meter: Meter): (step: Step) => void {
  const counter = meter.createCounter('t.calls', { description: 'Calls.', unit: '{call}' });
  const intCounter = meter.createCounter('t.bytes', { description: 'Bytes.', unit: 'By', valueType: ValueType.INT });
  const upDown = meter.createUpDownCounter('t.active', { description: 'Active.', unit: '{connection}' });
  const histogram = meter.createHistogram('t.duration.seconds', {
    description: 'Duration.',
    unit: 's',
    advice: { explicitBucketBoundaries: BOUNDS },
  });
  const defaultHistogram = meter.createHistogram('t.size', { description: 'Size.' });
  return ([instrument, value, attrs, fresh]) => {
    const attributes = fresh ? { ...ATTRS[attrs] } : ATTRS[attrs];
    switch (instrument) {
      case 0:
        return counter.add(value, attributes);
      case 1:
        return intCounter.add(value, attributes);
      case 2:
        return upDown.add(value, attributes);
      case 3:
        return histogram.record(value, attributes);
      default:
        return defaultHistogram.record(value, attributes);
    }
  };
}

/** The exposition text of a provider read by `exporter`. */
async function exposition(exporter: PrometheusExporter): Promise<string> {
  const { resourceMetrics, errors } = await exporter.collect();
  assert.deepEqual(errors, []);
  return new PrometheusSerializer().serialize(resourceMetrics);
}

const value = fc.oneof(
  fc.constantFrom(0, 1, -1, ...BOUNDS, 5, 7.5, 250),
  fc.double({ min: -2, max: 20_000, noNaN: true }),
  fc.integer({ min: 0, max: 1000 }),
);
const step = fc.tuple(
  fc.integer({ min: 0, max: 4 }),
  value,
  fc.integer({ min: 0, max: ATTRS.length - 1 }),
  fc.boolean(),
);

describe('AccumulatingMeter', () => {
  test('should expose what the SDK instruments expose for the same measurements', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const sdkExporter = new PrometheusExporter({ preventServerStart: true });
        const sdkProvider = new MeterProvider({ readers: [sdkExporter] });
        const sdkApply = instrumentsOn(sdkProvider.getMeter('svc'));
        let ours: MeterProvider | undefined;
        const accumulating = new AccumulatingMeter('svc', () => (ours as MeterProvider).getMeter('svc'));
        const ourExporter = new PrometheusExporter({
          preventServerStart: true,
          metricProducers: [accumulating.producer],
        });
        ours = new MeterProvider({ readers: [ourExporter] });
        const ourApply = instrumentsOn(accumulating);
        for (const s of steps) {
          sdkApply(s);
          ourApply(s);
        }
        try {
          assert.equal(await exposition(ourExporter), await exposition(sdkExporter));
        } finally {
          await Promise.all([sdkProvider.shutdown(), ours.shutdown()]);
        }
      }),
      { numRuns: 150 },
    );
  });

  test('should return one instrument per name and leave instruments without measurements out', async () => {
    const accumulating = new AccumulatingMeter('svc', () => {
      throw new Error('no SDK meter needed');
    });
    assert.equal(accumulating.createCounter('a'), accumulating.createCounter('a'));
    accumulating.createHistogram('b');
    accumulating.createCounter('c').add(0);
    const { resourceMetrics } = await accumulating.producer.collect();
    assert.deepEqual(
      resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.descriptor.name)),
      ['c'],
    );
  });

  test('should serve its series on the startTelemetry endpoint beside the SDK ones', async () => {
    const telemetry = await startTelemetry({ service: 'svc', region: 'r1', instanceId: 'i1', metricsPort: 0 });
    try {
      const calls = telemetry.meter.createCounter('switchyard.test.calls', { description: 'Calls.' });
      const attrs = { 'switchyard.outcome': '0' };
      calls.add(2, attrs);
      calls.add(1, { ...attrs });
      telemetry.meter.createHistogram('switchyard.test.duration', { unit: 's' }).record(3);
      const text = await scrapeMetrics(telemetry.metricsUrl ?? '');
      const labels = { switchyard_outcome: '0', switchyard_region: 'r1', service_instance_id: 'i1' };
      assert.equal(sampleValue(text, 'switchyard_test_calls_total', labels), 3);
      assert.equal(sampleValue(text, 'switchyard_test_duration_count', {}), 1);
      // An SDK series (the readiness gauge) is still there.
      assert.equal(sampleValue(text, 'switchyard_ready', {}), 1);
    } finally {
      await telemetry.shutdown();
    }
  });
});
