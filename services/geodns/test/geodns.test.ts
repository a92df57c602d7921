import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '@switchyard/config';
import { GeoDns, GeoDnsConfigSchema, locate } from '@switchyard/geodns';
import type { InstanceKind } from '@switchyard/protocol';
import { HeartbeatPublisher, RegionHealthView } from '@switchyard/region-health';
import { type NatsServerHandle, startNats, waitFor } from '@switchyard/testkit';
import { pino } from 'pino';
import { addressesOf, encodeQuery, exchange, query, subnetOf } from './dns-client.ts';

const DOMAIN = 'switchyard.test';
const INTERVAL_MS = 300;
const REGIONS = {
  'us-east': {
    lat: 39.0,
    lon: -77.5,
    addresses: { grpc: ['192.0.2.1', '2001:db8::1'], http: ['192.0.2.2'], api: ['192.0.2.3'] },
  },
  'eu-west': {
    lat: 53.3,
    lon: -6.3,
    addresses: { grpc: ['198.51.100.1', '2001:db8:1::1'], http: ['198.51.100.2'], api: ['198.51.100.3'] },
  },
};
const US = ['192.0.2.1'];
const EU = ['198.51.100.1'];

/** One region's instances beating over their own connection, so closing it is the region dying. */
class FakeRegion {
  #nc: NatsConnection | undefined;
  #beats: HeartbeatPublisher[] = [];
  readonly url: string;
  readonly region: string;
  constructor(url: string, region: string) {
    this.url = url;
    this.region = region;
  }
  async start(kinds: InstanceKind[] = ['grpc-proxy', 'invocation']): Promise<void> {
    this.#nc = await connect({ servers: this.url });
    this.#beats = kinds.map(
      (kind, i) =>
        new HeartbeatPublisher(this.#nc!, {
          region: this.region,
          kind,
          instanceId: `${kind}-${i}`,
          intervalMs: INTERVAL_MS,
        }),
    );
    for (const b of this.#beats) b.start();
  }
  /** Dies without a leaving beat. */
  async kill(): Promise<void> {
    await this.#nc?.close();
  }
}

async function regionOf(port: number, subnet: string): Promise<string> {
  const a = addressesOf(await query(port, `grpc.${DOMAIN}`, { subnet }));
  return JSON.stringify(a) === JSON.stringify(US)
    ? 'us-east'
    : JSON.stringify(a) === JSON.stringify(EU)
      ? 'eu-west'
      : `?${a}`;
}

