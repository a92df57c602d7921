// The synchronous instruments of a service instance (counters, up-down counters, histograms) aggregate
// here, in place, and reach the Prometheus exporter as a MetricProducer (issue 9: CPU per call).
//
// Why not the SDK's own instruments: sdk-metrics hashes the attribute set on every add() and record()
// (`hashAttributes`, a sort and a JSON string) to find its accumulation, ~1-2 us per measurement; a call
// records several (calls, call duration, container call, dependency operations). Our attribute objects
// are made once per label value and reused, so a data point is found by the object's identity (a
// WeakMap lookup); an attribute object seen for the first time is hashed once, like the SDK does every
// time, so a caller passing fresh objects still lands on the same data point. What Prometheus reads is
// the same: the same names, descriptions, units, types, label sets, bucket bounds and values as the
// SDK's cumulative sum and explicit-bucket histogram aggregations would give (test/accumulating-meter).
// Observable instruments stay with the SDK meter (their callbacks run at collection either way).

import {
  type Attributes,
  type BatchObservableCallback,
  type Counter,
  diag,
  type Gauge,
  type Histogram,
  type HrTime,
  type Meter,
  type MetricOptions,
  type Observable,
  type ObservableCounter,
  type ObservableGauge,
  type ObservableUpDownCounter,
  type UpDownCounter,
  ValueType,
} from '@opentelemetry/api';
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type MetricData,
  type MetricProducer,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';

/** The SDK's default explicit bucket bounds, for a histogram created without `advice`. */
const SDK_DEFAULT_BOUNDARIES = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

const EMPTY_ATTRIBUTES: Attributes = Object.freeze({});

/** Wall-clock time as OpenTelemetry's `[seconds, nanoseconds]`. */
function hrNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

/** The SDK's identity of an attribute set: its entries sorted by key (as `hashAttributes`). */
function attributesKey(attributes: Attributes): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Data points of one instrument by attribute set: found by the attribute object's identity, or on the
 * first sight of an object by its sorted entries (so equal sets share one point whatever object carries
 * them).
 */
class PointTable<P> {
  readonly #byObject = new WeakMap<Attributes, P>();
  readonly #byKey = new Map<string, { attributes: Attributes; point: P }>();
  readonly #make: () => P;

  /** @param make a new, empty data point. */
  constructor(make: () => P) {
    this.#make = make;
  }

  /** The data point of `attributes` (`undefined`: the empty set), made on first use. */
  get(attributes: Attributes | undefined): P {
    const attrs = attributes ?? EMPTY_ATTRIBUTES;
    const found = this.#byObject.get(attrs);
    if (found !== undefined) return found;
    const key = attributesKey(attrs);
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      entry = { attributes: { ...attrs }, point: this.#make() };
      this.#byKey.set(key, entry);
    }
    this.#byObject.set(attrs, entry.point);
    return entry.point;
  }

  /** Every data point with a copy of its attribute set, in order of first use. */
  entries(): Iterable<{ attributes: Attributes; point: P }> {
    return this.#byKey.values();
  }

  /** Whether no measurement was taken yet. */
  get empty(): boolean {
    return this.#byKey.size === 0;
  }
}

/** An instrument this meter aggregates; `collect()` gives its cumulative MetricData, or undefined when empty. */
interface Accumulated {
  collect(startTime: HrTime, endTime: HrTime): MetricData | undefined;
}

/** Description, unit and value type of an instrument, as the SDK's descriptor keeps them. */
function descriptorOf(name: string, options: MetricOptions | undefined) {
  return {
    name,
    description: options?.description ?? '',
    unit: options?.unit ?? '',
    valueType: options?.valueType ?? ValueType.DOUBLE,
  };
}

