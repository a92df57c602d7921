// Span/metric attribute keys and metric names shared by every service, so dashboards and alerts
// (infra/grafana, infra/prometheus) can rely on one spelling. Only names some service records are
// here; a metric is added together with the code that records it.

/** Attribute keys for spans, metrics and structured logs. */
export const Attr = {
  /** Region of an instance (a constant label on every series) or of a DNS answer. */
  region: 'switchyard.region',
  /** DNS response code of a geodns answer (e.g. `NOERROR`, `NXDOMAIN`). */
  dnsRcode: 'dns.rcode',
  /** Transport a geodns query came over: `udp` or `tcp`. */
  dnsTransport: 'dns.transport',
} as const;
export type AttrKey = (typeof Attr)[keyof typeof Attr];

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
  /** Counter: DNS queries answered by geodns, by `dns.rcode`, `dns.transport` and `switchyard.region`. */
  dnsQueries: 'switchyard.dns.queries',
} as const;
export type MetricName = (typeof MetricNames)[keyof typeof MetricNames];
