// The region chart's NATS nkey mode (nats.auth.type nkey) against real nats-servers of
// infra/nats/production (its users.conf: one nkey user per service, mutual TLS, `_INBOX_<role>`
// inboxes). The chart is rendered with ci/nkey-values.yaml, whose seeds are the servers' users; each
// Deployment becomes a process as the kubelet would make it: the Secret volumes written as files at
// their mount paths (under a temporary root), env resolved in order (downward API, secretKeyRef,
// `$(VAR)`), and the service started from it. Changed from the rendering, and only these: listen
// ports (free ports instead of the fixed container ports, the machine is shared), paths (the
// temporary root in front of each mount path), the NATS URLs, nats.replicas 1 and the Redis URL.

import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ServiceName } from '@switchyard/config';
import { freePort, startRedis, stopAll } from '@switchyard/testkit';
import { parse as parseYaml } from 'yaml';
import { helmBinary } from './helm-binary.ts';
import { type K8sObject, parseManifests, runHelm } from './k8s-manifests.ts';
import { ProductionNats, ROLES, type Role, ServiceProcess } from './nats-production-stack.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHART = 'infra/helm/switchyard';
const VALUES = `${CHART}/ci/nkey-values.yaml`;
const REGION = 'us-east';
const dir = mkdtempSync(join(tmpdir(), 'switchyard-helm-nkey-'));

type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
};
type Container = {
  args: string[];
  env: EnvVar[];
  ports: { containerPort: number }[];
  volumeMounts: { name: string; mountPath: string }[];
};
type Volume = {
  name: string;
  emptyDir?: object;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
};

/** A Deployment as a process would run it: its service, its resolved environment, where its files are. */
interface Pod {
  service: ServiceName;
  env: Record<string, string>;
  podRoot: string;
}

let nats: ProductionNats;
let objects: K8sObject[] = [];
const secrets = new Map<string, Record<string, Buffer>>();
const services: ServiceProcess[] = [];

/** The files and environment of one Deployment's Switchyard container, as the kubelet would make them. */
async function podOf(d: K8sObject): Promise<Pod> {
  const spec = d.spec.template.spec as { containers: Container[]; volumes: Volume[] };
  const container = spec.containers[0] as Container;
  const service = container.args[0] as ServiceName;
  const podRoot = join(dir, d.metadata.name);
  for (const mount of container.volumeMounts) {
    const volume = spec.volumes.find((v) => v.name === mount.name);
    assert.ok(volume, `${d.metadata.name}: volumeMount ${mount.name} has no volume`);
    const at = join(podRoot, mount.mountPath);
    mkdirSync(at, { recursive: true });
    if (volume.secret === undefined) continue;
    const data = secrets.get(volume.secret.secretName);
    assert.ok(data, `${d.metadata.name}: Secret ${volume.secret.secretName} does not exist`);
    const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
    for (const { key, path } of items) {
      const bytes = data[key];
      assert.ok(bytes, `${d.metadata.name}: Secret ${volume.secret.secretName} has no key ${key}`);
      writeFileSync(join(at, path), bytes, { mode: 0o440 });
    }
  }
  const ports = new Map<string, string>();
  for (const p of container.ports) ports.set(String(p.containerPort), String(await freePort()));
  const env: Record<string, string> = {};
  for (const e of container.env) {
    let value: string;
    if (e.value !== undefined) value = e.value.replace(/\$\(([A-Z_]+)\)/g, (m, name: string) => env[name] ?? m);
    else if (e.valueFrom?.fieldRef) {
      const field = e.valueFrom.fieldRef.fieldPath;
      value = field === 'metadata.name' ? `${d.metadata.name}-0` : '127.0.0.1'; // status.podIP, status.hostIP
    } else {
      const ref = e.valueFrom?.secretKeyRef;
      const bytes = ref && secrets.get(ref.name)?.[ref.key];
      assert.ok(bytes, `${d.metadata.name} ${e.name}: Secret ${ref?.name} key ${ref?.key} does not exist`);
      value = bytes.toString('utf8');
    }
    // paths of mounted files live under the pod's root; listen ports are free ones
    if (container.volumeMounts.some((m) => value.startsWith(`${m.mountPath}/`))) value = join(podRoot, value);
    if (/PORT$/.test(e.name) && ports.has(value)) value = ports.get(value) as string;
    if (e.name === 'SWITCHYARD_CALLBACK_URI')
      value = value.replace(/:(\d+)$/, (_m, p: string) => `:${ports.get(p) ?? p}`);
    env[e.name] = value;
  }
  return { service, env, podRoot };
}

function deploymentOf(service: string): K8sObject {
  const d = objects.find((o) => o.kind === 'Deployment' && o.spec.template.spec.containers[0].args[0] === service);
  assert.ok(d, `no Deployment of ${service}`);
  return d;
}

