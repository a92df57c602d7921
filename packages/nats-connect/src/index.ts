// @switchyard/nats-connect: the one place a service connects to NATS. Config fields shared by every
// service (credentials, TLS, inbox prefix) with their checks at start, connectNats(), and the
// generated NATS user of a function version's workers.

// Operation timing is installed on the connection by the service (the recorder comes from telemetry).
export type { DependencyOperationRecorder } from '@switchyard/nats-errors';
export { recordNatsOperations } from '@switchyard/nats-errors';
export type { ConnectNatsOptions, NatsConnectionState, NatsConnectLogger } from './connect-nats.ts';
export {
  connectNats,
  describeNatsIdentity,
  NatsConnectError,
  NatsConnectErrorCode,
  natsConnectionOptions,
  watchNatsConnection,
} from './connect-nats.ts';
export type { NatsConnectionConfig } from './nats-connection-config.ts';
export {
  DEFAULT_NATS_INBOX_PREFIX,
  NATS_REFINE_WHEN,
  NATS_REPLICA_COUNTS,
  natsConnectionFields,
  natsReplicasFields,
  refineNatsConnection,
} from './nats-connection-config.ts';
export type { WorkerNatsUserInput } from './worker-nats-user.ts';
export { createUserNkey, renderWorkerNatsUser, workerInboxPrefix, workerNatsPermissions } from './worker-nats-user.ts';
