// Small recorders the packages that own tunnels and dependencies are given (the tunnel listener, the
// NATS and Redis hooks), so they stay free of the OpenTelemetry SDK: each is a plain object of methods
// whose shape the owning package declares. Attribute objects are made once per label value and
// reused, so recording allocates nothing per call.

import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api';
import { Attr, CALL_DURATION_BUCKETS_SECONDS, ContainerProtocol, MetricNames, MetricSpecs } from './names.ts';

/** Buckets of dependency operation durations (s): 0.5 ms to 10 s. */
const DEPENDENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Buckets of tunnel token ages (s): 5 ms to 10 min (a NATS attach may redeem a token as late as its ticket waits). */
const TOKEN_AGE_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/** Buckets of container call durations (s): the call-duration buckets, 1 ms to 30 min. */
const CALL_BUCKETS_S = [...CALL_DURATION_BUCKETS_SECONDS];

/** Description and unit of a metric, from its spec row. */
function specOf(name: keyof typeof MetricSpecs): { description: string; unit: string } {
  return { description: MetricSpecs[name].description, unit: MetricSpecs[name].unit };
}

/**
 * Attribute objects by label value, made once each: `get(v)` returns the same frozen `{ [key]: v }` for
 * the same `v`. Values must come from a bounded set (the caller's job).
 */
function attrCache(key: string, base: Attributes = {}): (value: string) => Attributes {
  const cache = new Map<string, Attributes>();
  return (value) => {
    let attrs = cache.get(value);
    if (attrs === undefined) {
      attrs = Object.freeze({ ...base, [key]: value });
      cache.set(value, attrs);
    }
    return attrs;
  };
}

/** What the tunnel listener reports (the shape `TunnelRecorder` of @switchyard/tunnel). */
export interface TunnelMetricsRecorder {
  /** A tunnel was opened (CONNECT accepted). */
  opened(): void;
  /** A tunnel closed; `reason` is one of the known close reasons. */
  closed(reason: string): void;
  /** A CONNECT was answered with `status`. */
  connectAnswered(status: number): void;
  /** A token was redeemed `ageMs` after it was issued. */
  tokenUsed(ageMs: number): void;
}

/**
 * Records the tunnel series (`switchyard.tunnels.opened`, `.closed`, `switchyard.tunnel.token.age.seconds`,
 * `switchyard.tunnel.connects`) on `meter`. Every close reason and CONNECT status in `known` starts at 0
 * (so `absent()` and `rate()` work from the first scrape).
 * @param known the bounded label values known at start: close reasons, CONNECT status codes.
 */
export function createTunnelRecorder(
  meter: Meter,
  known: { closeReasons: readonly string[]; connectStatuses: readonly number[] },
): TunnelMetricsRecorder {
  const opened = meter.createCounter(MetricNames.tunnelsOpened, specOf(MetricNames.tunnelsOpened));
  const closed = meter.createCounter(MetricNames.tunnelsClosed, specOf(MetricNames.tunnelsClosed));
  const connects = meter.createCounter(MetricNames.tunnelConnects, specOf(MetricNames.tunnelConnects));
  const tokenAge = meter.createHistogram(MetricNames.tunnelTokenAge, {
    ...specOf(MetricNames.tunnelTokenAge),
    advice: { explicitBucketBoundaries: TOKEN_AGE_BUCKETS_S },
  });
  const reasonAttrs = attrCache(Attr.tunnelCloseReason);
  const statusAttrs = attrCache(Attr.httpStatusCode);
  opened.add(0);
  for (const reason of known.closeReasons) closed.add(0, reasonAttrs(reason));
  for (const status of known.connectStatuses) connects.add(0, statusAttrs(String(status)));
  return {
    opened: () => opened.add(1),
    closed: (reason) => closed.add(1, reasonAttrs(reason)),
    connectAnswered: (status) => connects.add(1, statusAttrs(String(status))),
    tokenUsed: (ageMs) => tokenAge.record(Math.max(0, ageMs) / 1000),
  };
}

/** Kinds of a dependency request that got no answer. */
export const DEPENDENCY_ERROR_KINDS = ['no_responders', 'timeout', 'other'] as const;

/** What the NATS and Redis hooks report (the shape `DependencyOperationRecorder` of @switchyard/nats-errors). */
export interface DependencyMetricsRecorder {
  /**
   * One operation finished.
   * @param operation bounded operation name (`kv_get`, `stream_publish`, a Redis command...).
   * @param seconds its duration.
   * @param error the kind of failure when it got no answer, else undefined.
   */
  operation(operation: string, seconds: number, error: (typeof DEPENDENCY_ERROR_KINDS)[number] | undefined): void;
}

