// gRPC proxy entry: load config (exit 1 listing every problem), connect NATS (and Redis when rate
// limits are on), open the control store, session directory and ticket queue, listen; SIGTERM/SIGINT
// send GOAWAY, close tunnels and exit 0 (@switchyard/service-main).
import { loadConfig, resolveProcesses } from '@switchyard/config';
import { ControlStore, controlFreshnessOptions } from '@switchyard/control-store';
import { connectNats, recordNatsOperations, watchNatsConnection } from '@switchyard/nats-connect';
import { recordRedisOperations } from '@switchyard/rate-limit';
import { CallWindow, HeartbeatPublisher, isServerErrorOutcome, RegionHealthView } from '@switchyard/region-health';
import { frontEndProcessPlan, runService } from '@switchyard/service-main';
import { SessionDirectory } from '@switchyard/session-directory';
import { createDependencyRecorder, createTunnelRecorder, FrontEndMetrics, MetricNames } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { TUNNEL_CLOSE_REASONS, TUNNEL_CONNECT_STATUSES } from '@switchyard/tunnel';
import { Redis } from 'ioredis';
import { GrpcProxy } from './app.ts';
import { ProxyConfigSchema } from './config.ts';
import { RateLimiter } from './rate-limit.ts';
import { openRemoteDirectories } from './session-lookup.ts';

await runService({
  service: 'grpc-proxy',
  loadConfig: () => loadConfig(ProxyConfigSchema, { service: 'grpc-proxy' }),
  // Issue 12: SWITCHYARD_PROCESSES replicas sharing the client port, each its own proxyId, callback and metrics port.
  processes: (config) =>
    frontEndProcessPlan('grpc-proxy', resolveProcesses(config.processes), {
      idVar: 'SWITCHYARD_PROXY_ID',
      id: config.proxyId,
      callbackPort: config.callbackPort,
      callbackUri: config.callbackUri,
      metricsPort: config.metricsPort,
      livenessTimeoutMs: config.processLivenessTimeoutMs,
    }),
  identify: (config) => ({
    region: config.region,
    instanceId: config.proxyId,
    logFields: { proxyId: config.proxyId },
    metricsEnabled: config.metricsEnabled,
    metricsHost: config.metricsHost,
    metricsPort: config.metricsPort,
  }),
  start: async ({ config, logger, telemetry, listen }) => {
    // noAsyncTraces: nats.js would capture a stack trace for every request (one per allocation or resume).
    const nc = await connectNats(config, { name: config.proxyId, noAsyncTraces: true, logger });
    telemetry.watchDependency('nats', watchNatsConnection(nc));
    recordNatsOperations(nc, createDependencyRecorder(telemetry.meter, 'nats'));
    const control = await ControlStore.open(nc, controlFreshnessOptions(config));
    const directory = await SessionDirectory.open(nc, {
      region: config.region,
      ttlMs: config.sessionTtlMs,
      replicas: config.natsReplicas,
    });
    const queue = await TicketQueue.open(nc, { region: config.region, replicas: config.natsReplicas });
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
      recordRedisOperations(redis, createDependencyRecorder(telemetry.meter, 'redis'));
      const client = redis;
      let reconnects = 0;
      client.on('reconnecting', () => reconnects++);
      telemetry.watchDependency('redis', { connected: () => client.status === 'ready', reconnects: () => reconnects });
      rateLimiter = new RateLimiter(redis, config.rateLimitPerMinute);
    }
    // Function/version labels: the control store's versions, watched (deployed ones get 0 samples).
    const metrics = new FrontEndMetrics(telemetry.meter, { service: 'grpc-proxy', catalogue: control });
    // Last-minute call summary for the heartbeat (the live status page).
    const lastMinute = new CallWindow();
    const proxy = new GrpcProxy(config, {
      metrics,
      onCallEnd: (call) => lastMinute.record(call.durationMs, isServerErrorOutcome(call.outcome)),
      tunnelRecorder: createTunnelRecorder(telemetry.meter, {
        closeReasons: TUNNEL_CLOSE_REASONS,
        connectStatuses: TUNNEL_CONNECT_STATUSES,
      }),
      nc,
      control,
      directory,
      queue,
      logger,
      rateLimiter,
      remoteDirectories,
      health,
    });
    const ports = await listen(proxy.listen(), 'set SWITCHYARD_PORT / SWITCHYARD_CALLBACK_PORT');
    // Readiness: the client and tunnel (callback) listeners accept until the drain closes them.
    let listening = true;
    telemetry.addReadinessCheck('listener', () => listening, 'listener: closed (draining)');
    const meter = telemetry.meter;
    meter
      .createObservableGauge(MetricNames.tunnelsActive, { description: 'Open worker tunnels' })
      .addCallback((r) => r.observe(proxy.tunnels.size));
    meter
      .createObservableGauge(MetricNames.sessionsActive, { description: 'Sessions with client connections here' })
      .addCallback((r) => r.observe(proxy.sessionCount));
    // Region health (D2): geodns sends clients to this region while some proxy of it beats.
    const heartbeat = new HeartbeatPublisher(nc, {
      region: config.region,
      answerBeatRequests: true,
      kind: 'grpc-proxy',
      instanceId: config.proxyId,
      intervalMs: config.heartbeatIntervalMs,
      collect: () => ({
        ...(config.advertiseAddresses.length > 0 ? { addresses: { grpc: [...config.advertiseAddresses] } } : {}),
        sessions: proxy.sessionCount,
        calls: lastMinute.summary(),
      }),
    });
    heartbeat.start();
    return {
      readyLog: ports,
      readyLine: { proxyId: config.proxyId, ...ports },
      drainMessage: 'GOAWAY to clients',
      forceExitAfterMs: 10_000,
      drain: [
        { name: 'heartbeat', run: () => heartbeat.stop() }, // leave DNS answers first
        {
          name: 'grpc',
          run: () => {
            listening = false;
            return proxy.close();
          },
        },
        { name: 'region health', run: () => health.stop() },
        {
          name: 'control store',
          run: () => {
            metrics.close();
            return control.close();
          },
        },
        { name: 'nats', run: () => nc.drain() },
        { name: 'redis', run: () => redis?.disconnect() },
      ],
    };
  },
});
