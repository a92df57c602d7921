// Rendering and checking Kubernetes manifests for the chart tests: `helm template` into objects,
// validation of each object against the Kubernetes API schemas (kubernetes-models), and small
// lookups (containers, env, which Deployment a selector picks).

import { spawnSync } from 'node:child_process';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

/** A rendered object, as much of it as the tests read. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are walked dynamically by the tests
  spec?: any;
  data?: Record<string, string>;
  type?: string;
}

/** Result of one helm run. */
export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs helm with `args` (cwd: the repository root); never throws, the caller checks `status`. */
export function runHelm(helm: string, args: string[], cwd: string): HelmResult {
  const r = spawnSync(helm, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, HELM_CACHE_HOME: '/tmp/helm-cache' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The objects of a multi-document YAML stream (empty documents dropped).
 * @throws Error on a YAML syntax error, naming the document.
 */
export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length > 0) throw new Error(`document ${i}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) out.push(value);
  }
  return out;
}

// apiVersion/kind -> the kubernetes-models class whose validate() checks it against the API schema.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment,
  'v1/Service': Service,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
};

/**
 * Problems of `obj` against the Kubernetes schema of its apiVersion/kind; a kind with no model here is
 * a problem too (add its class above), except `allowUnmodelled` kinds (CRDs such as ServiceMonitor,
 * checked by the caller).
 */
export function schemaProblems(obj: K8sObject, allowUnmodelled: readonly string[] = []): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS[key];
  if (!Model) return allowUnmodelled.includes(key) ? [] : [`${key} ${obj.metadata?.name}: no schema model`];
  try {
    new Model(obj as never).validate();
    return [];
  } catch (err) {
    return [`${key} ${obj.metadata.name}: ${(err as Error).message}`];
  }
}

/** Whether `selector` (matchLabels or a plain label map) selects an object with `labels`. */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> = {}): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A container's environment as name -> value (valueFrom entries map to their source object). */
export function envOf(container: {
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}): Map<string, { value?: string; valueFrom?: unknown }> {
  return new Map((container.env ?? []).map((e) => [e.name, { value: e.value, valueFrom: e.valueFrom }]));
}

/** Every string value found under a key named `key` anywhere in `tree`. */
export function valuesNamed(tree: unknown, key: string): string[] {
  const found: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === key && typeof v === 'string' && v !== '') found.push(v);
        walk(v);
      }
    }
  };
  walk(tree);
  return found;
}
