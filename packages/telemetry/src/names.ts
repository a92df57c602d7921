// Span/metric attribute keys and metric names shared by every service, so dashboards and alerts
// (infra/grafana, infra/prometheus) can rely on one spelling. Only names some service records are
// here; a metric is added together with the code that records it. `MetricSpecs` is the one spec
// table (type, unit, description, attribute keys) docs and tests are generated/checked from.

/** Attribute keys for spans, metrics and structured logs. */
export const Attr = {
  /**
   * Region of an instance: a constant label on every series (from the resource), never a metric
   * attribute (a series would carry `switchyard_region` twice, which Prometheus rejects).
   */
  region: 'switchyard.region',
  /** Region a geodns answer points at (`""` when no region is healthy: NXDOMAIN/SERVFAIL). */
  dnsAnswerRegion: 'dns.answer.region',
  /** DNS response code of a geodns answer (e.g. `NOERROR`, `NXDOMAIN`). */
  dnsRcode: 'dns.rcode',
  /** Transport a geodns query came over: `udp` or `tcp`. */
  dnsTransport: 'dns.transport',
  /** Function ID of a call: one the control store knows, else `unknown` (bounded by deployed functions). */
  functionId: 'switchyard.function.id',
  /** Function version ID of a call: one the control store knows, else `unknown`. */
  versionId: 'switchyard.function.version.id',
  /** Outcome of a call: the gRPC status code (`0`..`16`, `cancelled` when none was sent) or HTTP status class (`2xx`). */
  outcome: 'switchyard.outcome',
  /** Dependency a connection metric is about: `nats` or `redis`. */
  dependency: 'switchyard.dependency',
  /** Why a worker tunnel closed: one of the tunnel package's `TUNNEL_CLOSE_REASONS` (bounded). */
  tunnelCloseReason: 'switchyard.tunnel.close.reason',
  /** HTTP status code a tunnel CONNECT was answered with (`200`, or a refusal's 4xx). */
  httpStatusCode: 'http.response.status_code',
  /**
   * Kind of a failure: for dependencies `no_responders`, `timeout` or `other`; for container calls
   * `unavailable` (no answer: not reachable, stream refused), `failed` (an HTTP container request
   * failed before its answer) or `reset` (the answer was cut off).
   */
  errorKind: 'switchyard.error.kind',
  /**
   * Operation on a dependency (bounded): NATS `kv_get`, `kv_put`, `kv_create`, `kv_update`,
   * `kv_delete`, `stream_publish`, `consumer_fetch`, `jetstream_api`, core requests by subject family
   * (`worker_reconnect`, `worker_evict`, `proxy_attach`, `result_exchange`, `request`); Redis command
   * names from a fixed list (else `other`).
   */
  operation: 'switchyard.operation',
  /** Whether a geodns query carried an EDNS Client Subnet option: `true` or `false`. */
  dnsEcs: 'dns.ecs',
} as const;
export type AttrKey = (typeof Attr)[keyof typeof Attr];

/**
 * Attributes copied from the resource onto every Prometheus series (so regions and replicas stay
 * apart); no metric may use one of these as its own attribute.
 */
export const CONSTANT_LABEL_ATTRS = ['service.name', 'service.instance.id', Attr.region] as const;