/** The two dependency instruments of a meter, created once per meter (NATS and Redis share them). */
const dependencyInstruments = new WeakMap<Meter, { errors: Counter; duration: Histogram }>();

/**
 * Records `switchyard.dependency.request.errors` and `switchyard.dependency.operation.duration.seconds`
 * for `dependency` on `meter`; every error kind starts at 0.
 * @param dependency `nats` or `redis` (the `switchyard.dependency` label).
 */
export function createDependencyRecorder(meter: Meter, dependency: 'nats' | 'redis'): DependencyMetricsRecorder {
  let instruments = dependencyInstruments.get(meter);
  if (instruments === undefined) {
    instruments = {
      errors: meter.createCounter(MetricNames.dependencyRequestErrors, specOf(MetricNames.dependencyRequestErrors)),
      duration: meter.createHistogram(MetricNames.dependencyOperationDuration, {
        ...specOf(MetricNames.dependencyOperationDuration),
        advice: { explicitBucketBoundaries: DEPENDENCY_BUCKETS_S },
      }),
    };
    dependencyInstruments.set(meter, instruments);
  }
  const { errors, duration } = instruments;
  const base = { [Attr.dependency]: dependency };
  const kindAttrs = attrCache(Attr.errorKind, base);
  const operationAttrs = attrCache(Attr.operation, base);
  for (const kind of DEPENDENCY_ERROR_KINDS) errors.add(0, kindAttrs(kind));
  return {
    operation(operation, seconds, error) {
      duration.record(seconds, operationAttrs(operation));
      if (error !== undefined) errors.add(1, kindAttrs(error));
    },
  };
}

/** Kinds of a failed container call. */
export const CONTAINER_ERROR_KINDS = ['unavailable', 'failed', 'reset'] as const;

/** What a worker reports about its container calls and sessions. */
export interface WorkerMetricsRecorder {
  /**
   * A call relayed to the container ended.
   * @param protocol `grpc`, `http` or `websocket` ({@link ContainerProtocol}).
   * @param outcome gRPC status code (`0`..`16`), HTTP status class (`1xx`..`5xx`; `1xx` for a switched
   *   WebSocket) or `cancelled`.
   * @param seconds its duration.
   * @param error the kind of container failure, if it failed on the container's side.
   */
  containerCall(
    protocol: ContainerProtocol,
    outcome: string,
    seconds: number,
    error: (typeof CONTAINER_ERROR_KINDS)[number] | undefined,
  ): void;
  /** A session's reconnect window ran out (the session ended). */
  reconnectWindowExpired(): void;
}

/**
 * Records the worker series on `meter`: capacity total/used of `versionId` (observed from `capacity`),
 * container call durations and errors by protocol (every protocol and kind starts at 0), reconnect-window
 * expiries (starts at 0).
 * @param capacity live capacity: `total` slots and `used` ones.
 */
export function createWorkerRecorder(
  meter: Meter,
  versionId: string,
  capacity: { total(): number; used(): number },
): WorkerMetricsRecorder {
  const versionAttrs = Object.freeze({ [Attr.versionId]: versionId });
  meter
    .createObservableGauge(MetricNames.workerCapacity, specOf(MetricNames.workerCapacity))
    .addCallback((r) => r.observe(capacity.total(), versionAttrs));
  meter
    .createObservableGauge(MetricNames.workerCapacityUsed, specOf(MetricNames.workerCapacityUsed))
    .addCallback((r) => r.observe(capacity.used(), versionAttrs));
  const duration = meter.createHistogram(MetricNames.containerCallDuration, {
    ...specOf(MetricNames.containerCallDuration),
    advice: { explicitBucketBoundaries: CALL_BUCKETS_S },
  });
  const errors = meter.createCounter(MetricNames.containerErrors, specOf(MetricNames.containerErrors));
  const expiries = meter.createCounter(
    MetricNames.workerReconnectExpiries,
    specOf(MetricNames.workerReconnectExpiries),
  );
  const protocols = Object.values(ContainerProtocol);
  const outcomeAttrs = new Map(protocols.map((p) => [p, attrCache(Attr.outcome, { [Attr.protocol]: p })]));
  const kindAttrs = new Map(protocols.map((p) => [p, attrCache(Attr.errorKind, { [Attr.protocol]: p })]));
  for (const p of protocols) for (const kind of CONTAINER_ERROR_KINDS) errors.add(0, kindAttrs.get(p)?.(kind));
  expiries.add(0);
  return {
    containerCall(protocol, outcome, seconds, error) {
      duration.record(seconds, outcomeAttrs.get(protocol)?.(outcome));
      if (error !== undefined) errors.add(1, kindAttrs.get(protocol)?.(error));
    },
    reconnectWindowExpired: () => expiries.add(1),
  };
}
