// Span/metric attribute keys and metric names shared by every service, so dashboards and alerts
// (infra/grafana, infra/prometheus) can rely on one spelling.

/** Attribute keys for spans, metrics and structured logs. */
export const Attr = {
  sessionId: 'switchyard.session.id',
  region: 'switchyard.region',
  functionId: 'switchyard.function.id',
  versionId: 'switchyard.function.version.id',
  workerId: 'switchyard.worker.id',
  proxyId: 'switchyard.proxy.id',
  grpcStatus: 'rpc.grpc.status_code',
  outcome: 'switchyard.outcome',
} as const;
export type AttrKey = (typeof Attr)[keyof typeof Attr];

/** Metric names (OpenTelemetry spelling; Prometheus shows dots as underscores). */
export const MetricNames = {
  /** UpDownCounter: sessions currently bound to a worker. */
  sessionsActive: 'switchyard.sessions.active',
  /** Counter: new sessions allocated (a ticket was taken). */
  sessionsAllocated: 'switchyard.sessions.allocated',
  /** Counter: sessions resumed by request ID (same or other region). */
  sessionsResumed: 'switchyard.sessions.resumed',
  /** Counter: calls (gRPC streams, HTTP invocations), by outcome. */
  calls: 'switchyard.calls',
  /** Histogram, milliseconds: call duration from first header to end of stream. */
  callDuration: 'switchyard.call.duration',
  /** UpDownCounter: open worker tunnels. */
  tunnelsActive: 'switchyard.tunnels.active',
  /** Counter: tickets published to JetStream. */
  ticketsPublished: 'switchyard.tickets.published',
  /** Counter: tickets taken by a worker. */
  ticketsTaken: 'switchyard.tickets.taken',
  /** Histogram, milliseconds: from ticket publish to a worker attached. */
  attachDuration: 'switchyard.attach.duration',
  /** Gauge: free concurrency slots of a worker. */
  workerCapacityFree: 'switchyard.worker.capacity.free',
} as const;
export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];

/** Values of the {@link Attr.outcome} attribute. */
export const Outcome = {
  ok: 'ok',
  error: 'error',
  cancelled: 'cancelled',
  notFound: 'not_found',
  unavailable: 'unavailable',
  timeout: 'timeout',
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];
