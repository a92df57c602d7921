// Entry of the operator API: load config (bad config: exit 1 listing every problem), start
// telemetry, connect to NATS, open the control store and session directories, listen, print one
// ready line on stdout, and drain on SIGTERM/SIGINT (@switchyard/service-main).

import { randomUUID } from 'node:crypto';
import { readTlsPair } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { connectNats, recordNatsOperations, watchNatsConnection } from '@switchyard/nats-connect';
import { RegionHealthView } from '@switchyard/region-health';
import { runService } from '@switchyard/service-main';
import { SessionDirectory } from '@switchyard/session-directory';
import { createDependencyRecorder } from '@switchyard/telemetry';
import { buildApp } from './app.ts';
import { loadApiConfig } from './config.ts';

const instanceId = `api-${randomUUID().slice(0, 8)}`;
await runService({
  service: 'api',
  loadConfig: () => loadApiConfig(),
  identify: (config) => ({
    region: config.region,
    instanceId,
    metricsEnabled: config.metricsEnabled,
    metricsHost: config.metricsHost,
    metricsPort: config.metricsPort,
  }),
  start: async ({ config, logger, telemetry, listen }) => {
    const nc = await connectNats(config, { name: instanceId, reconnectTimeWait: 500, logger });
    telemetry.watchDependency('nats', watchNatsConnection(nc));
    recordNatsOperations(nc, createDependencyRecorder(telemetry.meter, 'nats'));
    const controlStore = await ControlStore.open(nc, { replicas: config.natsReplicas });
    const directories = await Promise.all(
      config.regions.map((region) =>
        SessionDirectory.open(nc, {
          region,
          ...(region === config.region
            ? { create: true, ttlMs: config.sessionTtlMs, replicas: config.natsReplicas }
            : { create: false }),
        }),
      ),
    );
    // Heartbeats of every region (gateways carry them): GET /v1/status and the /ui page.
    const health = await RegionHealthView.start(nc);
    const app = buildApp({
      adminToken: config.adminToken,
      region: config.region,
      nc,
      controlStore,
      directories,
      logger,
      tls: readTlsPair(config.tlsCertFile, config.tlsKeyFile),
      health,
      limits: config.limits,
    });
    await listen(app.listen({ host: config.host, port: config.port }), 'set SWITCHYARD_PORT / SWITCHYARD_HOST');
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : config.port;
    return {
      readyLog: { host: config.host, port, regions: config.regions },
      readyLine: { port },
      drainMessage: 'draining requests',
      drain: [
        { name: 'http', run: () => app.close() },
        { name: 'region health', run: () => health.stop() },
        { name: 'control store', run: () => controlStore.close() },
        { name: 'session directories', run: () => Promise.all(directories.map((d) => d.close())) },
        { name: 'nats', run: () => nc.drain() },
      ],
    };
  },
});
