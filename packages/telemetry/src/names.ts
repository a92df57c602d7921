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
  /** Where a resumed session was found: {@link ResumeSource}. */
  resumeSource: 'switchyard.resume.source',
  /** How a resume lookup ended: {@link ResumeResult}. */
  resumeResult: 'switchyard.resume.result',
  /** How an allocation (a ticket for a worker) ended: {@link AllocationResult}. */
  allocationResult: 'switchyard.allocation.result',
  /** Why a front end refused a request: {@link RejectionReason}. */
  rejectionReason: 'switchyard.rejection.reason',
  /**
   * Protocol: of a client connection at a front end, {@link ClientProtocol}; of a call a worker relayed
   * to its container, {@link ContainerProtocol}.
   */
  protocol: 'switchyard.protocol',
  /** How a G13 `X-NVCF-ABSORB` / `DELETE` request ended: {@link AbsorbResult}. */
  absorbResult: 'switchyard.absorb.result',
  /** What a status poll answered: {@link PollResult}. */
  pollResult: 'switchyard.poll.result',
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
  /** Region a heartbeat series is about (geodns sees every region's heartbeats; its own region is `global`). */
  heartbeatRegion: 'switchyard.heartbeat.region',
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
  /**
   * Histogram (s, buckets 1 ms .. 30 min): client call durations at a front end, by function, version and
   * outcome. The Prometheus exporter does not append units, so the unit is spelled in the name.
   */
  callDuration: 'switchyard.call.duration.seconds',
  /** Observable gauge: 1 while `/readyz` would answer 200, else 0. */
  ready: 'switchyard.ready',
  /** Histogram (s): new session request to worker attached, at a gRPC proxy, by function and version. */
  sessionInitDuration: 'switchyard.session.init.duration.seconds',
  /** Histogram (s): resume lookups (and attach) at a gRPC proxy, by resume source and result. */
  sessionResumeDuration: 'switchyard.session.resume.duration.seconds',
  /** Counter: allocations (tickets for a worker) ended at a front end, by function, version and result. */
  allocations: 'switchyard.allocations',
  /** Observable gauge: allocations of a version waiting for a worker at this front end. */
  ticketsQueued: 'switchyard.tickets.queued',
  /** Histogram (s): time from a ticket's publication to its end (attach, timeout, caller gone). */
  ticketWaitDuration: 'switchyard.ticket.wait.duration.seconds',
  /** Counter: requests a front end refused because a limit was reached, by reason. */
  rejections: 'switchyard.rejections',
  /** Counter: client connections opened at a front end, by protocol. */
  clientConnections: 'switchyard.client.connections',
  /** UpDownCounter (a gauge in Prometheus): client connections open at a front end, by protocol. */
  clientConnectionsActive: 'switchyard.client.connections.active',
  /** Counter: G13 absorb requests (`X-NVCF-ABSORB` pre-allocation, `DELETE`) at a gRPC proxy, by result. */
  absorbs: 'switchyard.absorbs',
  /** Counter: invocations answered 202 (result kept for a status poll), by function and version. */
  resultsAccepted: 'switchyard.results.accepted',
  /** Counter: status polls (`GET /v2/nvcf/pexec/status/{id}`) answered, by result. */
  statusPolls: 'switchyard.status.polls',
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
  /** Histogram (s, buckets 1 ms .. 30 min): calls a worker relayed to its container, by protocol and outcome. */
  containerCallDuration: 'switchyard.container.call.duration.seconds',
  /** Counter: container calls that failed on the container's side, by protocol and `switchyard.error.kind`. */
  containerErrors: 'switchyard.container.errors',
  /** Counter: sessions a worker ended because their reconnect window ran out. */
  workerReconnectExpiries: 'switchyard.worker.reconnect.expiries',
  /** Counter: dependency requests that got no answer, by dependency and `switchyard.error.kind`. */
  dependencyRequestErrors: 'switchyard.dependency.request.errors',
  /** Histogram (s): durations of dependency operations, by dependency and `switchyard.operation`. */
  dependencyOperationDuration: 'switchyard.dependency.operation.duration.seconds',
  /** Observable gauge: 1 while some gRPC proxy or invocation instance of a region heart-beats (D2), else 0, as geodns sees it. */
  regionHealthy: 'switchyard.region.healthy',
  /** Observable gauge (s): time since the latest heartbeat of any instance of a region arrived at geodns. */
  regionHeartbeatAge: 'switchyard.region.heartbeat.age.seconds',
} as const;
export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];

/** Histogram buckets of call durations, seconds: 1 ms to 30 min (long calls are normal). */
export const CALL_DURATION_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1_800,
] as const;

