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
