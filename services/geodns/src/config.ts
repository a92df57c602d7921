// geodns configuration (SWITCHYARD_* environment, CLI overrides), validated at start. Regions carry
// their location and static addresses; addresses from heartbeats override the static ones when present.
import { isIP } from 'node:net';
import { metricsFields } from '@switchyard/config';
import { NATS_REFINE_WHEN, natsConnectionFields, refineNatsConnection } from '@switchyard/nats-connect';
import { DefaultPorts } from '@switchyard/protocol';
import { z } from 'zod';

const TOKEN = /^[A-Za-z0-9_-]+$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'must be an IPv4 or IPv6 address' });
const ipList = z.array(ipAddress).default([]);

/** One region as DNS sees it: where it is and which addresses answer for it when heartbeats name none. */
export const RegionSpecSchema = z.object({
  lat: z.number().min(-90).max(90).describe('Latitude of the region, degrees.'),
  lon: z.number().min(-180).max(180).describe('Longitude of the region, degrees.'),
  addresses: z
    .object({
      grpc: ipList.describe('A/AAAA answers for grpc.<domain> (the region grpc-proxy front).'),
      http: ipList.describe('A/AAAA answers for *.invocation.<domain> (the region invocation front).'),
      api: ipList.describe('A/AAAA answers for api.<domain>.'),
    })
    .default({ grpc: [], http: [], api: [] })
    .describe('Static addresses per service; live heartbeat addresses win when any are advertised.'),
});
/** One configured region. */
export type RegionSpec = z.infer<typeof RegionSpecSchema>;

/** Names of the zone answered with region addresses (dns-answer.ts classifyName), relative to the apex. */
function isServedName(relative: string): boolean {
  return relative === 'grpc' || relative === 'api' || relative === 'invocation' || relative.endsWith('.invocation');
}

/**
 * The delegation rules of `nameservers` and `nameserverAddresses`: an NS name inside the zone has
 * addresses (else resolvers that follow the NS set find nothing there); addresses are given only for
 * NS names inside the zone (others are not answered here); an NS name is none of the served names.
 */
function refineNameservers(value: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const domain = String(value.domain).toLowerCase().replace(/\.$/, '');
  const names = (value.nameservers as unknown[]).map((n) => String(n).toLowerCase());
  const addresses = (
    typeof value.nameserverAddresses === 'object' && value.nameserverAddresses !== null ? value.nameserverAddresses : {}
  ) as Record<string, unknown>;
  const inZone = (name: string) => name.endsWith(`.${domain}`);
  for (const name of names) {
    if (!inZone(name)) continue;
    if (isServedName(name.slice(0, -domain.length - 1)))
      ctx.addIssue({
        code: 'custom',
        path: ['nameservers'],
        message: `${name} is answered with region addresses (grpc., api., *.invocation.); name the nameservers otherwise, e.g. ns1.${domain}`,
      });
    else if (!Object.hasOwn(addresses, name.toLowerCase()))
      ctx.addIssue({
        code: 'custom',
        path: ['nameserverAddresses'],
        message: `${name} is inside ${domain}, so this server answers for it and needs its addresses (the parent's glue): {"${name}": ["<IP>"]}`,
      });
  }
  for (const name of Object.keys(addresses)) {
    const n = name.toLowerCase();
    if (!inZone(n))
      ctx.addIssue({
        code: 'custom',
        path: ['nameserverAddresses'],
        message: `${name} is outside ${domain}: its addresses are served by its own zone, not here`,
      });
    else if (!names.includes(n))
      ctx.addIssue({
        code: 'custom',
        path: ['nameserverAddresses'],
        message: `${name} is not in SWITCHYARD_NAMESERVERS`,
      });
  }
}

