// nats-server configuration of the multi-region dev stack: the dev flavour of infra/nats/production
// (same cluster, gateway, server_tags and JetStream blocks; no TLS, no accounts: loopback only).
// See infra/nats/README.md for the mapping.

/** One server of one region's cluster. */
export interface DevNatsServerPlan {
  region: string;
  /** 1-based index in its cluster; server name `<region>-<index>`. */
  index: number;
  clientPort: number;
  monitorPort: number;
  routePort: number;
  gatewayPort: number;
  storeDir: string;
}

/**
 * Renders the config of `server`: client, monitoring, cluster (routes to its region's other servers),
 * gateway (to every region, its own included, as nats-server expects), `server_tags: region:<r>`,
 * JetStream.
 *
 * @param server the server to render.
 * @param all every server of every region (routes and gateway URLs are taken from it).
 */
export function renderDevNatsConfig(server: DevNatsServerPlan, all: readonly DevNatsServerPlan[]): string {
  const q = (s: string) => JSON.stringify(s);
  const peers = all.filter((s) => s.region === server.region && s.index !== server.index);
  // A one-server cluster routes to itself: clustered JetStream (needed across gateways) wants a route.
  const routes = (peers.length > 0 ? peers : [server]).map((s) => q(`nats-route://127.0.0.1:${s.routePort}`));
  const regions = [...new Set(all.map((s) => s.region))];
  const gateways = regions.map((region) => {
    const urls = all.filter((s) => s.region === region).map((s) => q(`nats://127.0.0.1:${s.gatewayPort}`));
    return `    { name: ${q(region)}, urls: [${urls.join(', ')}] }`;
  });
  return [
    `server_name: ${q(`${server.region}-${server.index}`)}`,
    `listen: ${q(`127.0.0.1:${server.clientPort}`)}`,
    `http: ${q(`127.0.0.1:${server.monitorPort}`)}`,
    'logtime: true',
    `server_tags: [${q(`region:${server.region}`)}]`,
    `jetstream { store_dir: ${q(server.storeDir)} }`,
    'cluster {',
    `  name: ${q(server.region)}`,
    `  listen: ${q(`127.0.0.1:${server.routePort}`)}`,
    `  routes: [${routes.join(', ')}]`,
    '}',
    'gateway {',
    `  name: ${q(server.region)}`,
    `  listen: ${q(`127.0.0.1:${server.gatewayPort}`)}`,
    '  gateways: [',
    ...gateways,
    '  ]',
    '}',
    '',
  ].join('\n');
}
