// Which SWITCHYARD_* variables each service reads, from docs/configuration.md (itself checked against
// the config schemas by test/config-doc.test.ts), for the tests of the deploy kit: the Helm charts and
// the systemd env files may set only these. Names still being added by other work are listed in
// PENDING_VARIABLES with the work they wait on; once that work lands they are documented and the entry
// can go.

import { readFileSync } from 'node:fs';

/** The services `switchyard serve` runs, as docs/configuration.md heads their sections. */
export const DEPLOYED_SERVICES = ['grpc-proxy', 'invocation', 'api', 'worker', 'geodns'] as const;
/** One of DEPLOYED_SERVICES. */
export type DeployedService = (typeof DEPLOYED_SERVICES)[number];

const ALL = DEPLOYED_SERVICES;
const NATS_CLIENT = [
  'SWITCHYARD_NATS_CREDS',
  'SWITCHYARD_NATS_USER',
  'SWITCHYARD_NATS_PASSWORD',
  'SWITCHYARD_NATS_TLS_CA',
  'SWITCHYARD_NATS_TLS_CERT',
  'SWITCHYARD_NATS_TLS_KEY',
  'SWITCHYARD_NATS_INBOX_PREFIX',
];

/**
 * Variables the deploy kit sets before docs/configuration.md lists them: name -> the services that
 * will read it and the work that adds it. Every entry is an assumption about a name to be checked
 * when that work merges.
 */
export const PENDING_VARIABLES: Readonly<Record<string, { services: readonly DeployedService[]; by: string }>> = {
  ...Object.fromEntries(
    NATS_CLIENT.map((name) => [name, { services: ALL, by: 'NATS credentials and TLS (security)' }]),
  ),
  SWITCHYARD_TLS_CERT_FILE: { services: ['grpc-proxy'], by: 'listener TLS of the gRPC proxy (tls)' },
  SWITCHYARD_TLS_KEY_FILE: { services: ['grpc-proxy'], by: 'listener TLS of the gRPC proxy (tls)' },
  SWITCHYARD_CALLBACK_TLS_CERT_FILE: { services: ['grpc-proxy', 'invocation'], by: 'callback listener TLS (tls)' },
  SWITCHYARD_CALLBACK_TLS_KEY_FILE: { services: ['grpc-proxy', 'invocation'], by: 'callback listener TLS (tls)' },
};

/**
 * The variables docs/configuration.md documents per service (its `## <service>` tables).
 * @throws Error when a service has no section (the document's layout changed).
 */
export function documentedVariables(
  docPath = new URL('../docs/configuration.md', import.meta.url),
): Map<DeployedService, Set<string>> {
  const doc = readFileSync(docPath, 'utf8');
  const result = new Map<DeployedService, Set<string>>();
  let current: DeployedService | undefined;
  for (const line of doc.split('\n')) {
    const heading = /^## (\S+)\s*$/.exec(line);
    if (heading) {
      current = (DEPLOYED_SERVICES as readonly string[]).includes(heading[1] ?? '')
        ? (heading[1] as DeployedService)
        : undefined;
      if (current) result.set(current, new Set());
      continue;
    }
    const row = /^\| `(SWITCHYARD_[A-Z0-9_]+)` \|/.exec(line);
    if (current && row?.[1]) result.get(current)?.add(row[1]);
  }
  for (const service of DEPLOYED_SERVICES) {
    if (!result.get(service)?.size) throw new Error(`docs/configuration.md has no variables for ${service}`);
  }
  return result;
}

/**
 * The names in `names` that `service` neither documents nor will read (PENDING_VARIABLES).
 * @returns the unknown names, in the order given; empty when all are known.
 */
export function unknownVariables(
  service: DeployedService,
  names: Iterable<string>,
  documented: Map<DeployedService, Set<string>>,
): string[] {
  const known = documented.get(service) ?? new Set<string>();
  return [...names].filter((name) => !known.has(name) && !PENDING_VARIABLES[name]?.services.includes(service));
}