describe('geodns', () => {
  let nats: NatsServerHandle;
  let nc: NatsConnection;
  let view: RegionHealthView;
  let dns: GeoDns;
  let port: number;
  const us = () => new FakeRegion(nats.url, 'us-east');
  const eu = () => new FakeRegion(nats.url, 'eu-west');
  let usRegion: FakeRegion;
  let euRegion: FakeRegion;

  before(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    view = await RegionHealthView.start(nc);
    const config = loadConfig(GeoDnsConfigSchema, {
      service: 'geodns',
      env: {},
      overrides: {
        domain: DOMAIN,
        host: '127.0.0.1',
        port: 0,
        natsServers: [nats.url],
        geoRegions: REGIONS,
        defaultRegion: 'eu-west',
      },
    });
    dns = new GeoDns(config, { health: view, logger: pino({ level: 'silent' }) });
    ({ port } = await dns.listen());
    usRegion = us();
    euRegion = eu();
    await Promise.all([usRegion.start(), euRegion.start()]);
    await waitFor(() => view.healthyRegions().length === 2);
  });
  after(async () => {
    await dns?.close();
    view?.stop();
    await usRegion?.kill();
    await euRegion?.kill();
    await nc?.close();
    await nats?.stop();
  });

  test('D1: the test subnets should geolocate to North America and Europe', () => {
    const na = locate('8.8.8.0');
    const ca = locate('24.48.0.0');
    const gb = locate('81.2.69.0');
    assert.ok(na && na.lon < -60 && na.lat > 25, `8.8.8.0 at ${JSON.stringify(na)}`);
    assert.ok(ca && ca.lon < -60 && ca.lat > 25, `24.48.0.0 at ${JSON.stringify(ca)}`);
    assert.ok(gb && gb.lon > -15 && gb.lon < 30 && gb.lat > 35, `81.2.69.0 at ${JSON.stringify(gb)}`);
    assert.equal(locate('127.0.0.1'), undefined);
    assert.equal(locate('10.1.2.3'), undefined);
  });

  test('D1: a client subnet in North America should get us-east, authoritatively, with the ECS scope echoed', async () => {
    const reply = await query(port, `grpc.${DOMAIN}`, { subnet: '8.8.8.0/24' });
    assert.equal(reply.rcodeNumber, 0);
    assert.equal(reply.flag_aa, true);
    assert.deepEqual(addressesOf(reply), US);
    assert.equal(reply.answers?.[0].type === 'A' && reply.answers[0].ttl, 30);
    assert.deepEqual(subnetOf(reply), {
      ...subnetOf(reply),
      ip: '8.8.8.0',
      sourcePrefixLength: 24,
      scopePrefixLength: 24,
    });
  });

  test('D1: a client subnet in Europe should get eu-west', async () => {
    assert.deepEqual(addressesOf(await query(port, `grpc.${DOMAIN}`, { subnet: '81.2.69.0/24' })), EU);
    assert.deepEqual(addressesOf(await query(port, `api.${DOMAIN}`, { subnet: '81.2.69.0/24' })), ['198.51.100.3']);
  });

  test('D1: any label(s) before .invocation. should get the region invocation addresses', async () => {
    const one = await query(port, `fn-0a1b.invocation.${DOMAIN}`, { subnet: '24.48.0.0/16' });
    assert.deepEqual(addressesOf(one), ['192.0.2.2']);
    assert.equal(subnetOf(one)?.scopePrefixLength, 16);
    const two = await query(port, `a.b.invocation.${DOMAIN.toUpperCase()}`, { subnet: '81.2.69.0/24' });
    assert.deepEqual(addressesOf(two), ['198.51.100.2']);
  });

  test('D1: without ECS the resolver address decides; 127.0.0.1 is unknown, so the default region answers', async () => {
    const plain = await query(port, `grpc.${DOMAIN}`);
    assert.deepEqual(addressesOf(plain), EU);
    assert.equal(plain.additionals?.length ?? 0, 0, 'no OPT in the answer to a query without EDNS');
    const edns = await query(port, `grpc.${DOMAIN}`, { edns: true });
    assert.deepEqual(addressesOf(edns), EU);
    assert.equal(subnetOf(edns), undefined);
    assert.equal(edns.additionals?.[0]?.type, 'OPT');
    const zero = await query(port, `grpc.${DOMAIN}`, { subnet: '0.0.0.0/0' });
    assert.deepEqual(addressesOf(zero), EU, 'source prefix 0: the resolver address decides');
  });

  test('D1: AAAA should carry the region IPv6 addresses, also for an IPv6 client subnet', async () => {
    const v4 = await query(port, `grpc.${DOMAIN}`, { type: 'AAAA', subnet: '8.8.8.0/24' });
    assert.deepEqual(addressesOf(v4), ['2001:db8::1']);
    assert.equal(v4.answers?.[0].type, 'AAAA');
    const v6 = await query(port, `grpc.${DOMAIN}`, { type: 'AAAA', subnet: '2001:4860:4860::/48' });
    assert.deepEqual(addressesOf(v6), ['2001:db8::1']);
    assert.deepEqual(
      { ip: subnetOf(v6)?.ip, source: subnetOf(v6)?.sourcePrefixLength, scope: subnetOf(v6)?.scopePrefixLength },
      { ip: '2001:4860:4860::', source: 48, scope: 48 },
    );
    const noV6 = await query(port, `api.${DOMAIN}`, { type: 'AAAA', subnet: '8.8.8.0/24' });
    assert.equal(noV6.rcodeNumber, 0);
    assert.deepEqual(addressesOf(noV6), [], 'a region without IPv6 gives NODATA');
    assert.equal(noV6.authorities?.[0]?.type, 'SOA');
  });

  test('D1: TCP should answer like UDP', async () => {
    const reply = await query(port, `grpc.${DOMAIN}`, { subnet: '8.8.8.0/24', transport: 'tcp' });
    assert.deepEqual(addressesOf(reply), US);
  });

  test('D1: unknown names in the zone should get NXDOMAIN with the SOA, other zones REFUSED', async () => {
    const nx = await query(port, `nope.${DOMAIN}`);
    assert.equal(nx.rcodeNumber, 3);
    assert.equal(nx.flag_aa, true);
    assert.equal(nx.authorities?.[0]?.type, 'SOA');
    assert.equal((await query(port, `www.api.${DOMAIN}`)).rcodeNumber, 3);
    const refused = await query(port, 'example.com');
    assert.equal(refused.rcodeNumber, 5);
    assert.equal(refused.flag_aa, false);
    assert.equal((await query(port, `grpc.not${DOMAIN}`)).rcodeNumber, 5);
    const ent = await query(port, `invocation.${DOMAIN}`);
    assert.equal(ent.rcodeNumber, 0, 'invocation.<domain> has names below it: NODATA, not NXDOMAIN');
    assert.deepEqual(addressesOf(ent), []);
  });

  test('D1: the apex should have SOA and NS; other types at a served name give NODATA', async () => {
    const soa = await query(port, DOMAIN, { type: 'SOA' });
    assert.equal(soa.answers?.[0]?.type, 'SOA');
    const ns = await query(port, DOMAIN, { type: 'NS' });
    assert.deepEqual(
      ns.answers?.map((a) => a.type === 'NS' && a.data),
      [`ns.${DOMAIN}`],
    );
    const txt = await query(port, `grpc.${DOMAIN}`, { type: 'TXT' });
    assert.equal(txt.rcodeNumber, 0);
    assert.equal(txt.answers?.length, 0);
    assert.equal(txt.authorities?.[0]?.type, 'SOA');
  });

  test('bad queries should get FORMERR, NOTIMP or BADVERS', async () => {
    assert.equal((await query(port, `grpc.${DOMAIN}`, { subnet: '8.8.8.0/33' })).rcodeNumber, 1);
    assert.equal((await query(port, `grpc.${DOMAIN}`, { opcode: 2 })).rcodeNumber, 4);
    const badvers = await query(port, `grpc.${DOMAIN}`, { edns: true, ednsVersion: 1 });
    const opt = badvers.additionals?.find((a) => a.type === 'OPT');
    assert.equal(opt?.type === 'OPT' && opt.extendedRcode, 1);
    const truncated = encodeQuery(`grpc.${DOMAIN}`).subarray(0, 20);
    assert.equal((await exchange(port, truncated)).rcodeNumber, 1);
  });

  test('D1: the TTL should be configurable', async () => {
    const config = loadConfig(GeoDnsConfigSchema, {
      service: 'geodns',
      env: { SWITCHYARD_TTL_SECONDS: '7', SWITCHYARD_GEO_REGIONS: JSON.stringify(REGIONS) },
      overrides: { domain: DOMAIN, host: '127.0.0.1', port: 0, natsServers: [nats.url] },
    });
    const other = new GeoDns(config, { health: view, logger: pino({ level: 'silent' }) });
    const { port: otherPort } = await other.listen();
    try {
      const reply = await query(otherPort, `grpc.${DOMAIN}`, { subnet: '81.2.69.0/24' });
      assert.equal(reply.answers?.[0]?.type === 'A' && reply.answers[0].ttl, 7);
      const nx = await query(otherPort, `nope.${DOMAIN}`);
      const soa = nx.authorities?.[0];
      assert.equal(soa?.type === 'SOA' && soa.data.minimum, 7);
    } finally {
      await other.close();
    }
  });

  test('D1: addresses advertised in heartbeats should override the static ones while live', async () => {
    const side = await connect({ servers: nats.url });
    const beat = new HeartbeatPublisher(side, {
      region: 'us-east',
      kind: 'grpc-proxy',
      instanceId: 'advertising',
      intervalMs: INTERVAL_MS,
      collect: () => ({ addresses: { api: ['203.0.113.9', 'not-an-ip.example'] } }),
    });
    beat.start();
    try {
      await waitFor(async () => {
        const a = addressesOf(await query(port, `api.${DOMAIN}`, { subnet: '8.8.8.0/24' }));
        return a.length === 1 && a[0] === '203.0.113.9';
      });
      await beat.stop();
      await waitFor(async () => {
        const a = addressesOf(await query(port, `api.${DOMAIN}`, { subnet: '8.8.8.0/24' }));
        return a.length === 1 && a[0] === '192.0.2.3';
      });
    } finally {
      await beat.stop();
      await side.close();
    }
  });

  test('D2: a region whose heartbeats stop should leave answers within 2 intervals and return when they resume', async () => {
    assert.equal(await regionOf(port, '8.8.8.0/24'), 'us-east');
    await usRegion.kill();
    const stoppedAt = Date.now();
    await waitFor(async () => (await regionOf(port, '8.8.8.0/24')) === 'eu-west', {
      timeoutMs: 5 * INTERVAL_MS,
      intervalMs: 20,
    });
    const left = Date.now() - stoppedAt;
    assert.ok(left <= 2 * INTERVAL_MS + 250, `us-east left answers after ${left} ms`);
    const single = await query(port, `grpc.${DOMAIN}`, { subnet: '8.8.8.0/24' });
    assert.equal(
      subnetOf(single)?.scopePrefixLength,
      0,
      'one candidate region: the answer does not depend on the subnet',
    );

    usRegion = us();
    await usRegion.start();
    await waitFor(async () => (await regionOf(port, '8.8.8.0/24')) === 'us-east', { timeoutMs: 2 * INTERVAL_MS });
    assert.equal(await regionOf(port, '81.2.69.0/24'), 'eu-west');
  });

  test('D2: with no healthy region the default region static addresses should answer', async () => {
    await Promise.all([usRegion.kill(), euRegion.kill()]);
    await waitFor(() => view.healthyRegions().length === 0, { timeoutMs: 5 * INTERVAL_MS });
    assert.equal(await regionOf(port, '8.8.8.0/24'), 'eu-west');
    usRegion = us();
    euRegion = eu();
    await Promise.all([usRegion.start(), euRegion.start()]);
    await waitFor(async () => (await regionOf(port, '8.8.8.0/24')) === 'us-east');
  });

  test('D2: a region with only an invocation instance should not get gRPC clients', async () => {
    await usRegion.kill();
    usRegion = new FakeRegion(nats.url, 'us-east');
    await usRegion.start(['invocation']);
    await waitFor(async () => (await regionOf(port, '8.8.8.0/24')) === 'eu-west', { timeoutMs: 5 * INTERVAL_MS });
    const http = await query(port, `fn.invocation.${DOMAIN}`, { subnet: '8.8.8.0/24' });
    assert.deepEqual(addressesOf(http), ['192.0.2.2']);
  });
});
