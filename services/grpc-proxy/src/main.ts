// gRPC proxy entry: load config (exit 1 listing every problem), connect NATS (and Redis when rate
// limits are on), open the control store, session directory and ticket queue, listen; SIGTERM/SIGINT
// send GOAWAY, close tunnels and exit 0.
import { connect } from '@nats-io/transport-node';
import { ConfigError, loadConfig } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { HeartbeatPublisher, RegionHealthView } from '@switchyard/region-health';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger, startTelemetry } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Redis } from 'ioredis';
import { GrpcProxy } from './app.ts';
import { ProxyConfigSchema } from './config.ts';
import { RateLimiter } from './rate-limit.ts';
import { openRemoteDirectories } from './session-lookup.ts';

let config: ReturnType<typeof loadConfig<typeof ProxyConfigSchema>>;
try {
  config = loadConfig(ProxyConfigSchema, { service: 'grpc-proxy' });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger({ service: 'grpc-proxy', region: config.region }).child({ proxyId: config.proxyId });
const telemetry = await startTelemetry({
  service: 'grpc-proxy',
  region: config.region,
  instanceId: config.proxyId,
  metricsPort: config.metricsPort,
});
// noAsyncTraces: nats.js would capture a stack trace for every request (one per allocation or resume).
const nc = await connect({
  servers: config.natsServers,
  name: config.proxyId,
  maxReconnectAttempts: -1,
  noAsyncTraces: true,
});
const control = await ControlStore.open(nc);
const directory = await SessionDirectory.open(nc, {
  region: config.region,
  ttlMs: config.sessionTtlMs,
  replicas: config.sessionReplicas,
});
const queue = await TicketQueue.open(nc, { region: config.region });
// G15: the other regions' buckets, bound without a round trip (a region that is down does not block start-up).
const remoteDirectories = await openRemoteDirectories(
  nc,
  config.remoteRegions,
  config.region,
  config.remoteLookupTimeoutMs,
);
// Spill-over: free capacity per version in every region, from the workers' heartbeats.
const health = await RegionHealthView.start(nc);
let redis: Redis | undefined;
let rateLimiter: RateLimiter | undefined;
if (config.redisUrl && config.rateLimitPerMinute > 0) {
  redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (err) => logger.warn({ err }, 'redis error'));
  rateLimiter = new RateLimiter(redis, config.rateLimitPerMinute);
}
const proxy = new GrpcProxy(config, {
  nc,
  control,
  directory,
  queue,
  logger,
  rateLimiter,
  remoteDirectories,
  health,
});
let ports: { port: number; callbackPort: number };
try {
  ports = await proxy.listen();
} catch (err) {
  logger.fatal({ err }, 'could not listen');
  console.error(
    `grpc-proxy: could not listen: ${(err as Error).message} (set SWITCHYARD_PORT / SWITCHYARD_CALLBACK_PORT)`,
  );
  process.exit(1);
}
const meter = telemetry.meter;
meter
  .createObservableGauge('switchyard.tunnels.active', { description: 'Open worker tunnels' })
  .addCallback((r) => r.observe(proxy.tunnels.size));
meter
  .createObservableGauge('switchyard.sessions.active', { description: 'Sessions with client connections here' })
  .addCallback((r) => r.observe(proxy.sessionCount));
logger.info(ports, 'grpc-proxy ready');
// Region health (D2): geodns sends clients to this region while some proxy of it beats.
const heartbeat = new HeartbeatPublisher(nc, {
  region: config.region,
  kind: 'grpc-proxy',
  instanceId: config.proxyId,
  intervalMs: config.heartbeatIntervalMs,
  collect: () => (config.advertiseAddresses.length > 0 ? { addresses: { grpc: [...config.advertiseAddresses] } } : {}),
});
heartbeat.start();
process.stdout.write(`${JSON.stringify({ ready: true, service: 'grpc-proxy', proxyId: config.proxyId, ...ports })}\n`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: GOAWAY to clients');
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await heartbeat.stop(); // leave DNS answers first
  await proxy.close().catch(() => undefined);
  health.stop();
  await control.close().catch(() => undefined);
  await nc.drain().catch(() => undefined);
  redis?.disconnect();
  await telemetry.shutdown().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
