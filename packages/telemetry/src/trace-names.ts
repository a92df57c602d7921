// Span names and span attribute keys (OpenTelemetry semantic conventions where one exists, then
// `switchyard.*`), one spelling for every service and for docs/observability.md. Kept apart from the
// metric names (names.ts) so the two concerns change independently.

/** Span names. gRPC server spans are named `<service>/<method>` and HTTP server spans by method (semconv). */
export const SpanNames = {
  /** INTERNAL: finding a worker for a new session or HTTP request (ticket, then the worker's attach). */
  allocate: 'switchyard.allocate',
  /** PRODUCER: publishing the ticket to the region's JetStream stream (ends on the stream's ack). */
  ticketPublish: 'switchyard.ticket.publish',
  /** INTERNAL: from the ticket's publish until a worker attached (or the deadline, or the caller left). */
  queueWait: 'switchyard.ticket.queue_wait',
  /** CONSUMER (worker): a pulled ticket checked and taken until its tunnel attach is answered. */
  ticketClaim: 'switchyard.ticket.claim',
  /** INTERNAL: a session looked up by request ID in this region's directory (G7). */
  resumeLookupLocal: 'switchyard.resume.lookup.local',
  /** INTERNAL: a session looked up in the other regions' directories (G15). */
  resumeLookupRemote: 'switchyard.resume.lookup.remote',
  /** CLIENT: the call relayed over a worker's tunnel (front end to worker). */
  tunnelCall: 'switchyard.tunnel.call',
  /** CLIENT (worker): the call relayed to the function container. */
  containerCall: 'switchyard.container.call',
  /** SERVER (gRPC proxy): a client WebSocket, from its Upgrade request until the connection closed (G12). */
  webSocket: 'switchyard.websocket',
} as const;
export type SpanName = (typeof SpanNames)[keyof typeof SpanNames];

/** Span attribute keys. */
export const TraceAttr = {
  rpcSystem: 'rpc.system',
  rpcService: 'rpc.service',
  rpcMethod: 'rpc.method',
  rpcGrpcStatusCode: 'rpc.grpc.status_code',
  httpRequestMethod: 'http.request.method',
  httpResponseStatusCode: 'http.response.status_code',
  urlPath: 'url.path',
  urlScheme: 'url.scheme',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  networkProtocolName: 'network.protocol.name',
  networkProtocolVersion: 'network.protocol.version',
  messagingSystem: 'messaging.system',
  messagingOperationType: 'messaging.operation.type',
  messagingDestinationName: 'messaging.destination.name',
  messagingMessageId: 'messaging.message.id',
  errorType: 'error.type',
  /** Request ID (`nvcf-reqid`) of the session or HTTP request: on spans only, never a metric label. */
  requestId: 'switchyard.request.id',
  functionId: 'switchyard.function.id',
  versionId: 'switchyard.function.version.id',
  /** `grpc` (a session) or `http` (one request). */
  functionKind: 'switchyard.function.kind',
  /** Region whose directory or queue a span is about. */
  region: 'switchyard.region',
  /** Worker that took a ticket or holds a session. */
  workerId: 'switchyard.worker.id',
  /** How a resume lookup ended: `found`, `missing` or `unavailable`. */
  lookupResult: 'switchyard.lookup.result',
  /** How an allocation ended: `attached`, `timeout`, `gone` or an error code. */
  allocationOutcome: 'switchyard.allocation.outcome',
  /**
   * Close code (RFC 6455 7.4.1) a WebSocket ended with: the first close frame's (client's or
   * container's), the proxy's own close (1001 session ended, 1008/1013 key), 1005 for a close frame
   * without a code, 1006 when none was sent (abnormal closure).
   */
  webSocketCloseCode: 'switchyard.websocket.close.code',
  /** Who sent that first close frame: `client`, `container` or `proxy`. */
  webSocketClosedBy: 'switchyard.websocket.closed_by',
} as const;

/**
 * The OTel variables Switchyard reads (through NodeSDK), with their meaning; docs/observability.md
 * lists them from here.
 */