/** Metric names (OpenTelemetry spelling; Prometheus shows dots as underscores). */
export const MetricNames = {
  /** Observable gauge: sessions with client connections at a proxy, or held by a worker. */
  sessionsActive: 'switchyard.sessions.active',
  /** Observable gauge: open worker tunnels at a proxy or invocation service. */
  tunnelsActive: 'switchyard.tunnels.active',
  /** Observable gauge: HTTP requests in flight at an invocation service. */
  httpRequestsActive: 'switchyard.http.requests.active',
  /** Observable gauge: free session slots of a worker. */
  workerCapacityFree: 'switchyard.worker.capacity.free',
  /** Counter: DNS queries answered by geodns, by `dns.answer.region`, `dns.rcode` and `dns.transport`. */
  dnsQueries: 'switchyard.dns.queries',
  /** Observable gauge: 1 while the client connection to a dependency is up, else 0. */
  dependencyConnected: 'switchyard.dependency.connected',
  /** Observable counter: reconnects of the client connection to a dependency. */
  dependencyReconnects: 'switchyard.dependency.reconnects',
  /** Counter: client calls ended at a front end, by function, version and outcome. */
  calls: 'switchyard.calls',
  /** Histogram (ms, buckets 1 ms .. 30 min): client call durations at a front end, by function, version and outcome. */
  callDuration: 'switchyard.call.duration',
  /** Observable gauge: 1 while `/readyz` would answer 200, else 0. */
  ready: 'switchyard.ready',
  /** Counter: worker tunnels opened (CONNECT accepted) at a proxy or invocation service. */
  tunnelsOpened: 'switchyard.tunnels.opened',
  /** Counter: worker tunnels closed, by `switchyard.tunnel.close.reason`. */
  tunnelsClosed: 'switchyard.tunnels.closed',
  /** Histogram (s): age of a tunnel token when a CONNECT or NATS attach redeems it. */
  tunnelTokenAge: 'switchyard.tunnel.token.age.seconds',
  /** Counter: tunnel CONNECT requests answered, by `http.response.status_code`. */
  tunnelConnects: 'switchyard.tunnel.connects',
  /** Observable gauge: session slots of a worker in all, by function version. */
  workerCapacity: 'switchyard.worker.capacity',
  /** Observable gauge: session slots of a worker in use (sessions, HTTP holds, reservations), by function version. */
  workerCapacityUsed: 'switchyard.worker.capacity.used',
  /** Histogram (s, buckets 1 ms .. 30 min): calls a worker relayed to its container, by outcome. */
  containerCallDuration: 'switchyard.container.call.duration.seconds',
  /** Counter: container calls that failed on the container's side, by `switchyard.error.kind`. */
  containerErrors: 'switchyard.container.errors',
  /** Counter: sessions a worker ended because their reconnect window ran out. */
  workerReconnectExpiries: 'switchyard.worker.reconnect.expiries',
  /** Counter: dependency requests that got no answer, by dependency and `switchyard.error.kind`. */
  dependencyRequestErrors: 'switchyard.dependency.request.errors',
  /** Histogram (s): durations of dependency operations, by dependency and `switchyard.operation`. */
  dependencyOperationDuration: 'switchyard.dependency.operation.duration.seconds',
} as const;
export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];

/** Histogram buckets of call durations, ms: 1 ms to 30 min (long calls are normal). */
export const CALL_DURATION_BUCKETS_MS = [
  1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000,
  1_800_000,
] as const;

/** One row of {@link MetricSpecs}: what a metric is, for instrument creation, docs and tests. */
export interface MetricSpec {
  /** Instrument kind. */
  type: 'counter' | 'observableCounter' | 'observableGauge' | 'histogram';
  /** UCUM unit (`1` for counts, `ms` for durations). */
  unit: string;
  /** Meaning, shown as the Prometheus HELP text. */
  description: string;
  /** Attribute keys a measurement carries (besides the constant resource labels). */
  attributes: readonly AttrKey[];
  /** Services that record it. */
  services: readonly string[];
}

