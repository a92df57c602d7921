// Entry of the operator API: load config (bad config: exit 1 listing every problem), start
// telemetry, connect to NATS, open the control store and session directories, listen, print one
// ready line on stdout, and drain on SIGTERM/SIGINT.

import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { ConfigError } from '@switchyard/config';
import { ControlStore } from '@switchyard/control-store';
import { SessionDirectory } from '@switchyard/session-directory';
import { createLogger, startTelemetry } from '@switchyard/telemetry';
import { buildApp } from './app.ts';
import { type ApiConfig, loadApiConfig } from './config.ts';

const SERVICE = 'api';

function loadOrExit(): ApiConfig {
  try {
    return loadApiConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = loadOrExit();
  const log = createLogger({ service: SERVICE, region: config.region });
  const instanceId = `${SERVICE}-${randomUUID().slice(0, 8)}`;
  const telemetry = await startTelemetry({
    service: SERVICE,
    region: config.region,
    instanceId,
    metricsPort: config.metricsPort,
  });
  const nc = await connect({
    servers: [...config.natsServers],
    name: instanceId,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
  });
  const controlStore = await ControlStore.open(nc);
  const directories = await Promise.all(
    config.regions.map((region) =>
      SessionDirectory.open(nc, {
        region,
        ...(region === config.region ? { create: true, ttlMs: config.sessionTtlMs } : { create: false }),
      }),
    ),
  );
  const app = buildApp({
    adminToken: config.adminToken,
    region: config.region,
    nc,
    controlStore,
    directories,
    logger: log,
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  log.info({ host: config.host, port, regions: config.regions }, 'api listening');
  process.stdout.write(`${JSON.stringify({ ready: true, service: SERVICE, port })}\n`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    try {
      await app.close();
      await controlStore.close();
      await Promise.all(directories.map((d) => d.close()));
      await nc.drain().catch(() => {});
      await telemetry.shutdown().catch(() => {});
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`api failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