export const TRACE_ENV_VARS: readonly { name: string; meaning: string }[] = [
  {
    name: 'OTEL_TRACES_EXPORTER',
    meaning:
      '`otlp` exports spans over OTLP (also `console`, `zipkin`, `none`). Unset: spans are not exported, new traces are not sampled, and a sampled `traceparent` from a client is still continued downstream.',
  },
  {
    name: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    meaning: 'Base URL of the collector, e.g. `http://otel-collector:4318`; spans go to `<endpoint>/v1/traces`.',
  },
  { name: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', meaning: 'Full traces URL, over the base endpoint.' },
  {
    name: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    meaning: '`http/protobuf` (default), `http/json` or `grpc` (also `OTEL_EXPORTER_OTLP_PROTOCOL`).',
  },
  { name: 'OTEL_EXPORTER_OTLP_HEADERS', meaning: 'Headers of every export request, e.g. `authorization=Bearer x`.' },
  {
    name: 'OTEL_TRACES_SAMPLER',
    meaning:
      'Sampler of new traces. Use `parentbased_traceidratio` so a sampled client trace stays sampled; default with an exporter `parentbased_always_on`, without one `parentbased_always_off`.',
  },
  { name: 'OTEL_TRACES_SAMPLER_ARG', meaning: 'Ratio of `traceidratio` samplers, e.g. `0.01` for 1%.' },
  {
    name: 'OTEL_BSP_SCHEDULE_DELAY',
    meaning: 'Batch span processor export interval, ms (default 5000); also `OTEL_BSP_MAX_QUEUE_SIZE`.',
  },
  { name: 'OTEL_PROPAGATORS', meaning: 'Propagators (default `tracecontext,baggage`: W3C `traceparent`).' },
  {
    name: 'OTEL_SDK_DISABLED',
    meaning:
      "`true` turns tracing off entirely, whatever the other variables say: no spans, and no `traceparent` is continued or passed to the next hop (a client's own header still passes through unchanged). Metrics are not affected (they have their own switch, `SWITCHYARD_METRICS_ENABLED`).",
  },
  {
    name: 'OTEL_METRICS_EXPORTER',
    meaning:
      'Ignored (also `OTEL_METRIC_EXPORT_INTERVAL`): metrics are never pushed over OTLP; they are served on the metrics port (`GET /metrics`) for Prometheus to scrape.',
  },
];

/** What each span is, for docs/observability.md: name, kind, the services that make it, meaning. */
export const SPAN_DOCS: readonly { name: string; kind: string; services: string; meaning: string }[] = [
  {
    name: '`<rpc.service>/<rpc.method>`, or the HTTP method',
    kind: 'SERVER',
    services: 'grpc-proxy, invocation',
    meaning:
      'One client call, continuing the client `traceparent` (or a new root); `rpc.*` or `http.*` attributes, status from the gRPC status (server-error codes) or the HTTP status (5xx).',
  },
  {
    name: SpanNames.allocate,
    kind: 'INTERNAL',
    services: 'grpc-proxy, invocation',
    meaning: 'Finding a worker: ticket publish and queue wait; `switchyard.allocation.outcome`.',
  },
  {
    name: SpanNames.ticketPublish,
    kind: 'PRODUCER',
    services: 'grpc-proxy, invocation',
    meaning: 'Publishing the ticket to `TICKETS_<region>` until JetStream acknowledges it.',
  },
  {
    name: SpanNames.queueWait,
    kind: 'INTERNAL',
    services: 'grpc-proxy, invocation',
    meaning: 'From the publish until a worker attached; its context travels in the ticket headers.',
  },
  {
    name: SpanNames.ticketClaim,
    kind: 'CONSUMER',
    services: 'worker',
    meaning: 'The worker taking the ticket (checks, tunnel dial or attach), a child of the queue wait.',
  },
  {
    name: SpanNames.resumeLookupLocal,
    kind: 'INTERNAL',
    services: 'grpc-proxy',
    meaning: "A resumed session looked up in this region's directory; `switchyard.lookup.result`.",
  },
  {
    name: SpanNames.resumeLookupRemote,
    kind: 'INTERNAL',
    services: 'grpc-proxy',
    meaning: "The same lookup in the other regions' directories (G15).",
  },
  {
    name: SpanNames.tunnelCall,
    kind: 'CLIENT',
    services: 'grpc-proxy, invocation',
    meaning:
      'The call (or WebSocket) relayed over the worker tunnel; its context is the `traceparent` the worker receives.',
  },
  {
    name: SpanNames.containerCall,
    kind: 'CLIENT',
    services: 'worker',
    meaning:
      'The call relayed to the function container, which receives its context as `traceparent` (for a WebSocket, on its Upgrade request).',
  },
  {
    name: SpanNames.webSocket,
    kind: 'SERVER',
    services: 'grpc-proxy',
    meaning:
      'A client WebSocket (G12), continuing the `traceparent` of its Upgrade request, until the connection closes: the HTTP status of a refused upgrade, else `switchyard.websocket.close.code` and `switchyard.websocket.closed_by`; an error for an abnormal close (1006: no close frame) or a server-side code (1011-1015).',
  },
];