/** Public nkeys of the clients connected to a region's servers (`/connz?auth=true`). */
async function connectedNkeys(): Promise<string[]> {
  const keys: string[] = [];
  for (const url of nats.monitorUrls(REGION)) {
    const connz = (await (await fetch(`${url}/connz?auth=true&limit=1024`)).json()) as {
      connections?: { authorized_user?: string }[];
    };
    for (const c of connz.connections ?? []) if (c.authorized_user) keys.push(c.authorized_user);
  }
  return keys;
}

before(async () => {
  const values = parseYaml(readFileSync(join(root, VALUES), 'utf8'));
  const seeds = values.nats.auth.nkeySeeds as Record<Role, string>;
  nats = await ProductionNats.start(dir, seeds);
  const redis = await startRedis();
  const r = runHelm(
    helmBinary(),
    [
      'template',
      'sy',
      CHART,
      '-n',
      'switchyard',
      '-f',
      VALUES,
      '--set',
      `nats.servers={${nats.urls(REGION).join(',')}}`,
      '--set',
      'nats.replicas=1',
      '--set',
      `redis.url=${redis.url}`,
    ],
    root,
  );
  assert.equal(r.status, 0, r.stderr);
  objects = parseManifests(r.stdout);
  for (const s of objects.filter((o) => o.kind === 'Secret'))
    secrets.set(
      s.metadata.name,
      Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v as string, 'base64')])),
    );
  // nats.tls.existingSecret of the value set: the operator's Secret (ca.crt, tls.crt, tls.key)
  const tlsSecret = values.nats.tls.existingSecret as string;
  assert.ok(!secrets.has(tlsSecret), `${tlsSecret} is the operator's, not rendered`);
  secrets.set(tlsSecret, {
    'ca.crt': readFileSync(nats.certs.ca),
    'tls.crt': readFileSync(nats.certs.leaves.client.cert),
    'tls.key': readFileSync(nats.certs.leaves.client.key),
  });
});

after(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await nats?.stop();
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('helm chart nats.auth.type nkey against infra/nats/production users', () => {
  test('should start every service from the rendered pod, each as its own nkey user, with no permission violation', async () => {
    // the api first: it creates the control buckets the others open read only
    const pods = new Map<string, Pod>();
    for (const service of ROLES) pods.set(service, await podOf(deploymentOf(service)));
    const start = (service: string) => {
      const pod = pods.get(service) as Pod;
      const proc = new ServiceProcess(`chart-${service}`, pod.service, pod.env);
      services.push(proc);
      return proc.ready(90_000);
    };
    await start('api');
    const [, , dns] = await Promise.all(['grpc-proxy', 'invocation', 'geodns'].map(start));

    // geodns as rendered answers for the zone's own nameservers (geodns.nameserverAddresses)
    const resolver = new Resolver({ timeout: 2_000, tries: 3 });
    resolver.setServers([`127.0.0.1:${dns?.port}`]);
    assert.deepEqual(await resolver.resolve4('ns1.switchyard.example.com'), ['203.0.113.53']);
    assert.deepEqual(await resolver.resolve6('ns1.switchyard.example.com'), ['2001:db8::53']);

    // each seed file the chart mounted is the role's own, and the servers hold its public key
    const connected = new Set(await connectedNkeys());
    for (const role of ROLES) {
      const seedFile = pods.get(role)?.env.SWITCHYARD_NATS_NKEY_SEED ?? '';
      assert.equal(readFileSync(seedFile, 'utf8').trim(), readFileSync(nats.users[role].seedFile, 'utf8').trim());
      assert.ok(connected.has(nats.users[role].publicKey), `${role}'s nkey is not connected`);
    }
    // nothing was refused by the permissions (a seed mounted for the wrong role would be)
    assert.deepEqual(nats.violations(), []);
    for (const s of services) assert.ok(!s.lines.some((l) => /permissions violation/i.test(l)), s.name);
  });

  test('should be refused its subjects when a pod gets another role’s seed (the roles are real)', async () => {
    // geodns's environment with the invocation service's seed: the invocation user may not subscribe
    // to health.> nor to _INBOX_geodns, so the server refuses and the service says so
    const pod = await podOf(deploymentOf('geodns'));
    const other = await podOf(deploymentOf('invocation'));
    const proc = new ServiceProcess('chart-geodns-wrong-seed', 'geodns', {
      ...pod.env,
      SWITCHYARD_NATS_NKEY_SEED: other.env.SWITCHYARD_NATS_NKEY_SEED as string,
    });
    services.push(proc);
    await proc.line(/NATS permissions violation/, 60_000);
    assert.ok(nats.violations().some((l) => l.includes(nats.users.invocation.publicKey)));
    await proc.stop();
  });
});
