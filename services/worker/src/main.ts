// Worker entry: load config (exit 1 listing every problem), connect NATS, open the session directory,
// ticket queue and control store, start taking tickets; SIGTERM/SIGINT end every session and exit 0.
import { connect } from '@nats-io/transport-node';
import { ConfigError, loadConfig, startServiceRuntime } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { HeartbeatPublisher } from '@switchyard/region-health';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger, startTelemetry } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker } from './app.ts';
import { WorkerConfigSchema } from './config.ts';

let config: ReturnType<typeof loadConfig<typeof WorkerConfigSchema>>;
try {
  config = loadConfig(WorkerConfigSchema, { service: 'worker' });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger({ service: 'worker', region: config.region }).child({ workerId: config.workerId });
// Spent body Buffers of an HTTP function's uploads and downloads are reclaimed between V8's own
// collections (docs/configuration.md, "Node options"). A gRPC function's worker does not run it: with
// many concurrent streams the forced collections promote in-flight objects early and cost more CPU
// per MB than the memory they save (bench/RESULTS.md).
if (config.upstream.startsWith('http:')) startServiceRuntime('worker', logger);
const telemetry = await startTelemetry({
  service: 'worker',
  region: config.region,
  instanceId: config.workerId,
  metricsPort: config.metricsPort,
});
// noAsyncTraces: nats.js would capture a stack trace for every request (one per allocation or resume).
const nc = await connect({
  servers: config.natsServers,
  name: `worker-${config.workerId}`,
  maxReconnectAttempts: -1,
  noAsyncTraces: true,
});
const directory = await SessionDirectory.open(nc, {
  region: config.region,
  ttlMs: config.sessionTtlMs,
  replicas: config.sessionReplicas,
});
const queue = await TicketQueue.open(nc, { region: config.region });
const control = await ControlStore.open(nc);
const worker = new Worker(config, {
  nc,
  directory,
  queue,
  logger,
  functionReconnectWindowMs: () => control.getFunction(config.functionId)?.reconnectWindowMs,
});
await worker.start();
// Region health: free capacity per version, for spill-over decisions (issue 4, item 3).
const heartbeat = new HeartbeatPublisher(nc, {
  region: config.region,
  kind: 'worker',
  instanceId: config.workerId,
  intervalMs: config.heartbeatIntervalMs,
  collect: () => ({ versionId: config.versionId, freeCapacity: worker.freeCapacity }),
});
heartbeat.start();
const meter = telemetry.meter;
meter
  .createObservableGauge('switchyard.worker.capacity.free', { description: 'Free session slots of this worker' })
  .addCallback((r) => r.observe(worker.freeCapacity));
meter
  .createObservableGauge('switchyard.sessions.active', { description: 'Sessions held by this worker' })
  .addCallback((r) => r.observe(worker.sessionCount));
logger.info({ functionId: config.functionId, versionId: config.versionId, upstream: config.upstream }, 'worker ready');
process.stdout.write(
  `${JSON.stringify({ ready: true, service: 'worker', workerId: config.workerId, functionId: config.functionId, versionId: config.versionId })}\n`,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping: ending sessions');
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await heartbeat.stop();
  await worker.stop();
  await control.close().catch(() => undefined);
  await nc.drain().catch(() => undefined);
  await telemetry.shutdown().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
