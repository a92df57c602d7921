// Renders nats-server configuration files. Everything a test depends on (listen addresses, cluster
// routes, gateways, server tags, JetStream store) is written out explicitly rather than passed as flags.

/** A remote gateway (another cluster of a supercluster) as named in a nats `gateway.gateways` block. */
export interface NatsGatewayRemote {
  /** Name of the remote cluster (= its gateway name). */
  name: string;
  /** Gateway URLs of some or all of its servers, e.g. `nats://127.0.0.1:<gatewayPort>`. */
  urls: string[];
}

/** Everything needed to write one server's config file. Ports are on 127.0.0.1. */
export interface NatsServerPlan {
  name: string;
  port: number;
  monitorPort: number;
  jetstream: boolean;
  storeDir: string;
  tags: string[];
  cluster?: { name: string; port: number; routePorts: number[] };
  /** `advertise`: the `host:port` other clusters learn for this server's gateway (e.g. a relay in front of it). */
  gateway?: { name: string; port: number; remotes: NatsGatewayRemote[]; advertise?: string };
}

/** Returns the text of a nats-server config file for `plan`. */
export function renderNatsConfig(plan: NatsServerPlan): string {
  const q = (s: string) => JSON.stringify(s);
  const lines = [
    `server_name: ${q(plan.name)}`,
    `listen: ${q(`127.0.0.1:${plan.port}`)}`,
    `http: ${q(`127.0.0.1:${plan.monitorPort}`)}`,
    'logtime: true',
  ];
  if (plan.tags.length > 0) lines.push(`server_tags: [${plan.tags.map(q).join(', ')}]`);
  if (plan.jetstream) lines.push(`jetstream {`, `  store_dir: ${q(plan.storeDir)}`, `}`);
  if (plan.cluster !== undefined) {
    const routes = plan.cluster.routePorts.map((p) => q(`nats-route://127.0.0.1:${p}`));
    lines.push(
      'cluster {',
      `  name: ${q(plan.cluster.name)}`,
      `  listen: ${q(`127.0.0.1:${plan.cluster.port}`)}`,
      `  routes: [${routes.join(', ')}]`,
      '}',
    );
  }
  if (plan.gateway !== undefined) {
    lines.push('gateway {', `  name: ${q(plan.gateway.name)}`, `  listen: ${q(`127.0.0.1:${plan.gateway.port}`)}`);
    if (plan.gateway.advertise !== undefined) lines.push(`  advertise: ${q(plan.gateway.advertise)}`);
    lines.push('  gateways: [');
    for (const remote of plan.gateway.remotes) {
      lines.push(`    { name: ${q(remote.name)}, urls: [${remote.urls.map(q).join(', ')}] }`);
    }
    lines.push('  ]', '}');
  }
  return `${lines.join('\n')}\n`;
}