/** A value as the SDK's `_record` takes it: a number, truncated for INT instruments; undefined to drop. */
function admit(name: string, value: number, valueType: ValueType): number | undefined {
  if (typeof value !== 'number') {
    diag.warn(`non-number value provided to metric ${name}: ${value}`);
    return undefined;
  }
  if (valueType === ValueType.INT && !Number.isInteger(value)) {
    const truncated = Math.trunc(value);
    return Number.isInteger(truncated) ? truncated : undefined;
  }
  return value;
}

/** A counter or up-down counter: a cumulative sum per attribute set. */
class AccumulatedSum implements Counter, UpDownCounter, Accumulated {
  readonly #descriptor: ReturnType<typeof descriptorOf>;
  readonly #monotonic: boolean;
  readonly #points = new PointTable<{ value: number }>(() => ({ value: 0 }));

  /**
   * @param monotonic true for a counter (negative values are dropped with a warning, as the SDK does).
   */
  constructor(name: string, options: MetricOptions | undefined, monotonic: boolean) {
    this.#descriptor = descriptorOf(name, options);
    this.#monotonic = monotonic;
  }

  /** Adds `value` to the sum of `attributes`. */
  add(value: number, attributes?: Attributes): void {
    if (this.#monotonic && value < 0) {
      diag.warn(`negative value provided to counter ${this.#descriptor.name}: ${value}`);
      return;
    }
    const v = admit(this.#descriptor.name, value, this.#descriptor.valueType);
    if (v === undefined) return;
    this.#points.get(attributes).value += v;
  }

  collect(startTime: HrTime, endTime: HrTime): MetricData | undefined {
    if (this.#points.empty) return undefined;
    const dataPoints: DataPoint<number>[] = [];
    for (const { attributes, point } of this.#points.entries())
      dataPoints.push({ startTime, endTime, attributes, value: point.value });
    return {
      descriptor: this.#descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      dataPoints,
      isMonotonic: this.#monotonic,
    };
  }
}

/** One histogram data point: counts per bucket (bounds.length + 1), sum, count, min, max. */
interface HistogramPoint {
  counts: number[];
  sum: number;
  count: number;
  min: number;
  max: number;
}

/** A histogram with explicit bucket bounds (`advice.explicitBucketBoundaries`, else the SDK's default). */
class AccumulatedHistogram implements Histogram, Accumulated {
  readonly #descriptor: ReturnType<typeof descriptorOf>;
  readonly #bounds: number[];
  readonly #points: PointTable<HistogramPoint>;

  constructor(name: string, options: MetricOptions | undefined) {
    this.#descriptor = descriptorOf(name, options);
    // As the SDK's ExplicitBucketHistogramAggregation: sorted, without the infinities.
    const advised = options?.advice?.explicitBucketBoundaries ?? SDK_DEFAULT_BOUNDARIES;
    this.#bounds = [...advised].sort((a, b) => a - b).filter((b) => b !== -Infinity && b !== Infinity);
    const buckets = this.#bounds.length + 1;
    this.#points = new PointTable(() => ({
      counts: new Array<number>(buckets).fill(0),
      sum: 0,
      count: 0,
      min: Infinity,
      max: -Infinity,
    }));
  }