/** Histogram buckets of short waits (session init, resume, ticket wait), seconds: 1 ms to 60 s. */
export const WAIT_DURATION_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;

/**
 * Call outcomes of gRPC calls initialised with a 0 sample per deployed version (OK and the codes the
 * error-ratio alerts look at); any other code appears when it first happens.
 */
export const GRPC_OUTCOMES_INITIALISED = ['0', '4', '8', '13', '14'] as const;
/** Call outcomes of HTTP calls (status class, or `cancelled` when no status was sent). */
export const HTTP_OUTCOMES = ['2xx', '3xx', '4xx', '5xx', 'cancelled'] as const;

/** Values of {@link Attr.resumeSource}: held by this proxy, found in this region's directory, or in another region's. */
export const ResumeSource = { local: 'local', replica: 'replica', region: 'region' } as const;
export type ResumeSource = (typeof ResumeSource)[keyof typeof ResumeSource];
/** Values of {@link Attr.resumeResult}. */
export const ResumeResult = { found: 'found', notFound: 'not_found', error: 'error' } as const;
export type ResumeResult = (typeof ResumeResult)[keyof typeof ResumeResult];
/**
 * Values of {@link Attr.allocationResult}: a worker attached; the deadline passed; the version's bound
 * here was reached (S4); the key's rate limit refused it; the caller went away; anything else.
 */
export const AllocationResult = {
  assigned: 'assigned',
  timeout: 'timeout',
  queueFull: 'queue_full',
  rateLimited: 'rate_limited',
  cancelled: 'cancelled',
  error: 'error',
} as const;
export type AllocationResult = (typeof AllocationResult)[keyof typeof AllocationResult];
/** Values of {@link Attr.rejectionReason}. */
export const RejectionReason = {
  queueFull: 'queue_full',
  rateLimited: 'rate_limited',
  keyConnectionsExceeded: 'key_connections_exceeded',
  keySessionsExceeded: 'key_sessions_exceeded',
  keyWebSocketsExceeded: 'key_websockets_exceeded',
  keyRequestsExceeded: 'key_requests_exceeded',
  shuttingDown: 'shutting_down',
} as const;
export type RejectionReason = (typeof RejectionReason)[keyof typeof RejectionReason];
/** The error catalogue codes that are rejections, and their {@link RejectionReason}. */
export const REJECTION_BY_ERROR_CODE: Readonly<Record<string, RejectionReason>> = {
  SY_QUEUE_FULL: RejectionReason.queueFull,
  SY_RATE_LIMITED: RejectionReason.rateLimited,
  SY_KEY_CONNECTIONS_EXCEEDED: RejectionReason.keyConnectionsExceeded,
  SY_KEY_SESSIONS_EXCEEDED: RejectionReason.keySessionsExceeded,
  SY_KEY_WEBSOCKETS_EXCEEDED: RejectionReason.keyWebSocketsExceeded,
  SY_KEY_REQUESTS_EXCEEDED: RejectionReason.keyRequestsExceeded,
  SY_SHUTTING_DOWN: RejectionReason.shuttingDown,
};
/** Values of {@link Attr.protocol}: HTTP/2 (gRPC, h2c or TLS), HTTP/1.1, upgraded WebSocket. */
export const ClientProtocol = { h2: 'h2', http1: 'http1', websocket: 'websocket' } as const;
export type ClientProtocol = (typeof ClientProtocol)[keyof typeof ClientProtocol];
/**
 * Values of {@link Attr.protocol} on container series: a gRPC call, an HTTP request (h2c or HTTP/1.1
 * container), a client WebSocket relayed as an HTTP/1.1 Upgrade (G12).
 */
export const ContainerProtocol = { grpc: 'grpc', http: 'http', websocket: 'websocket' } as const;
export type ContainerProtocol = (typeof ContainerProtocol)[keyof typeof ContainerProtocol];
/** Values of {@link Attr.absorbResult}: a session pre-allocated; a session ended; not found; any other error. */
export const AbsorbResult = { allocated: 'allocated', ended: 'ended', notFound: 'not_found', error: 'error' } as const;
export type AbsorbResult = (typeof AbsorbResult)[keyof typeof AbsorbResult];
/**
 * Values of {@link Attr.pollResult}: the stored result was sent; still running (202); no region has it
 * (404); it was lost (500); the poll itself failed (auth, store or region unavailable).
 */
export const PollResult = {
  fulfilled: 'fulfilled',
  pending: 'pending',
  notFound: 'not_found',
  lost: 'lost',
  errored: 'errored',
} as const;
export type PollResult = (typeof PollResult)[keyof typeof PollResult];

