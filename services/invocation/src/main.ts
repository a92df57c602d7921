// Invocation service entry: load config (exit 1 listing every problem), connect NATS and Redis, open
// the control store and ticket queue, listen; SIGTERM/SIGINT drain (requests in flight finish up to
// drainTimeoutMs) and exit 0.
import { connect } from '@nats-io/transport-node';
import { ConfigError, loadConfig, startServiceRuntime } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { createLogger, startTelemetry } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Redis } from 'ioredis';
import { InvocationService } from './app.ts';
import { InvocationConfigSchema } from './config.ts';

let config: ReturnType<typeof loadConfig<typeof InvocationConfigSchema>>;
try {
  config = loadConfig(InvocationConfigSchema, { service: 'invocation' });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger({ service: 'invocation', region: config.region }).child({ instanceId: config.instanceId });
// Node options checked, spent body Buffers reclaimed (docs/configuration.md, "Node options").
startServiceRuntime('invocation', logger);
const telemetry = await startTelemetry({
  service: 'invocation',
  region: config.region,
  instanceId: config.instanceId,
  metricsPort: config.metricsPort,
});
// noAsyncTraces: nats.js would capture a stack trace for every request (one per allocation or resume).
const nc = await connect({
  servers: config.natsServers,
  name: config.instanceId,
  maxReconnectAttempts: -1,
  noAsyncTraces: true,
});
const control = await ControlStore.open(nc);
const queue = await TicketQueue.open(nc, { region: config.region });
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
redis.on('error', (err) => logger.warn({ err }, 'redis error'));
const service = new InvocationService(config, { nc, control, queue, redis, logger });
let ports: { port: number; callbackPort: number };
try {
  ports = await service.listen();
} catch (err) {
  logger.fatal({ err }, 'could not listen');
  console.error(
    `invocation: could not listen: ${(err as Error).message} (set SWITCHYARD_PORT / SWITCHYARD_CALLBACK_PORT)`,
  );
  process.exit(1);
}
telemetry.meter
  .createObservableGauge('switchyard.tunnels.active', { description: 'Open worker tunnels' })
  .addCallback((r) => r.observe(service.tunnels.size));
telemetry.meter
  .createObservableGauge('switchyard.http.requests.active', { description: 'HTTP requests in flight here' })
  .addCallback((r) => r.observe(service.inFlight));
logger.info(ports, 'invocation ready');
process.stdout.write(
  `${JSON.stringify({ ready: true, service: 'invocation', instanceId: config.instanceId, ...ports })}\n`,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: draining requests');
  const force = setTimeout(() => process.exit(1), config.drainTimeoutMs + 5_000);
  force.unref();
  await service.close().catch(() => undefined);
  await control.close().catch(() => undefined);
  await nc.drain().catch(() => undefined);
  redis.disconnect();
  await telemetry.shutdown().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
