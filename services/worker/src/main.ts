// Worker entry: load config (exit 1 listing every problem), connect NATS, open the session directory,
// ticket queue and control store, start taking tickets; SIGTERM/SIGINT end every session and exit 0
// (@switchyard/service-main).
import { loadConfig } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { connectNats, recordNatsOperations, watchNatsConnection } from '@switchyard/nats-connect';
import { HeartbeatPublisher } from '@switchyard/region-health';
import { runService } from '@switchyard/service-main';
import { SessionDirectory } from '@switchyard/session-directory';
import { createDependencyRecorder, createWorkerRecorder, MetricNames } from '@switchyard/telemetry';
import { TicketQueue } from '@switchyard/ticket-queue';
import { Worker } from './app.ts';
import { WorkerConfigSchema } from './config.ts';

await runService({
  service: 'worker',
  loadConfig: () => loadConfig(WorkerConfigSchema, { service: 'worker' }),
  identify: (config) => ({
    region: config.region,
    instanceId: config.workerId,
    logFields: { workerId: config.workerId },
    metricsEnabled: config.metricsEnabled,
    metricsHost: config.metricsHost,
    metricsPort: config.metricsPort,
    // Spent body Buffers of an HTTP function's uploads and downloads are reclaimed between V8's own
    // collections (docs/configuration.md, "Node options"). A gRPC function's worker does not run it:
    // with many concurrent streams the forced collections promote in-flight objects early and cost
    // more CPU per MB than the memory they save (bench/RESULTS.md).
    nodeRuntime: config.upstream.startsWith('http:'),
  }),
  start: async ({ config, logger, telemetry }) => {
    // noAsyncTraces: nats.js would capture a stack trace for every request (one per allocation or resume).
    const nc = await connectNats(config, { name: `worker-${config.workerId}`, noAsyncTraces: true, logger });
    telemetry.watchDependency('nats', watchNatsConnection(nc));
    recordNatsOperations(nc, createDependencyRecorder(telemetry.meter, 'nats'));
    const directory = await SessionDirectory.open(nc, {
      region: config.region,
      ttlMs: config.sessionTtlMs,
      replicas: config.natsReplicas,
    });
    const queue = await TicketQueue.open(nc, { region: config.region, replicas: config.natsReplicas });
    // Read only: the api creates the control buckets (a worker user may not create them).
    // Read (reconnect windows), never authorize: no freshness probes across the gateway.
    const control = await ControlStore.open(nc, { create: false, probeIntervalMs: 0 });
    // Capacity is observed at each scrape; `worker` is set before the first one can happen.
    let workerRef: Worker | undefined;
    const recorder = createWorkerRecorder(telemetry.meter, config.versionId, {
      total: () => config.concurrency,
      used: () => workerRef?.usedCapacity ?? 0,
    });
    const worker = new Worker(config, {
      recorder,
      nc,
      directory,
      queue,
      logger,
      functionReconnectWindowMs: () => control.getFunction(config.functionId)?.reconnectWindowMs,
    });
    workerRef = worker;
    await worker.start();
    // Region health: free capacity per version, for spill-over decisions (issue 4, item 3).
    const heartbeat = new HeartbeatPublisher(nc, {
      region: config.region,
      kind: 'worker',
      instanceId: config.workerId,
      intervalMs: config.heartbeatIntervalMs,
      collect: () => ({
        versionId: config.versionId,
        freeCapacity: worker.freeCapacity,
        capacity: config.concurrency,
        sessions: worker.sessionCount,
      }),
    });
    heartbeat.start();
    const meter = telemetry.meter;
    meter
      .createObservableGauge(MetricNames.workerCapacityFree, { description: 'Free session slots of this worker' })
      .addCallback((r) => r.observe(worker.freeCapacity));
    meter
      .createObservableGauge(MetricNames.sessionsActive, { description: 'Sessions held by this worker' })
      .addCallback((r) => r.observe(worker.sessionCount));
    const { functionId, versionId, upstream } = config;
    return {
      readyLog: { functionId, versionId, upstream },
      readyLine: { workerId: config.workerId, functionId, versionId },
      drainMessage: 'ending sessions',
      forceExitAfterMs: 10_000,
      drain: [
        { name: 'heartbeat', run: () => heartbeat.stop() },
        { name: 'worker', run: () => worker.stop() },
        { name: 'control store', run: () => control.close() },
        { name: 'nats', run: () => nc.drain() },
      ],
    };
  },
});
