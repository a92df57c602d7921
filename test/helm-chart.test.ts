// The Helm charts (infra/helm/switchyard, infra/helm/switchyard-worker), rendered by a real helm v4
// with each value set in their ci/ folders: lint --strict, every object valid against the Kubernetes
// API schemas, and what a broken chart would get wrong in a cluster: probes on ports nothing listens
// on, Secrets nobody creates, a callback URI behind a load balancer, variables no service reads.

import assert from 'node:assert/strict';
import { globSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { type DeployedService, documentedVariables, unknownVariables } from './deploy-config-names.ts';
import { helmBinary } from './helm-binary.ts';
import {
  envOf,
  type K8sObject,
  parseManifests,
  runHelm,
  schemaProblems,
  selects,
  valuesNamed,
} from './k8s-manifests.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHART = 'infra/helm/switchyard';
const WORKER_CHART = 'infra/helm/switchyard-worker';
const SERVICE_MONITOR = 'monitoring.coreos.com/v1/ServiceMonitor';
const documented = documentedVariables();
let helm = '';

before(() => {
  helm = helmBinary();
});

/** The value sets of a chart (ci/*-values.yaml, the chart-testing convention). */
function valueSets(chart: string): string[] {
  return globSync(`${chart}/ci/*-values.yaml`, { cwd: root }).sort();
}

/** Renders `chart` with a value file (and the ServiceMonitor CRD announced), failing the test on error. */
function render(chart: string, valuesFile: string, extra: string[] = []): K8sObject[] {
  const r = runHelm(
    helm,
    [
      'template',
      'sy',
      chart,
      '-n',
      'switchyard',
      '-f',
      valuesFile,
      '--api-versions',
      'monitoring.coreos.com/v1',
      ...extra,
    ],
    root,
  );
  assert.equal(r.status, 0, `helm template ${chart} -f ${valuesFile}:\n${r.stderr}`);
  return parseManifests(r.stdout);
}

type Container = {
  name: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number; hostPort?: number; protocol?: string }[];
  [probe: string]: unknown;
};

function deployments(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => o.kind === 'Deployment');
}

function containersOf(d: K8sObject): Container[] {
  return d.spec.template.spec.containers as Container[];
}

/** The Switchyard container of a Deployment and the service it serves (`switchyard serve <args[0]>`). */
function switchyardContainer(d: K8sObject): { container: Container; service: DeployedService } {
  const container = containersOf(d).find((c) => c.args?.length === 1 && !c.name.startsWith('function'));
  assert.ok(container, `${d.metadata.name}: no switchyard container`);
  return { container, service: container.args?.[0] as DeployedService };
}

/** Checks that hold for every rendering of either chart. */
function checkCommon(objects: K8sObject[], valuesFile: string): void {
  // every object is valid against the Kubernetes schemas of a current release
  const problems = objects.flatMap((o) => schemaProblems(o, [SERVICE_MONITOR]));
  assert.deepEqual(problems, [], `schema problems with ${valuesFile}`);

  // every Secret a pod reads exists in the rendering (with that key) or is an existingSecret value
  const values = parseYaml(readFileSync(join(root, valuesFile), 'utf8'));
  const external = new Set(valuesNamed(values, 'existingSecret'));
  const rendered = new Map(objects.filter((o) => o.kind === 'Secret').map((s) => [s.metadata.name, s]));
  for (const d of deployments(objects)) {
    const spec = d.spec.template.spec;
    const refs: { name: string; key?: string; where: string }[] = [];
    for (const c of containersOf(d)) {
      for (const e of c.env ?? []) {
        const ref = (e.valueFrom as { secretKeyRef?: { name: string; key: string } } | undefined)?.secretKeyRef;
        if (ref) refs.push({ name: ref.name, key: ref.key, where: `${c.name} env ${e.name}` });
      }
    }
    for (const v of spec.volumes ?? []) {
      if (v.secret) {
        for (const item of v.secret.items ?? [{}]) {
          refs.push({ name: v.secret.secretName, key: item.key, where: `volume ${v.name}` });
        }
      }
    }
    for (const ref of refs) {
      const secret = rendered.get(ref.name);
      if (secret) {
        if (ref.key)
          assert.ok(secret.data?.[ref.key], `${d.metadata.name} ${ref.where}: Secret ${ref.name} has no ${ref.key}`);
      } else {
        assert.ok(
          external.has(ref.name),
          `${d.metadata.name} ${ref.where}: Secret ${ref.name} is neither rendered nor an existingSecret`,
        );
      }
    }

    // probes point at ports the container declares, and the process binds every declared port
    for (const c of containersOf(d)) {
      const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
      const numbers = new Set((c.ports ?? []).map((p) => p.containerPort));
      for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const probe = c[kind] as
          | { httpGet?: { port: string | number }; tcpSocket?: { port: string | number } }
          | undefined;
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (port === undefined) continue;
        const resolved = typeof port === 'number' ? port : ports.get(port);
        assert.ok(
          resolved && numbers.has(resolved),
          `${d.metadata.name}/${c.name} ${kind}: port ${port} is not a container port`,
        );
      }
    }
  }

  // every rendered variable is one the service reads (docs/configuration.md, or pending work)
  for (const d of deployments(objects)) {
    const { container, service } = switchyardContainer(d);
    const names = [...envOf(container).keys()].filter((n) => n.startsWith('SWITCHYARD_'));
    assert.deepEqual(unknownVariables(service, names, documented), [], `${d.metadata.name} (${service})`);
  }
}