/** The spec table: every metric name with its type, unit, description and attributes. */
export const MetricSpecs: Record<MetricName, MetricSpec> = {
  [MetricNames.sessionsActive]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Sessions with client connections at this proxy, or held by this worker',
    attributes: [],
    services: ['grpc-proxy', 'worker'],
  },
  [MetricNames.tunnelsActive]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Open worker tunnels at this proxy or invocation service',
    attributes: [],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.httpRequestsActive]: {
    type: 'observableGauge',
    unit: '1',
    description: 'HTTP requests in flight at this invocation service',
    attributes: [],
    services: ['invocation'],
  },
  [MetricNames.workerCapacityFree]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Free session slots of this worker',
    attributes: [],
    services: ['worker'],
  },
  [MetricNames.dnsQueries]: {
    type: 'counter',
    unit: '1',
    description: 'DNS queries answered by geodns',
    attributes: [Attr.dnsAnswerRegion, Attr.dnsRcode, Attr.dnsTransport, Attr.dnsEcs],
    services: ['geodns'],
  },
  [MetricNames.dependencyConnected]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Whether the client connection to a dependency (NATS, Redis) is up: 1 or 0',
    attributes: [Attr.dependency],
    services: ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'],
  },
  [MetricNames.dependencyReconnects]: {
    type: 'observableCounter',
    unit: '1',
    description: 'Reconnects of the client connection to a dependency (NATS, Redis)',
    attributes: [Attr.dependency],
    services: ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'],
  },
  [MetricNames.calls]: {
    type: 'counter',
    unit: '1',
    description: 'Client calls ended at this front end, by function, version and outcome',
    attributes: [Attr.functionId, Attr.versionId, Attr.outcome],
    services: ['grpc-proxy'],
  },
  [MetricNames.callDuration]: {
    type: 'histogram',
    unit: 'ms',
    description: 'Duration of client calls at this front end (request headers to stream close)',
    attributes: [Attr.functionId, Attr.versionId, Attr.outcome],
    services: ['grpc-proxy'],
  },
  [MetricNames.ready]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Whether every readiness check of this instance passes (GET /readyz answers 200): 1 or 0',
    attributes: [],
    services: ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'],
  },
  [MetricNames.tunnelsOpened]: {
    type: 'counter',
    unit: '1',
    description: 'Worker tunnels opened (CONNECT accepted) at this proxy or invocation service',
    attributes: [],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.tunnelsClosed]: {
    type: 'counter',
    unit: '1',
    description:
      'Worker tunnels closed, by reason (ping_timeout, goaway_received, error, closed_locally, destroyed_locally, replaced, connection_closed)',
    attributes: [Attr.tunnelCloseReason],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.tunnelTokenAge]: {
    type: 'histogram',
    unit: 's',
    description: 'Age of a tunnel token when a CONNECT or NATS attach redeems it',
    attributes: [],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.tunnelConnects]: {
    type: 'counter',
    unit: '1',
    description: 'Tunnel CONNECT requests answered, by HTTP status code (200 accepted, 4xx refused)',
    attributes: [Attr.httpStatusCode],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.workerCapacity]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Session slots of this worker in all (its concurrency), by function version',
    attributes: [Attr.versionId],
    services: ['worker'],
  },
  [MetricNames.workerCapacityUsed]: {
    type: 'observableGauge',
    unit: '1',
    description:
      'Session slots of this worker in use (sessions, HTTP requests, tickets being taken), by function version',
    attributes: [Attr.versionId],
    services: ['worker'],
  },
  [MetricNames.containerCallDuration]: {
    type: 'histogram',
    unit: 's',
    description: 'Duration of calls this worker relayed to its function container, by outcome',
    attributes: [Attr.outcome],
    services: ['worker'],
  },
  [MetricNames.containerErrors]: {
    type: 'counter',
    unit: '1',
    description: 'Container calls that failed on the container side, by kind (unavailable, failed, reset)',
    attributes: [Attr.errorKind],
    services: ['worker'],
  },
  [MetricNames.workerReconnectExpiries]: {
    type: 'counter',
    unit: '1',
    description: 'Sessions this worker ended because their reconnect window ran out',
    attributes: [],
    services: ['worker'],
  },
  [MetricNames.dependencyRequestErrors]: {
    type: 'counter',
    unit: '1',
    description: 'Dependency (NATS, Redis) requests that got no answer, by kind (no_responders, timeout, other)',
    attributes: [Attr.dependency, Attr.errorKind],
    services: ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'],
  },
  [MetricNames.dependencyOperationDuration]: {
    type: 'histogram',
    unit: 's',
    description:
      'Duration of dependency operations (NATS KV, stream publish, consumer fetch, requests; Redis commands)',
    attributes: [Attr.dependency, Attr.operation],
    services: ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'],
  },
};
