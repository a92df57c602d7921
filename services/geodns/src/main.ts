// geodns entry: load config (exit 1 listing every problem), connect NATS, watch region heartbeats,
// bind UDP and TCP; SIGTERM/SIGINT stop the listeners, drain NATS and exit 0 (@switchyard/service-main).
import { randomUUID } from 'node:crypto';
import { loadConfig } from '@switchyard/config';
import { connectNats, recordNatsOperations, watchNatsConnection } from '@switchyard/nats-connect';
import { RegionHealthView } from '@switchyard/region-health';
import { runService } from '@switchyard/service-main';
import { Attr, createDependencyRecorder, MetricNames, MetricSpecs } from '@switchyard/telemetry';
import { GeoDns } from './app.ts';
import { GeoDnsConfigSchema } from './config.ts';

const instanceId = `geodns-${randomUUID()}`;
await runService({
  service: 'geodns',
  loadConfig: () => loadConfig(GeoDnsConfigSchema, { service: 'geodns' }),
  // A global service: its logs carry no region, its metrics say `global`.
  identify: (config) => ({
    region: undefined,
    instanceId,
    logFields: { instanceId },
    metricsEnabled: config.metricsEnabled,
    metricsHost: config.metricsHost,
    metricsPort: config.metricsPort,
  }),
  start: async ({ config, logger, telemetry, listen }) => {
    const nc = await connectNats(config, { name: instanceId, logger });
    telemetry.watchDependency('nats', watchNatsConnection(nc));
    recordNatsOperations(nc, createDependencyRecorder(telemetry.meter, 'nats'));
    const view = await RegionHealthView.start(nc, { staleAfterIntervals: config.staleAfterIntervals });
    let healthy = '';
    view.on('change', () => {
      const now = view.healthyRegions().join(',');
      if (now !== healthy) logger.info({ healthyRegions: view.healthyRegions() }, 'healthy regions changed');
      healthy = now;
    });
    // Every configured region, 1/0 from the first scrape (so an alert sees a region that never beat).
    const configured = Object.keys(config.geoRegions);
    const healthySpec = MetricSpecs[MetricNames.regionHealthy];
    telemetry.meter
      .createObservableGauge(MetricNames.regionHealthy, {
        description: healthySpec.description,
        unit: healthySpec.unit,
      })
      .addCallback((result) => {
        const up = new Set(view.healthyRegions());
        for (const region of configured) result.observe(up.has(region) ? 1 : 0, { [Attr.heartbeatRegion]: region });
      });
    const ageSpec = MetricSpecs[MetricNames.regionHeartbeatAge];
    telemetry.meter
      .createObservableGauge(MetricNames.regionHeartbeatAge, { description: ageSpec.description, unit: ageSpec.unit })
      .addCallback((result) => {
        const now = Date.now();
        for (const r of view.regions())
          result.observe((now - r.lastBeatAtMs) / 1000, { [Attr.heartbeatRegion]: r.region });
      });
    const spec = MetricSpecs[MetricNames.dnsQueries];
    const queries = telemetry.meter.createCounter(MetricNames.dnsQueries, {
      description: spec.description,
      unit: spec.unit,
    });
    const dns = new GeoDns(config, {
      health: view,
      logger,
      onAnswer: (result, transport) =>
        queries.add(1, {
          [Attr.dnsRcode]: result.rcode,
          [Attr.dnsTransport]: transport,
          [Attr.dnsAnswerRegion]: result.region ?? '',
          [Attr.dnsEcs]: result.ecs ? 'true' : 'false',
        }),
    });
    const { port } = await listen(dns.listen(), 'set SWITCHYARD_PORT / SWITCHYARD_HOST');
    return {
      readyLog: { port, domain: config.domain, regions: Object.keys(config.geoRegions) },
      // `switchyard dev` waits until every region is healthy here (this line, or a later change line).
      readyLine: { port, healthyRegions: view.healthyRegions() },
      forceExitAfterMs: 10_000,
      drain: [
        { name: 'dns', run: () => dns.close() },
        { name: 'region health', run: () => view.stop() },
        { name: 'nats', run: () => nc.drain() },
      ],
    };
  },
});
