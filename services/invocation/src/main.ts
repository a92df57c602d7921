// Invocation service entry: load config (exit 1 listing every problem), connect NATS and Redis, open
// the control store and ticket queue, listen; SIGTERM/SIGINT drain (requests in flight finish up to
// drainTimeoutMs) and exit 0 (@switchyard/service-main).
import { loadConfig } from '@switchyard/config';
import { ControlStore, controlFreshnessOptions } from '@switchyard/control-store';
import { connectNats, recordNatsOperations, watchNatsConnection } from '@switchyard/nats-connect';
import { recordRedisOperations } from '@switchyard/rate-limit';
import { runService } from '@switchyard/service-main';
import { createDependencyRecorder, createTunnelRecorder, MetricNames } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { TUNNEL_CLOSE_REASONS, TUNNEL_CONNECT_STATUSES } from '@switchyard/tunnel';
import { Redis } from 'ioredis';
import { InvocationService } from './app.ts';
import { InvocationConfigSchema } from './config.ts';

await runService({
  service: 'invocation',
  loadConfig: () => loadConfig(InvocationConfigSchema, { service: 'invocation' }),
  identify: (config) => ({
    region: config.region,
    instanceId: config.instanceId,
    logFields: { instanceId: config.instanceId },
    metricsEnabled: config.metricsEnabled,
    metricsHost: config.metricsHost,
    metricsPort: config.metricsPort,
    nodeRuntime: true,
  }),
  start: async ({ config, logger, telemetry, listen }) => {
    // noAsyncTraces: nats.js would capture a stack trace for every request (one per allocation or resume).
    const nc = await connectNats(config, { name: config.instanceId, noAsyncTraces: true, logger });
    telemetry.watchDependency('nats', watchNatsConnection(nc));
    recordNatsOperations(nc, createDependencyRecorder(telemetry.meter, 'nats'));
    const control = await ControlStore.open(nc, controlFreshnessOptions(config));
    const queue = await TicketQueue.open(nc, { region: config.region, replicas: config.natsReplicas });
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    recordRedisOperations(redis, createDependencyRecorder(telemetry.meter, 'redis'));
    let redisReconnects = 0;
    redis.on('reconnecting', () => redisReconnects++);
    telemetry.watchDependency('redis', {
      connected: () => redis.status === 'ready',
      reconnects: () => redisReconnects,
    });
    redis.on('error', (err) => logger.warn({ err }, 'redis error'));
    const tunnelRecorder = createTunnelRecorder(telemetry.meter, {
      closeReasons: TUNNEL_CLOSE_REASONS,
      connectStatuses: TUNNEL_CONNECT_STATUSES,
    });
    const service = new InvocationService(config, { nc, control, queue, redis, logger, tunnelRecorder });
    const ports = await listen(service.listen(), 'set SWITCHYARD_PORT / SWITCHYARD_CALLBACK_PORT');
    // Readiness: the client and tunnel (callback) listeners accept until the drain closes them.
    let listening = true;
    telemetry.addReadinessCheck('listener', () => listening);
    telemetry.meter
      .createObservableGauge(MetricNames.tunnelsActive, { description: 'Open worker tunnels' })
      .addCallback((r) => r.observe(service.tunnels.size));
    telemetry.meter
      .createObservableGauge(MetricNames.httpRequestsActive, { description: 'HTTP requests in flight here' })
      .addCallback((r) => r.observe(service.inFlight));
    return {
      readyLog: ports,
      readyLine: { instanceId: config.instanceId, ...ports },
      drainMessage: 'draining requests',
      forceExitAfterMs: config.drainTimeoutMs + 5_000,
      drain: [
        {
          name: 'http',
          run: () => {
            listening = false;
            return service.close();
          },
        },
        { name: 'control store', run: () => control.close() },
        { name: 'nats', run: () => nc.drain() },
        { name: 'redis', run: () => redis.disconnect() },
      ],
    };
  },
});