/** One row of {@link MetricSpecs}: what a metric is, for instrument creation, docs and tests. */
export interface MetricSpec {
  /** Instrument kind. */
  type: 'counter' | 'observableCounter' | 'observableGauge' | 'upDownCounter' | 'histogram';
  /** UCUM unit (`1` for counts, `s` for durations). */
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
  [MetricNames.regionHealthy]: {
    type: 'observableGauge',
    unit: '1',
    description:
      'Whether a configured region is healthy as this geodns sees it (some gRPC proxy or invocation instance heart-beats, D2): 1 or 0',
    attributes: [Attr.heartbeatRegion],
    services: ['geodns'],
  },
  [MetricNames.regionHeartbeatAge]: {
    type: 'observableGauge',
    unit: 's',
    description:
      "Time since the latest heartbeat of any of a region's instances arrived at this geodns (only while one is live)",
    attributes: [Attr.heartbeatRegion],
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
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.callDuration]: {
    type: 'histogram',
    unit: 's',
    description: 'Duration of client calls at this front end (request headers to stream or response close)',
    attributes: [Attr.functionId, Attr.versionId, Attr.outcome],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.ready]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Whether every readiness check of this instance passes (GET /readyz answers 200): 1 or 0',
    attributes: [],
    services: ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'],
  },
  [MetricNames.sessionInitDuration]: {
    type: 'histogram',
    unit: 's',
    description: 'New session request to worker attached at this gRPC proxy (successful allocations)',
    attributes: [Attr.functionId, Attr.versionId],
    services: ['grpc-proxy'],
  },
  [MetricNames.sessionResumeDuration]: {
    type: 'histogram',
    unit: 's',
    description: 'Resume by request ID at this gRPC proxy (lookup and attach), by where it was found and result',
    attributes: [Attr.resumeSource, Attr.resumeResult],
    services: ['grpc-proxy'],
  },
  [MetricNames.allocations]: {
    type: 'counter',
    unit: '1',
    description: 'Allocations (a ticket for a worker) ended at this front end, by function, version and result',
    attributes: [Attr.functionId, Attr.versionId, Attr.allocationResult],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.ticketsQueued]: {
    type: 'observableGauge',
    unit: '1',
    description: 'Allocations of a version waiting for a worker at this front end (counted against its queue bound)',
    attributes: [Attr.functionId, Attr.versionId],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.ticketWaitDuration]: {
    type: 'histogram',
    unit: 's',
    description: "Time from a ticket's publication to a worker's attach, the deadline or the caller giving up",
    attributes: [Attr.functionId, Attr.versionId],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.rejections]: {
    type: 'counter',
    unit: '1',
    description: 'Requests this front end refused because a limit was reached, by reason',
    attributes: [Attr.rejectionReason],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.clientConnections]: {
    type: 'counter',
    unit: '1',
    description:
      'Client connections opened at this front end, by protocol (an upgraded WebSocket also counts as http1)',
    attributes: [Attr.protocol],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.clientConnectionsActive]: {
    type: 'upDownCounter',
    unit: '1',
    description: 'Client connections open at this front end, by protocol (an upgraded WebSocket also counts as http1)',
    attributes: [Attr.protocol],
    services: ['grpc-proxy', 'invocation'],
  },
  [MetricNames.absorbs]: {
    type: 'counter',
    unit: '1',
    description: 'G13 requests (X-NVCF-ABSORB pre-allocation, DELETE of a session) at this gRPC proxy, by result',
    attributes: [Attr.absorbResult],
    services: ['grpc-proxy'],
  },
  [MetricNames.resultsAccepted]: {
    type: 'counter',
    unit: '1',
    description: 'Invocations answered 202 at this instance (result kept for a status poll), by function and version',
    attributes: [Attr.functionId, Attr.versionId],
    services: ['invocation'],
  },
  [MetricNames.statusPolls]: {
    type: 'counter',
    unit: '1',
    description: 'Status polls answered at this instance, by result',
    attributes: [Attr.pollResult],
    services: ['invocation'],
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
    description:
      'Duration of calls this worker relayed to its function container, by protocol (grpc, http, websocket) and outcome (a WebSocket: its handshake answer class, 1xx once switched, for as long as it stays open)',
    attributes: [Attr.protocol, Attr.outcome],
    services: ['worker'],
  },
  [MetricNames.containerErrors]: {
    type: 'counter',
    unit: '1',
    description:
      'Container calls that failed on the container side, by protocol (grpc, http, websocket) and kind (unavailable, failed, reset)',
    attributes: [Attr.protocol, Attr.errorKind],
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