  /** Records `value` (negative values are dropped with a warning, NaN ignored, as the SDK does). */
  record(value: number, attributes?: Attributes): void {
    if (value < 0) {
      diag.warn(`negative value provided to histogram ${this.#descriptor.name}: ${value}`);
      return;
    }
    const v = admit(this.#descriptor.name, value, this.#descriptor.valueType);
    if (v === undefined || Number.isNaN(v)) return;
    const point = this.#points.get(attributes);
    point.count += 1;
    point.sum += v;
    if (v < point.min) point.min = v;
    if (v > point.max) point.max = v;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]) i++;
    point.counts[i] += 1;
  }

  collect(startTime: HrTime, endTime: HrTime): MetricData | undefined {
    if (this.#points.empty) return undefined;
    const dataPoints = [];
    for (const { attributes, point } of this.#points.entries()) {
      dataPoints.push({
        startTime,
        endTime,
        attributes,
        value: {
          buckets: { boundaries: this.#bounds, counts: [...point.counts] },
          sum: point.sum,
          count: point.count,
          min: point.min,
          max: point.max,
        },
      });
    }
    return {
      descriptor: this.#descriptor,
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints,
    };
  }
}

/**
 * A Meter of one service instance whose counters, up-down counters and histograms aggregate in place
 * (no attribute hashing per measurement) and are read through {@link AccumulatingMeter.producer} by the
 * instance's Prometheus exporter; gauges and observable instruments are the SDK meter's. Creating an
 * instrument twice under one name returns the first (the SDK shares the storage likewise).
 */
export class AccumulatingMeter implements Meter {
  readonly #sdk: () => Meter;
  readonly #scopeName: string;
  readonly #instruments = new Map<string, Accumulated>();
  readonly #startTime = hrNow();

  /**
   * @param scopeName the instrumentation scope the data is reported under (the SDK meter's name, so the
   *   `otel_scope_name` label is the same).
   * @param sdk the SDK meter of the instance's MeterProvider (gauges, observables), asked for when such
   *   an instrument is created (the provider's reader is made with {@link producer} first).
   */
  constructor(scopeName: string, sdk: () => Meter) {
    this.#sdk = sdk;
    this.#scopeName = scopeName;
  }

  createCounter(name: string, options?: MetricOptions): Counter {
    return this.#register(name, () => new AccumulatedSum(name, options, true)) as AccumulatedSum;
  }

  createUpDownCounter(name: string, options?: MetricOptions): UpDownCounter {
    return this.#register(name, () => new AccumulatedSum(name, options, false)) as AccumulatedSum;
  }

  createHistogram(name: string, options?: MetricOptions): Histogram {
    return this.#register(name, () => new AccumulatedHistogram(name, options)) as AccumulatedHistogram;
  }

  createGauge(name: string, options?: MetricOptions): Gauge {
    return this.#sdk().createGauge(name, options);
  }

  createObservableGauge(name: string, options?: MetricOptions): ObservableGauge {
    return this.#sdk().createObservableGauge(name, options);
  }

  createObservableCounter(name: string, options?: MetricOptions): ObservableCounter {
    return this.#sdk().createObservableCounter(name, options);
  }

  createObservableUpDownCounter(name: string, options?: MetricOptions): ObservableUpDownCounter {
    return this.#sdk().createObservableUpDownCounter(name, options);
  }

  addBatchObservableCallback(callback: BatchObservableCallback, observables: Observable[]): void {
    this.#sdk().addBatchObservableCallback(callback, observables);
  }

  removeBatchObservableCallback(callback: BatchObservableCallback, observables: Observable[]): void {
    this.#sdk().removeBatchObservableCallback(callback, observables);
  }

  /**
   * The MetricProducer a metric reader (the Prometheus exporter's `metricProducers`) collects this
   * meter's instruments with: cumulative sums and histograms, one scope, instruments with no
   * measurement left out (as the SDK does). Its `resource` is a placeholder: a reader reports its
   * producers under the SDK's resource.
   */
  readonly producer: MetricProducer = {
    collect: async (): Promise<CollectionResult> => {
      const endTime = hrNow();
      const metrics: MetricData[] = [];
      for (const instrument of this.#instruments.values()) {
        const data = instrument.collect(this.#startTime, endTime);
        if (data !== undefined) metrics.push(data);
      }
      const resourceMetrics = {
        resource: undefined as unknown as ResourceMetrics['resource'],
        scopeMetrics: metrics.length === 0 ? [] : [{ scope: { name: this.#scopeName }, metrics }],
      };
      return { resourceMetrics, errors: [] };
    },
  };

  #register(name: string, make: () => Accumulated): Accumulated {
    let instrument = this.#instruments.get(name);
    if (instrument === undefined) {
      instrument = make();
      this.#instruments.set(name, instrument);
    }
    return instrument;
  }
}