/** Schema of the geodns configuration; `loadConfig(GeoDnsConfigSchema, ...)` resolves it. */
export const GeoDnsConfigSchema = z
  .object({
    domain: z
      .string()
      .transform((s) => s.toLowerCase().replace(/\.$/, ''))
      .pipe(z.string().regex(HOSTNAME, 'must be a DNS name such as switchyard.example.com'))
      .default('switchyard.local')
      .describe('Zone this server is authoritative for; it answers grpc., *.invocation. and api.<domain>.'),
    host: z.string().default('0.0.0.0').describe('Interface of the UDP and TCP listeners (:: for IPv6 and IPv4).'),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(DefaultPorts.geodns)
      .describe('UDP and TCP port (53 in production; 0 = any free port).'),
    natsServers: z
      .array(z.string().min(1))
      .min(1)
      .describe('NATS servers (comma-separated URLs); heartbeats of every region arrive over the gateways.'),
    ...natsConnectionFields,
    geoRegions: z
      .record(z.string().regex(TOKEN, 'region names must be NATS subject tokens'), RegionSpecSchema)
      .refine((r) => Object.keys(r).length > 0, { message: 'at least one region is required' })
      .describe(
        'Regions as JSON: {"<name>": {"lat": 39.0, "lon": -77.5, "addresses": {"grpc": ["203.0.113.10"], "http": [...], "api": [...]}}}.',
      ),
    defaultRegion: z
      .string()
      .optional()
      .describe(
        'Region for clients whose location is unknown (private or unlisted addresses), and the answer when no region is healthy. Default: the first region.',
      ),
    ttlSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(30)
      .describe('TTL of A/AAAA answers, and of negative answers (SOA minimum), in seconds.'),
    staleAfterIntervals: z
      .number()
      .positive()
      .default(2)
      .describe('A region leaves answers when none of its proxies beat for this many of their intervals (D2).'),
    nameservers: z
      .array(z.string().regex(HOSTNAME))
      .default([])
      .describe(
        'NS names of the zone, answered at the apex in this order (the first is the SOA MNAME); the parent zone delegates to the same names. A name inside the zone needs its addresses in SWITCHYARD_NAMESERVER_ADDRESSES. Default: ns.<domain>, a placeholder for a zone nobody delegates (dev).',
      ),
    nameserverAddresses: z
      .record(z.string().regex(HOSTNAME, 'must be a DNS name'), z.array(ipAddress).min(1))
      .default({})
      .describe(
        'Addresses of the NS names inside the zone as JSON, {"ns1.<domain>": ["203.0.113.53"], ...}: answered as their A/AAAA records (and as additional records of the apex NS answer), the same addresses as the glue records at the parent zone. Names outside the zone are not answered here.',
      ),
    hostmaster: z
      .string()
      .regex(HOSTNAME)
      .optional()
      .describe('SOA RNAME (mailbox as a DNS name). Default: hostmaster.<domain>.'),
    tcpIdleTimeoutMs: z.number().int().min(100).default(10_000).describe('TCP connections idle this long are closed.'),
    ...metricsFields,
  })
  .superRefine(
    (c, ctx) => {
      const regions = (c.geoRegions ?? {}) as Record<string, unknown>;
      if (c.defaultRegion !== undefined && !Object.hasOwn(regions, c.defaultRegion))
        ctx.addIssue({
          code: 'custom',
          path: ['defaultRegion'],
          message: `must be one of the configured regions (${Object.keys(regions).join(', ')})`,
        });
    },
    {
      // Also when other fields failed, so every problem is reported at once; needs the region names only.
      when: (payload) => {
        const value = payload.value as { geoRegions?: unknown; defaultRegion?: unknown };
        return (
          typeof value?.defaultRegion === 'string' && typeof value.geoRegions === 'object' && value.geoRegions !== null
        );
      },
    },
  )
  .superRefine(refineNameservers, {
    // Also when other fields failed, so every problem is reported at once; needs the names only.
    when: (payload) => {
      const value = payload.value as { domain?: unknown; nameservers?: unknown };
      return typeof value?.domain === 'string' && Array.isArray(value.nameservers);
    },
  })
  .superRefine(refineNatsConnection, NATS_REFINE_WHEN);

/** Resolved, frozen geodns configuration. */
export type GeoDnsConfig = z.infer<typeof GeoDnsConfigSchema>;