describe('infra/helm/switchyard', () => {
  test('should have at least the minimal, production and autoscaling value sets', () => {
    const names = valueSets(CHART).map((f) => f.split('/').pop());
    for (const want of [
      'minimal-values.yaml',
      'production-values.yaml',
      'autoscaling-values.yaml',
      'nkey-values.yaml',
    ]) {
      assert.ok(names.includes(want), `${CHART}/ci/${want} is missing`);
    }
  });

  for (const valuesFile of valueSets(CHART)) {
    describe(valuesFile.split('/').pop() ?? valuesFile, () => {
      let objects: K8sObject[] = [];
      before(() => {
        objects = render(CHART, valuesFile);
      });

      test('should pass helm lint --strict', () => {
        const r = runHelm(helm, ['lint', '--strict', CHART, '-f', valuesFile], root);
        assert.equal(r.status, 0, r.stdout + r.stderr);
      });

      test('should render schema-valid objects whose probes, ports, Secrets and variables are real', () => {
        checkCommon(objects, valuesFile);
        const services = new Set(deployments(objects).map((d) => switchyardContainer(d).service));
        assert.deepEqual([...services].sort(), ['api', 'geodns', 'grpc-proxy', 'invocation']);
      });

      test('should bind each declared container port from the environment (SWITCHYARD_*PORT)', () => {
        for (const d of deployments(objects)) {
          const { container } = switchyardContainer(d);
          const env = envOf(container);
          // with SWITCHYARD_PROCESSES N, process i binds the callback and metrics ports + i
          const processes = Number(env.get('SWITCHYARD_PROCESSES')?.value ?? 1);
          const bound = new Set(
            ['SWITCHYARD_PORT', 'SWITCHYARD_CALLBACK_PORT', 'SWITCHYARD_METRICS_PORT']
              .map((n) => env.get(n)?.value)
              .filter((v) => v !== undefined)
              .map(Number),
          );
          for (const n of ['SWITCHYARD_CALLBACK_PORT', 'SWITCHYARD_METRICS_PORT']) {
            const base = env.get(n)?.value;
            if (base !== undefined) for (let i = 1; i < processes; i++) bound.add(Number(base) + i);
          }
          const declared = new Set((container.ports ?? []).map((p) => p.containerPort));
          assert.deepEqual([...declared].sort(), [...bound].sort(), `${d.metadata.name}: declared vs bound ports`);
        }
      });

      test('should advertise each front end its own pod (or node) address as the callback URI', () => {
        const headless = objects.filter((o) => o.kind === 'Service' && o.spec.clusterIP === 'None');
        let fronts = 0;
        for (const d of deployments(objects)) {
          const { container, service } = switchyardContainer(d);
          if (service !== 'grpc-proxy' && service !== 'invocation') continue;
          fronts++;
          const env = container.env ?? [];
          const uriAt = env.findIndex((e) => e.name === 'SWITCHYARD_CALLBACK_URI');
          const uri = env[uriAt]?.value ?? '';
          const m = /^https?:\/\/\$\((POD_IP|HOST_IP)\):(\d+)$/.exec(uri);
          assert.ok(m, `${d.metadata.name}: callback URI ${uri} is not this pod's own address`);
          const [, variable, port] = m;
          const source = env.findIndex((e) => e.name === variable);
          assert.ok(source >= 0 && source < uriAt, `${variable} must be defined before SWITCHYARD_CALLBACK_URI`);
          const callback = container.ports?.find((p) => p.name === 'callback');
          assert.ok(callback, `${d.metadata.name}: no callback port`);
          if (variable === 'POD_IP') {
            assert.equal(env[source]?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
            assert.equal(Number(port), callback.containerPort);
            // the pods' addresses on that port are the endpoints of a headless Service
            const svc = headless.find((s) => selects(s.spec.selector, d.spec.template.metadata.labels));
            assert.ok(svc, `${d.metadata.name}: no headless Service selects it`);
            assert.ok(
              svc.spec.ports.some(
                (p: { port: number; targetPort: string }) => p.port === Number(port) && p.targetPort === 'callback',
              ),
              `${svc.metadata.name} does not expose the callback port ${port}`,
            );
          } else {
            assert.equal(env[source]?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP');
            assert.equal(Number(port), callback.hostPort, `${d.metadata.name}: hostIP callback needs hostPort ${port}`);
          }
        }
        assert.equal(fronts, 2);
      });

      test('should route every Service to one Deployment, on ports its pods declare', () => {
        for (const svc of objects.filter((o) => o.kind === 'Service')) {
          const matched = deployments(objects).filter((d) =>
            selects(svc.spec.selector, d.spec.template.metadata.labels),
          );
          assert.equal(matched.length, 1, `${svc.metadata.name} selects ${matched.length} Deployments`);
          const names = new Set(
            containersOf(matched[0] as K8sObject).flatMap((c) => (c.ports ?? []).map((p) => p.name)),
          );
          for (const p of svc.spec.ports)
            assert.ok(names.has(p.targetPort), `${svc.metadata.name}: targetPort ${p.targetPort}`);
        }
        const dns = objects.find((o) => o.kind === 'Service' && o.metadata.name.endsWith('-geodns'));
        const dnsPorts = dns?.spec.ports
          .map((p: { port: number; protocol: string }) => `${p.port}/${p.protocol}`)
          .sort();
        assert.deepEqual(dnsPorts, ['53/TCP', '53/UDP']);
      });

      test('should give every Deployment a PodDisruptionBudget, and an HPA (without fixed replicas) when autoscaling is on', () => {
        const values = parseYaml(readFileSync(join(root, valuesFile), 'utf8')) as Record<
          string,
          { autoscaling?: { enabled?: boolean } }
        >;
        for (const d of deployments(objects)) {
          const labels = d.spec.template.metadata.labels;
          const pdbs = objects.filter(
            (o) => o.kind === 'PodDisruptionBudget' && selects(o.spec.selector.matchLabels, labels),
          );
          assert.equal(pdbs.length, 1, `${d.metadata.name}: PDBs`);
          const hpa = objects.find(
            (o) => o.kind === 'HorizontalPodAutoscaler' && o.spec.scaleTargetRef.name === d.metadata.name,
          );
          const key = { 'grpc-proxy': 'grpcProxy', invocation: 'invocation', api: 'api', geodns: 'geodns' }[
            labels['app.kubernetes.io/component'] as string
          ] as string;
          const autoscaled = values[key]?.autoscaling?.enabled === true;
          assert.equal(Boolean(hpa), autoscaled, `${d.metadata.name}: HPA`);
          assert.equal(d.spec.replicas === undefined, autoscaled, `${d.metadata.name}: replicas with HPA`);
        }
      });

      test('should let only workers reach the callback ports, and scrape through the headless Services', () => {
        for (const np of objects.filter((o) => o.kind === 'NetworkPolicy')) {
          for (const rule of np.spec.ingress) {
            if (rule.ports.some((p: { port: string }) => p.port.startsWith('callback'))) {
              assert.ok(rule.from?.length > 0, `${np.metadata.name}: callback port open to everyone`);
            }
          }
        }
        const monitor = objects.find((o) => `${o.apiVersion}/${o.kind}` === SERVICE_MONITOR);
        assert.ok(monitor, 'ServiceMonitor (the CRD is announced)');
        const scraped = objects.filter(
          (o) => o.kind === 'Service' && selects(monitor.spec.selector.matchLabels, o.metadata.labels),
        );
        assert.equal(scraped.length, deployments(objects).length, 'one scraped Service per component');
        for (const s of scraped)
          assert.ok(s.spec.ports.some((p: { name: string }) => p.name === monitor.spec.endpoints[0].port));
        // every process of every pod is a target: each metrics port (metrics, metrics-1... with processes
        // N > 1) is a port of the headless Service and an endpoint of the ServiceMonitor
        const endpoints = new Set(monitor.spec.endpoints.map((e: { port: string }) => e.port));
        for (const d of deployments(objects)) {
          const { container } = switchyardContainer(d);
          const processes = Number(envOf(container).get('SWITCHYARD_PROCESSES')?.value ?? 1);
          const metrics = (container.ports ?? []).filter((p) => p.name?.startsWith('metrics'));
          const base = Number(envOf(container).get('SWITCHYARD_METRICS_PORT')?.value);
          assert.deepEqual(
            metrics.map((p) => [p.name, p.containerPort]),
            Array.from({ length: processes }, (_, i) => [i === 0 ? 'metrics' : `metrics-${i}`, base + i]),
            `${d.metadata.name}: one metrics port per process`,
          );
          const svc = scraped.find((s) => selects(s.spec.selector, d.spec.template.metadata.labels));
          for (const p of metrics) {
            assert.ok(endpoints.has(p.name), `ServiceMonitor scrapes ${d.metadata.name}'s ${p.name}`);
            assert.ok(
              svc?.spec.ports.some((sp: { targetPort: string }) => sp.targetPort === p.name),
              `headless Service of ${d.metadata.name} exposes ${p.name}`,
            );
          }
        }
        const np = objects.filter((o) => o.kind === 'NetworkPolicy');
        for (const d of deployments(objects)) {
          const policy = np.find((o) => selects(o.spec.podSelector.matchLabels, d.spec.template.metadata.labels));
          if (policy === undefined) continue;
          const allowed = new Set(
            policy.spec.ingress.flatMap((r: { ports: { port: string }[] }) => r.ports.map((p) => p.port)),
          );
          for (const p of switchyardContainer(d).container.ports ?? [])
            assert.ok(allowed.has(p.name), `${policy.metadata.name} admits port ${p.name}`);
        }
        // `up` gets the labels infra/prometheus's alerts read, from labels every scraped Service has
        const relabelings = monitor.spec.endpoints[0].relabelings as { sourceLabels: string[]; targetLabel: string }[];
        assert.deepEqual(relabelings.map((r) => r.targetLabel).sort(), ['switchyard_region', 'switchyard_service']);
        for (const r of relabelings) {
          const label = r.sourceLabels[0].replace('__meta_kubernetes_service_label_', '');
          for (const s of scraped)
            assert.ok(
              Object.keys(s.metadata.labels ?? {}).some((k) => k.replace(/[^A-Za-z0-9_]/g, '_') === label),
              `${s.metadata.name} lacks the label ${label} that ${r.targetLabel} is read from`,
            );
        }
      });
    });
  }

  test('should give each service its own NATS nkey user, seed file and inbox (nats.auth.type nkey)', () => {
    for (const file of ['nkey-values.yaml', 'production-values.yaml']) {
      const objects = render(CHART, `${CHART}/ci/${file}`);
      const seen = new Map<string, string>();
      for (const d of deployments(objects)) {
        const { container, service } = switchyardContainer(d);
        const env = envOf(container);
        // the role is the service: users.conf has one nkey user per service, each with its own inbox
        assert.equal(env.get('SWITCHYARD_NATS_INBOX_PREFIX')?.value, `_INBOX_${service}`, `${file} ${service}`);
        const seedPath = env.get('SWITCHYARD_NATS_NKEY_SEED')?.value ?? '';
        assert.ok(seedPath, `${file} ${service}: no SWITCHYARD_NATS_NKEY_SEED`);
        for (const other of ['SWITCHYARD_NATS_CREDS', 'SWITCHYARD_NATS_USER', 'SWITCHYARD_NATS_PASSWORD'])
          assert.ok(!env.has(other), `${file} ${service}: ${other} beside the nkey seed`);
        // the seed path is a file of a mounted Secret volume, and that item is this service's key
        const mount = (container as { volumeMounts?: { name: string; mountPath: string }[] }).volumeMounts?.find((m) =>
          seedPath.startsWith(`${m.mountPath}/`),
        );
        assert.ok(mount, `${file} ${service}: ${seedPath} is not on a mounted volume`);
        const volume = d.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name);
        const item = volume?.secret?.items?.find((i: { path: string }) => `${mount.mountPath}/${i.path}` === seedPath);
        assert.equal(item?.key, `${service}.nk`, `${file} ${service}: seed file from key`);
        seen.set(service, `${volume.secret.secretName}/${item.key}`);
      }
      assert.equal(new Set(seen.values()).size, 4, `${file}: four distinct seeds ${[...seen.values()]}`);
      if (file === 'nkey-values.yaml') {
        // the chart-created Secret holds usable seeds (one line, as `nk -gen user` writes)
        const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name.endsWith('-nats-auth'));
        for (const [key, value] of Object.entries((secret?.data ?? {}) as Record<string, string>))
          assert.match(Buffer.from(value, 'base64').toString(), /^SU[A-Z2-7]{56}\n$/, key);
      }
    }
  });

  test('should refuse a value that is not an nkey seed (values.schema.json)', () => {
    const r = runHelm(
      helm,
      [
        'template',
        'sy',
        CHART,
        '-f',
        `${CHART}/ci/nkey-values.yaml`,
        '--set',
        'nats.auth.nkeySeeds.api=UDKDQGUTUPXP6VQSOTJFX6TPX2O3MIVRX2I3DMLX7YFBEBWE7WY7U2GD',
      ],
      root,
    );
    assert.notEqual(r.status, 0, 'a public key given as a seed should fail');
    assert.match(r.stderr, /nkeySeeds/);
  });

  test('should create no ServiceMonitor when the cluster lacks the CRD', () => {
    const r = runHelm(helm, ['template', 'sy', CHART, '-f', `${CHART}/ci/minimal-values.yaml`], root);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!parseManifests(r.stdout).some((o) => o.kind === 'ServiceMonitor'));
  });

  test('should refuse a misspelt value, a missing region and a short admin token (values.schema.json)', () => {
    const base = ['template', 'sy', CHART, '-f', `${CHART}/ci/minimal-values.yaml`];
    const cases: [string[], RegExp][] = [
      [['--set', 'grpcProxy.replicas=3'], /replicas/],
      [['--set', 'region='], /region/],
      [['--set', 'auth.adminToken=short'], /adminToken/],
      [['--set', 'grpcProxy.config.region=x'], /region|propertyNames|pattern/],
      // a nameserver inside the zone is answered by geodns itself: its addresses are required
      [['--set', 'geodns.nameservers={ns1.switchyard.example.com}'], /nameserverAddresses needs the addresses of ns1/],
    ];
    for (const [extra, want] of cases) {
      const r = runHelm(helm, [...base, ...extra], root);
      assert.notEqual(r.status, 0, `${extra.join(' ')} should fail`);
      assert.match(r.stderr, want);
    }
  });

  test('should flag a variable no service documents (the check can fail)', () => {
    const objects = render(CHART, `${CHART}/ci/minimal-values.yaml`, [
      '--set',
      'grpcProxy.config.SWITCHYARD_NO_SUCH_THING=1',
    ]);
    const proxy = deployments(objects).find((d) => switchyardContainer(d).service === 'grpc-proxy') as K8sObject;
    const names = [...envOf(switchyardContainer(proxy).container).keys()].filter((n) => n.startsWith('SWITCHYARD_'));
    assert.deepEqual(unknownVariables('grpc-proxy', names, documented), ['SWITCHYARD_NO_SUCH_THING']);
    // a variable of another service is unknown here too
    assert.deepEqual(unknownVariables('api', ['SWITCHYARD_CALLBACK_URI'], documented), ['SWITCHYARD_CALLBACK_URI']);
  });
});

