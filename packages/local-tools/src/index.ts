// @switchyard/local-tools: what running local infrastructure needs and nothing test-only: the
// nats-server and redis-server binaries, loopback ports, a redis PING. Used by the CLI's dev stack,
// the region launcher, the benches and the test kit.

export { natsServerBinary, redisServerBinary } from './binaries.ts';
export { LocalToolsError, LocalToolsErrorCode } from './local-tools-error.ts';
export { canConnect, FREE_PORT_MIN, freePort, isPortFree } from './ports.ts';
export { redisPing } from './redis-ping.ts';
