// Invocation service entry: load config (exit 1 listing every problem), connect NATS and Redis, open
// the control store and ticket queue, listen; SIGTERM/SIGINT drain (requests in flight finish up to
// drainTimeoutMs) and exit 0 (@switchyard/service-main).
import { loadConfig, resolveProcesses } from '@switchyard/config';
import { ControlStore, controlFreshnessOptions } from '@switchyard/control-store';
import { connectNats, recordNatsOperations, watchNatsConnection } from '@switchyard/nats-connect';
import { recordRedisOperations } from '@switchyard/rate-limit';
import { CallWindow, HeartbeatPublisher } from '@switchyard/region-health';
import { frontEndProcessPlan, runService } from '@switchyard/service-main';
import { createDependencyRecorder, createTunnelRecorder, FrontEndMetrics, MetricNames } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { TUNNEL_CLOSE_REASONS, TUNNEL_CONNECT_STATUSES } from '@switchyard/tunnel';
import { Redis } from 'ioredis';
import { InvocationService } from './app.ts';
import { InvocationConfigSchema } from './config.ts';

await runService({
  service: 'invocation',
  loadConfig: () => loadConfig(InvocationConfigSchema, { service: 'invocation' }),
  // Issue 12: SWITCHYARD_PROCESSES replicas sharing the client port, each its own instanceId, callback and metrics port.
  processes: (config) =>
    frontEndProcessPlan('invocation', resolveProcesses(config.processes), {
      idVar: 'SWITCHYARD_INSTANCE_ID',
      id: config.instanceId,
      callbackPort: config.callbackPort,
      callbackUri: config.callbackUri,
      metricsPort: config.metricsPort,
      livenessTimeoutMs: config.processLivenessTimeoutMs,
    }),
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
    // Last-minute call summary for the heartbeat (the live status page).
    const calls = new CallWindow();
    // Function/version labels: the control store's versions, watched (deployed ones get 0 samples).
    const metrics = new FrontEndMetrics(telemetry.meter, { service: 'invocation', catalogue: control });
    const tunnelRecorder = createTunnelRecorder(telemetry.meter, {
      closeReasons: TUNNEL_CLOSE_REASONS,
      connectStatuses: TUNNEL_CONNECT_STATUSES,
    });
    const service = new InvocationService(config, {
      nc,
      control,
      queue,
      redis,
      logger,
      metrics,
      tunnelRecorder,
      onRequestEnd: (end) => calls.record(end.durationMs, end.status >= 500),
    });
    const ports = await listen(service.listen(), 'set SWITCHYARD_PORT / SWITCHYARD_CALLBACK_PORT');
    // Readiness: the client and tunnel (callback) listeners accept until the drain closes them.
    let listening = true;
    telemetry.addReadinessCheck('listener', () => listening, 'listener: closed (draining)');
    telemetry.meter
      .createObservableGauge(MetricNames.tunnelsActive, { description: 'Open worker tunnels' })
      .addCallback((r) => r.observe(service.tunnels.size));
    telemetry.meter
      .createObservableGauge(MetricNames.httpRequestsActive, { description: 'HTTP requests in flight here' })
      .addCallback((r) => r.observe(service.inFlight));
    // Region health (D2) and the status page: requests in flight and the last minute's calls.
    const heartbeat = new HeartbeatPublisher(nc, {
      region: config.region,
      answerBeatRequests: true,
      kind: 'invocation',
      instanceId: config.instanceId,
      intervalMs: config.heartbeatIntervalMs,
      collect: () => ({ sessions: service.inFlight, calls: calls.summary() }),
    });
    heartbeat.start();
    return {
      readyLog: ports,
      readyLine: { instanceId: config.instanceId, ...ports },
      drainMessage: 'draining requests',
      forceExitAfterMs: config.drainTimeoutMs + 5_000,
      drain: [
        { name: 'heartbeat', run: () => heartbeat.stop() },
        {
          name: 'http',
          run: () => {
            listening = false;
            return service.close();
          },
        },
        {
          name: 'control store',
          run: () => {
            metrics.close();
            return control.close();
          },
        },
        { name: 'nats', run: () => nc.drain() },
        { name: 'redis', run: () => redis.disconnect() },
      ],
    };
  },
});
