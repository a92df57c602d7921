// geodns entry: load config (exit 1 listing every problem), connect NATS, watch region heartbeats,
// bind UDP and TCP; SIGTERM/SIGINT stop the listeners, drain NATS and exit 0.
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { ConfigError, loadConfig } from '@switchyard/config';
import { RegionHealthView } from '@switchyard/region-health';
import { createLogger, startTelemetry } from '@switchyard/telemetry';
import { GeoDns } from './app.ts';
import { GeoDnsConfigSchema } from './config.ts';

let config: ReturnType<typeof loadConfig<typeof GeoDnsConfigSchema>>;
try {
  config = loadConfig(GeoDnsConfigSchema, { service: 'geodns' });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}

const instanceId = `geodns-${randomUUID()}`;
const logger = createLogger({ service: 'geodns' }).child({ instanceId });
const telemetry = await startTelemetry({
  service: 'geodns',
  region: 'global',
  instanceId,
  metricsPort: config.metricsPort,
});
const nc = await connect({ servers: config.natsServers, name: instanceId, maxReconnectAttempts: -1 });
const view = await RegionHealthView.start(nc, { staleAfterIntervals: config.staleAfterIntervals });
let healthy = '';
view.on('change', () => {
  const now = view.healthyRegions().join(',');
  if (now !== healthy) logger.info({ healthyRegions: view.healthyRegions() }, 'healthy regions changed');
  healthy = now;
});
const queries = telemetry.meter.createCounter('switchyard.dns.queries', { description: 'DNS queries answered' });
const dns = new GeoDns(config, {
  health: view,
  logger,
  onAnswer: (result, transport) =>
    queries.add(1, { 'dns.rcode': result.rcode, 'dns.transport': transport, 'switchyard.region': result.region ?? '' }),
});
let port: number;
try {
  ({ port } = await dns.listen());
} catch (err) {
  logger.fatal({ err }, 'could not listen');
  console.error(`geodns: could not listen: ${(err as Error).message} (set SWITCHYARD_PORT / SWITCHYARD_HOST)`);
  process.exit(1);
}
logger.info({ port, domain: config.domain, regions: Object.keys(config.geoRegions) }, 'geodns ready');
process.stdout.write(`${JSON.stringify({ ready: true, service: 'geodns', port })}\n`);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  await dns.close().catch(() => undefined);
  view.stop();
  await nc.drain().catch(() => undefined);
  await telemetry.shutdown().catch(() => undefined);
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
