// NATS subjects, streams, buckets and consumers. Region and IDs are validated tokens, so a
// subject is never built from a value containing '.', '*' or '>'.

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Throws a TypeError when `value` cannot be a single NATS subject token. */
export function assertToken(kind: string, value: string): string {
  if (!TOKEN.test(value))
    throw new TypeError(`${kind} must match ${TOKEN} to be a NATS subject token, got ${JSON.stringify(value)}`);
  return value;
}

/** Names for one region's NATS resources. */
export const NatsNames = {
  /** Work-queue stream of tickets for region R: subjects `rq.R.>`. */
  ticketStream: (region: string) => `TICKETS_${assertToken('region', region)}`,
  /** Subject filter of that stream. */
  ticketStreamSubjects: (region: string) => `rq.${assertToken('region', region)}.>`,
  /** Ticket subject: `rq.<region>.<versionId>.<reqId>`. */
  ticketSubject: (region: string, versionId: string, reqId: string) =>
    `rq.${assertToken('region', region)}.${assertToken('versionId', versionId)}.${assertToken('reqId', reqId)}`,
  /** Filter for one version's tickets. */
  ticketFilter: (region: string, versionId: string) =>
    `rq.${assertToken('region', region)}.${assertToken('versionId', versionId)}.*`,
  /** Durable pull consumer shared by every worker of a version. */
  ticketConsumer: (versionId: string) => `workers_${assertToken('versionId', versionId)}`,
  /** Session directory bucket of a region. */
  sessionBucket: (region: string) => `sessions_${assertToken('region', region)}`,
  /**
   * Core NATS request to the worker that holds a session (flow 3): dial this proxy instance, or attach
   * over NATS when a tunnel to it is already up: `worker.<versionId>.<workerId>.reconnect`. One
   * subscription per worker (the session record names the worker), rather than one per session: a
   * worker holding 10,000 sessions keeps one subscription. The version comes first so that a worker's
   * NATS user can be allowed `worker.<its versionId>.>` and nothing of another version's workers.
   */
  workerReconnect: (versionId: string, workerId: string) =>
    `worker.${assertToken('versionId', versionId)}.${assertToken('workerId', workerId)}.reconnect`,
  /** Core NATS request to the worker that holds a session: end it now (S3). `worker.<versionId>.<workerId>.evict`, payload `{reqId}`. */
  workerEvict: (versionId: string, workerId: string) =>
    `worker.${assertToken('versionId', versionId)}.${assertToken('workerId', workerId)}.evict`,
  /** Every subject of one version's workers (a worker NATS user's subscribe permission). */
  workerVersionWildcard: (versionId: string) => `worker.${assertToken('versionId', versionId)}.>`,
  /** A worker accepts a ticket or reconnect over an existing tunnel (W1): request to the proxy instance. */
  proxyAttach: (proxyId: string) => `proxy.${assertToken('proxyId', proxyId)}.attach`,
  /** A worker says a session ended (evicted, reconnect window over, exit): published to each proxy that held it. */
  proxySessionEnded: (proxyId: string) => `proxy.${assertToken('proxyId', proxyId)}.session-ended`,
  /**
   * Core NATS request to the invocation instances of region R (queue group {@link NatsNames.invocationQueue}):
   * a status poll that missed in another region looks its 202 result up here (H9). JSON `{op: 'lookup'}`
   * answers `{state, result?}`; `{op: 'chunk'}` answers one framed slice of a claimed body.
   */
  invocationResult: (region: string) => `invocation.result.${assertToken('region', region)}`,
  /** Queue group of {@link NatsNames.invocationResult}: one instance of region R answers each request. */
  invocationQueue: (region: string) => `invocation-${assertToken('region', region)}`,
  /** Control-data buckets (functions, versions, API keys). */
  functionsBucket: 'ctl_functions',
  versionsBucket: 'ctl_versions',
  apiKeysBucket: 'ctl_api_keys',
  /**
   * Heartbeat of one instance (core NATS, D2): `health.<region>.<kind>.<instanceId>`, kind one of
   * `grpc-proxy`, `invocation`, `worker`. Published every interval; gateways carry it to every region.
   */
  healthSubject: (region: string, kind: string, instanceId: string) =>
    `health.${assertToken('region', region)}.${assertToken('kind', kind)}.${assertToken('instanceId', instanceId)}`,
  /** Every heartbeat of every region (what geodns and the spill-over policy subscribe to). */
  healthWildcard: 'health.>',
  /**
   * "Beat now" (core NATS, D2, empty payload): a heartbeat view publishes it once it has subscribed,
   * and every front end (grpc-proxy, invocation) answers with a beat at once, so a view that just
   * started knows the serving instances without waiting an interval. Outside `health.>` on purpose.
   */
  healthBeatRequest: 'health-beat-request',
} as const;