describe('infra/helm/switchyard-worker', () => {
  for (const valuesFile of valueSets(WORKER_CHART)) {
    test(`${valuesFile.split('/').pop()}: should lint, render valid objects and wire the worker to its function`, () => {
      const lint = runHelm(helm, ['lint', '--strict', WORKER_CHART, '-f', valuesFile], root);
      assert.equal(lint.status, 0, lint.stdout + lint.stderr);
      const objects = render(WORKER_CHART, valuesFile);
      checkCommon(objects, valuesFile);
      const [d] = deployments(objects);
      assert.ok(d);
      const { container, service } = switchyardContainer(d);
      assert.equal(service, 'worker');
      const fn = containersOf(d).find((c) => c.name === 'function');
      const upstream = envOf(container).get('SWITCHYARD_UPSTREAM')?.value ?? '';
      assert.match(upstream, /^(grpc|http):\/\/127\.0\.0\.1:\d+$/);
      assert.equal(
        Number(upstream.split(':').pop()),
        fn?.ports?.[0]?.containerPort,
        'upstream is the function container',
      );
      assert.ok(
        envOf(container).get('SWITCHYARD_NATS_CREDS') ??
          envOf(container).get('SWITCHYARD_NATS_NKEY_SEED') ??
          envOf(container).get('SWITCHYARD_NATS_PASSWORD')?.valueFrom,
        'the version’s NATS credentials (its identity) are passed',
      );
      // the region chart's default NetworkPolicy lets these pods reach the callback ports
      const regionValues = parseYaml(readFileSync(join(root, CHART, 'values.yaml'), 'utf8'));
      const peer = regionValues.networkPolicy.workerPeers[0].podSelector.matchLabels;
      assert.ok(selects(peer, d.spec.template.metadata.labels), 'worker pods match networkPolicy.workerPeers');
    });
  }
});

