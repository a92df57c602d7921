// @switchyard/testkit: starts real nats-server (single, cluster, supercluster: the region launcher's
// plan and configs), redis-server and Prometheus on free loopback ports for tests, and guarantees they
// do not outlive the test process.

export { redisPing } from '@switchyard/local-tools';
export { natsServerBinary, redisServerBinary } from './binaries.ts';
export { overrideEnv } from './env.ts';
export type { ExpositionSample } from './exposition.ts';
export {
  parseExposition,
  promtoolBinary,
  promtoolCheckMetrics,
  sampleValue,
  scrapeMetrics,
  waitForSample,
} from './exposition.ts';
export type { RawH2Counts } from './h2-raw-client.ts';
export { RawH2Connection } from './h2-raw-client.ts';
export type {
  NatsClusterHandle,
  NatsSuperclusterHandle,
  StartNatsClusterOptions,
  StartNatsSuperclusterOptions,
} from './nats-cluster.ts';
export {
  DEFAULT_CLUSTER_READY_TIMEOUT_MS,
  startNatsCluster,
  startNatsSupercluster,
} from './nats-cluster.ts';
export type { NatsServerHandle, StartNatsOptions } from './nats-server.ts';
export { DEFAULT_NATS_READY_TIMEOUT_MS, NATS_RESTART_READY_TIMEOUT_MS, startNats } from './nats-server.ts';
export type { NatsFileServerHandle, StartNatsFromFileOptions } from './nats-server-file.ts';
export { startNatsFromFile } from './nats-server-file.ts';
export { canConnect, freePort } from './ports.ts';
export { liveChildCount, livePids, stopAll } from './process-registry.ts';
export type {
  PromAlert,
  PrometheusHandle,
  PrometheusTarget,
  PromSample,
  PromTargetHealth,
  StartPrometheusOptions,
} from './prometheus-server.ts';
export { prometheusBinary, startPrometheus } from './prometheus-server.ts';
export { sendInPieces } from './raw-socket.ts';
export type { RedisHandle } from './redis-server.ts';
export { DEFAULT_REDIS_READY_TIMEOUT_MS, startRedis } from './redis-server.ts';
export type { StartTcpRelayOptions, TcpRelayHandle } from './tcp-relay.ts';
export { startTcpRelay } from './tcp-relay.ts';
export { TestkitError, TestkitErrorCode } from './testkit-error.ts';
export type { TestCertificates, TlsPair } from './tls-files.ts';
export { writeTestCertificates } from './tls-files.ts';
export type { WaitForOptions } from './wait-for.ts';
export { DEFAULT_WAIT_INTERVAL_MS, DEFAULT_WAIT_TIMEOUT_MS, waitFor } from './wait-for.ts';
