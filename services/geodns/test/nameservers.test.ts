// The zone's own nameservers, as a delegation needs them: NS and SOA at the apex, and A/AAAA for the
// NS names inside the zone (the addresses the parent's glue carries), also in the additional section
// of an NS answer. services/geodns/src/main.ts runs as a process and is asked over UDP and TCP.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig } from '@switchyard/config';
import { GeoDnsConfigSchema } from '@switchyard/geodns';
import { type NatsServerHandle, startNats, stopAll, waitFor } from '@switchyard/testkit';
import { addressesOf, query } from './dns-client.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ZONE = 'sy.example.test';
const NAMESERVERS = [`ns1.${ZONE}`, `ns2.${ZONE}`, 'ns.dns-provider.example'];
const NAMESERVER_ADDRESSES = { [`ns1.${ZONE}`]: ['192.0.2.53', '2001:db8::53'], [`ns2.${ZONE}`]: ['198.51.100.53'] };
const REGIONS = { 'us-east': { lat: 39, lon: -77.5, addresses: { grpc: ['192.0.2.10'] } } };

after(() => stopAll());

describe('geodns: its own nameservers', () => {
  let nats: NatsServerHandle;
  let child: ReturnType<typeof spawn>;
  let port = 0;
  let stderr = '';

  before(async () => {
    nats = await startNats({});
    child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        SWITCHYARD_LOG_LEVEL: 'warn',
        SWITCHYARD_NATS_SERVERS: nats.url,
        SWITCHYARD_HOST: '127.0.0.1',
        SWITCHYARD_PORT: '0',
        SWITCHYARD_METRICS_ENABLED: 'false',
        SWITCHYARD_DOMAIN: ZONE,
        SWITCHYARD_GEO_REGIONS: JSON.stringify(REGIONS),
        SWITCHYARD_NAMESERVERS: NAMESERVERS.join(','),
        SWITCHYARD_NAMESERVER_ADDRESSES: JSON.stringify(NAMESERVER_ADDRESSES),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout?.on('data', (d) => {
      stdout += d;
    });
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await waitFor(() => stdout.includes('\n') || child.exitCode !== null, { timeoutMs: 30_000 });
    assert.equal(child.exitCode, null, stderr);
    port = JSON.parse(stdout.split('\n')[0] as string).port;
  });

  after(async () => {
    if (child?.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await nats?.stop();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    test(`${transport}: should answer A and AAAA for its in-zone NS names, authoritatively`, async () => {
      const a1 = await query(port, `ns1.${ZONE}`, { transport });
      assert.equal(a1.rcodeNumber, 0, stderr);
      assert.equal(a1.flag_aa, true);
      assert.deepEqual(addressesOf(a1), ['192.0.2.53']);
      const aaaa1 = await query(port, `NS1.${ZONE}.`, { type: 'AAAA', transport });
      assert.deepEqual(addressesOf(aaaa1), ['2001:db8::53']);
      assert.deepEqual(addressesOf(await query(port, `ns2.${ZONE}`, { transport })), ['198.51.100.53']);
      // ns2 has no IPv6 address: NODATA (the name exists), with the SOA for negative caching
      const aaaa2 = await query(port, `ns2.${ZONE}`, { type: 'AAAA', transport });
      assert.equal(aaaa2.rcodeNumber, 0);
      assert.deepEqual(addressesOf(aaaa2), []);
      assert.equal(aaaa2.authorities?.[0]?.type, 'SOA');
      const txt = await query(port, `ns1.${ZONE}`, { type: 'TXT', transport });
      assert.equal(txt.rcodeNumber, 0);
      assert.equal(txt.answers?.length, 0);
      // a name that is no NS name stays NXDOMAIN; the out-of-zone NS name is not ours to answer
      assert.equal((await query(port, `ns3.${ZONE}`, { transport })).rcodeNumber, 3);
      assert.equal((await query(port, 'ns.dns-provider.example', { transport })).rcodeNumber, 5);
    });

    test(`${transport}: should answer NS and SOA at the apex, with the in-zone NS addresses as additional records`, async () => {
      const ns = await query(port, ZONE, { type: 'NS', transport });
      assert.equal(ns.rcodeNumber, 0);
      assert.equal(ns.flag_aa, true);
      assert.deepEqual(
        ns.answers?.map((a) => (a.type === 'NS' ? a.data : a.type)),
        NAMESERVERS,
      );
      const glue = (ns.additionals ?? [])
        .flatMap((a) => (a.type === 'A' || a.type === 'AAAA' ? [`${a.name} ${a.type} ${a.data}`] : []))
        .sort();
      assert.deepEqual(glue, [
        `ns1.${ZONE} A 192.0.2.53`,
        `ns1.${ZONE} AAAA 2001:db8::53`,
        `ns2.${ZONE} A 198.51.100.53`,
      ]);
      const soa = await query(port, ZONE, { type: 'SOA', transport });
      const record = soa.answers?.[0];
      assert.equal(record?.type, 'SOA');
      assert.equal(record?.type === 'SOA' && record.data.mname, `ns1.${ZONE}`, 'MNAME is the first NS');
    });
  }
});

describe('geodns: nameserver configuration', () => {
  const load = (env: Record<string, string>) =>
    loadConfig(GeoDnsConfigSchema, {
      service: 'geodns',
      env: {
        SWITCHYARD_NATS_SERVERS: 'nats://127.0.0.1:4222',
        SWITCHYARD_DOMAIN: ZONE,
        SWITCHYARD_GEO_REGIONS: JSON.stringify(REGIONS),
        ...env,
      },
    });
  const problems = (env: Record<string, string>): string => {
    try {
      load(env);
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return '';
  };

  test('should list an in-zone NS name without addresses, and addresses of a name that is no in-zone NS', () => {
    const message = problems({
      SWITCHYARD_NAMESERVERS: `ns1.${ZONE},ns2.${ZONE},ns.dns-provider.example`,
      SWITCHYARD_NAMESERVER_ADDRESSES: JSON.stringify({
        [`ns1.${ZONE}`]: ['192.0.2.53'],
        'ns.dns-provider.example': ['203.0.113.53'],
        [`ns9.${ZONE}`]: ['203.0.113.54'],
      }),
    });
    assert.match(message, new RegExp(`ns2\\.${ZONE.replaceAll('.', '\\.')}.*needs its addresses`));
    assert.match(message, /ns\.dns-provider\.example.*outside/);
    assert.match(message, /ns9\..*not in SWITCHYARD_NAMESERVERS/);
  });

  test('should refuse an NS name that is one of the served names, and an address that is no IP', () => {
    const message = problems({
      SWITCHYARD_NAMESERVERS: `grpc.${ZONE}`,
      SWITCHYARD_NAMESERVER_ADDRESSES: JSON.stringify({ [`grpc.${ZONE}`]: ['not-an-ip'] }),
    });
    assert.match(message, /grpc\..*answered with region addresses/);
    assert.match(message, /IPv4 or IPv6/);
  });

  test('should accept NS names outside the zone alone (their addresses are not ours), and the default ns.<domain>', () => {
    assert.deepEqual(load({ SWITCHYARD_NAMESERVERS: 'ns.dns-provider.example' }).nameserverAddresses, {});
    assert.deepEqual(load({}).nameservers, []);
  });
});