describe('infra/nats/helm-values.yaml', () => {
  test('should configure the official chart as infra/nats/production does', () => {
    const v = parseYaml(readFileSync(join(root, 'infra/nats/helm-values.yaml'), 'utf8'));
    const serverConf = readFileSync(join(root, 'infra/nats/production/server.conf'), 'utf8');
    const routes = readFileSync(join(root, 'infra/nats/production/routes-us-east.conf'), 'utf8');
    // three servers per region, as many as production routes
    assert.equal(v.config.cluster.replicas, (routes.match(/nats-route:\/\//g) ?? []).length);
    assert.equal(v.config.cluster.replicas, 3);
    // JetStream with memory (tickets) and file (buckets) storage of production's sizes
    assert.equal(v.config.jetstream.enabled, true);
    assert.match(
      serverConf,
      new RegExp(`max_memory_store: ${v.config.jetstream.memoryStore.maxSize.replace('Gi', 'GB')}`),
    );
    assert.match(serverConf, new RegExp(`max_file_store: ${v.config.jetstream.fileStore.maxSize.replace('Gi', 'GB')}`));
    // TLS on client, route and gateway ports; mutual TLS between servers; one CA
    assert.equal(v.config.nats.tls.enabled, true);
    for (const block of [v.config.cluster, v.config.gateway]) {
      assert.equal(block.tls.enabled, true);
      assert.equal(block.tls.merge.verify, true);
    }
    assert.equal(v.tlsCA.enabled, true);
    // cluster and gateway named after the region, servers tagged with it, production's accounts
    assert.equal(v.config.cluster.merge.name, 'us-east');
    assert.equal(v.config.gateway.merge.name, 'us-east');
    assert.deepEqual(v.config.merge.server_tags, ['region:us-east']);
    assert.ok(
      Object.entries(v.config.merge).some(([k, f]) => k.endsWith('$include') && String(f).endsWith('accounts.conf')),
    );
    // clients: mutual TLS then an nkey (production server.conf and users.conf); no passwords any more
    assert.match(serverConf, /tls \{[^}]*verify: true/);
    assert.equal(v.config.nats.tls.merge.verify, true);
    const text = readFileSync(join(root, 'infra/nats/helm-values.yaml'), 'utf8');
    assert.doesNotMatch(text, /BCRYPT|password/i);
    // the Secret mounted beside accounts.conf holds the files it includes, the env Secret its nkeys
    for (const f of ['accounts.conf', 'users.conf', 'permissions.conf'])
      assert.match(text, new RegExp(`--from-file=${f}=`));
    const nkeyVars = [
      ...readFileSync(join(root, 'infra/systemd/env/nats-server.env'), 'utf8').matchAll(/^([A-Z_]+_NKEY)=/gm),
    ];
    for (const [, name] of nkeyVars) assert.match(text, new RegExp(`--from-literal=${name}=`));
    assert.deepEqual(v.container.merge.envFrom, [{ secretRef: { name: 'nats-nkeys' } }]);
    const gatewayNames = v.config.gateway.merge.gateways.map((g: { name: string }) => g.name);
    const productionGateways = readFileSync(join(root, 'infra/nats/production/gateways.conf'), 'utf8');
    assert.deepEqual(
      gatewayNames,
      [...productionGateways.matchAll(/name: "([^"]+)"/g)].map((m) => m[1]),
    );
  });
});
