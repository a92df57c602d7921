// Terraform modules (infra/terraform, issue 10 item 5): every .tf file parsed with @cdktf/hcl2json
// (scripts/terraform-hcl.ts). Checks the variable and output declarations, that every reference
// resolves, the example against its modules, provider pins, the chart values the region module sets
// against the chart, and the generated README tables. `terraform fmt -check` runs when a terraform
// binary is on PATH; `terraform init`/`validate` cannot run here (providers come from
// registry.terraform.io, unreachable from this build machine) and are skipped with a message.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { readTfDir, renderDocs, TERRAFORM_DIRS, type TfDir, withDocs } from '../scripts/terraform-hcl.ts';
import { helmBinary } from './helm-binary.ts';

/** Path of a terraform binary on PATH, or undefined. */
function terraformBinary(): string | undefined {
  const which = spawnSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** tfvars of the region module: every option on, and only what is required. */
const REGION_INPUTS: Record<string, string> = {
  full: `region = "us-east"
remote_regions = ["eu-west"]
chart_path = "unused"
nats_values_file = "unused"
domain = "sy.example.com"
nameservers = ["ns-us-east.sy.example.com", "ns-eu-west.sy.example.com"]
nameserver_addresses = { "ns-us-east.sy.example.com" = ["192.0.2.53"], "ns-eu-west.sy.example.com" = ["198.51.100.53", "2001:db8::53"] }
redis_url = "redis://redis.redis.svc:6379"
admin_token = "0123456789abcdef0123"
nats_nkey_seeds = { grpc_proxy = "SUADCF5F4WXRI4BCP4LK24NHTPB7FZTGYLA5EA6Z2HP5XFTZGGMAR52WVA", invocation = "SUAJMLEOIBFPJVDELR65X4CFNB3NYIONCFQKIZVUQ5BRJ3LBOXK5H44ZV4", api = "SUABZMETFQSDZRXMNWZNUDKKQQRUNCOUQOE5CTQMFZ3XBCFENQYR5G2POI", geodns = "SUAAU5DZIRUSOMLM43RH454SMHWKV237IAUB4OMUYZHIGYIOQESYZE2QJY" }
nats_tls = { ca = "ca", cert = "cert", key = "key" }
client_tls = { cert = "cert", key = "key" }
image = { repository = "registry.example.com/switchyard", tag = "1.0.0" }
replicas = { grpc_proxy = 3 }
geo_regions = {
  us-east = { lat = 39, lon = -77.5, addresses = { grpc = ["192.0.2.1"], http = ["192.0.2.2"] } }
  eu-west = { lat = 53.3, lon = -6.3, addresses = { grpc = ["198.51.100.1"], http = ["198.51.100.2"] } }
}
`,
  minimal: `region = "us-east"
chart_path = "unused"
nats_values_file = "unused"
domain = "sy.example.com"
redis_url = "redis://redis.redis.svc:6379"
admin_token = "0123456789abcdef0123"
geo_regions = { us-east = { lat = 39, lon = -77.5, addresses = { grpc = ["192.0.2.1"] } } }
`,
};

/**
 * The chart values modules/region computes for some inputs, evaluated by `terraform console` (which
 * needs no provider) over the module's variables and locals, each Secret reference replaced by the
 * string secret-<resource name>.
 * @throws AssertionError when terraform cannot evaluate them.
 */
function regionChartValues(terraform: string, tfvars: string): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-tf-'));
  try {
    const moduleDir = join(tfRoot, 'modules', 'region');
    copyFileSync(join(moduleDir, 'variables.tf'), join(dir, 'variables.tf'));
    const main = readFileSync(join(moduleDir, 'main.tf'), 'utf8');
    const locals = main
      .slice(main.indexOf('locals {'), main.indexOf('\nresource '))
      .replace(/kubernetes_secret_v1\.(\w+)(\[0\])?\.metadata\[0\]\.name/g, '"secret-$1"');
    writeFileSync(join(dir, 'locals.tf'), locals);
    writeFileSync(join(dir, 'test.tfvars'), tfvars);
    const out = spawnSync(terraform, ['console', '-var-file=test.tfvars'], {
      cwd: dir,
      input: 'nonsensitive(jsonencode(local.chart_values))\n',
      encoding: 'utf8',
      env: { ...process.env, TF_CLI_CONFIG_FILE: '/dev/null', CHECKPOINT_DISABLE: '1', NO_COLOR: '1' },
      timeout: 120_000,
    });
    const line = out.stdout.split('\n').find((l) => l.startsWith('"'));
    assert.ok(out.status === 0 && line, `terraform console failed:\n${out.stdout}${out.stderr}`);
    return JSON.parse(JSON.parse(line) as string) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tfRoot = join(root, 'infra', 'terraform');

/** Text of a .tf file without comments (so a reference in a comment does not count). */
function code(text: string): string {
  return text.replace(/^\s*(#|\/\/).*$/gm, '');
}

/** Names declared in `locals` blocks of a directory. */
function localsOf(tf: TfDir): Set<string> {
  const names = new Set<string>();
  for (const { json } of Object.values(tf.files)) {
    for (const block of (json.locals ?? []) as Record<string, unknown>[])
      for (const k of Object.keys(block)) names.add(k);
  }
  return names;
}

/** Module blocks of a directory: name -> body. */
function modulesOf(tf: TfDir): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const { json } of Object.values(tf.files)) {
    for (const [name, [body]] of Object.entries((json.module ?? {}) as Record<string, Record<string, unknown>[]>)) {
      if (body !== undefined) out[name] = body;
    }
  }
  return out;
}

/**
 * Key paths of an hcl2json object expression; a `${cond ? {...} : {...}}` string contributes the
 * keys of its object literals (one level, which is all the module uses).
 */
function keyPaths(value: unknown, prefix: string[] = []): string[][] {
  if (typeof value === 'string') {
    if (!value.startsWith('${') || !value.includes('?')) return prefix.length > 0 ? [prefix] : [];
    const keys = [...value.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)/g)].map((m) => m[1] as string);
    return keys.length > 0 ? keys.map((k) => [...prefix, k]) : [prefix];
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value).flatMap(([k, v]) => keyPaths(v, [...prefix, k]));
  }
  return [prefix];
}

describe('terraform modules', () => {
  const dirs: Record<string, TfDir> = {};
  before(async () => {
    for (const rel of TERRAFORM_DIRS) dirs[rel] = await readTfDir(join(tfRoot, rel));
  });

  test('every directory has the terraform-aws-modules files', () => {
    for (const rel of TERRAFORM_DIRS) {
      for (const f of ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf']) {
        assert.ok(dirs[rel]?.files[f], `${rel}/${f} missing`);
      }
    }
  });

  test('every variable has a type and a description, every output a description', () => {
    for (const [rel, tf] of Object.entries(dirs)) {
      assert.ok(tf.variables.length > 0, `${rel}: no variables`);
      for (const v of tf.variables) {
        assert.ok(v.type, `${rel}: variable ${v.name} has no type`);
        assert.ok(v.description && v.description.length > 10, `${rel}: variable ${v.name} has no description`);
      }
      for (const o of tf.outputs) assert.ok(o.description, `${rel}: output ${o.name} has no description`);
    }
  });

  test('the modules validate their free-form inputs', () => {
    const region = dirs['modules/region'] as TfDir;
    for (const name of ['region', 'namespace', 'domain', 'redis_url', 'admin_token', 'nats_replicas']) {
      const v = region.variables.find((x) => x.name === name);
      assert.ok(v && v.validations > 0, `modules/region: ${name} has no validation block`);
    }
    const dns = dirs['modules/dns'] as TfDir;
    for (const name of ['parent_zone_id', 'zone', 'nameservers']) {
      assert.ok(
        (dns.variables.find((x) => x.name === name)?.validations ?? 0) > 0,
        `modules/dns: ${name} has no validation`,
      );
    }
    for (const name of ['admin_token', 'redis_url', 'nats_creds', 'nats_nkey_seeds', 'nats_tls', 'client_tls']) {
      assert.ok(region.variables.find((x) => x.name === name)?.sensitive, `modules/region: ${name} is not sensitive`);
    }
  });

  test('every var., local. and module. reference resolves', () => {
    for (const [rel, tf] of Object.entries(dirs)) {
      const vars = new Set(tf.variables.map((v) => v.name));
      const locals = localsOf(tf);
      const modules = modulesOf(tf);
      for (const [file, { text }] of Object.entries(tf.files)) {
        const src = code(text);
        for (const m of src.matchAll(/\bvar\.([A-Za-z_][A-Za-z0-9_-]*)/g)) {
          assert.ok(vars.has(m[1] as string), `${rel}/${file}: var.${m[1]} is not declared`);
        }
        for (const m of src.matchAll(/\blocal\.([A-Za-z_][A-Za-z0-9_-]*)/g)) {
          assert.ok(locals.has(m[1] as string), `${rel}/${file}: local.${m[1]} is not declared`);
        }
        for (const m of src.matchAll(/\bmodule\.([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)/g)) {
          const body = modules[m[1] as string];
          assert.ok(body, `${rel}/${file}: module.${m[1]} is not declared`);
          const target = dirs[join(rel, body.source as string).replace(/\\/g, '/')];
          assert.ok(target, `${rel}: module ${m[1]} source ${body.source} is not one of ${TERRAFORM_DIRS.join(', ')}`);
          assert.ok(
            target.outputs.some((o) => o.name === m[2]),
            `${rel}/${file}: module.${m[1]}.${m[2]} is not an output of ${body.source}`,
          );
        }
      }
    }
  });

  test('the example passes only declared inputs, and every required one', () => {
    const example = dirs['examples/two-regions'] as TfDir;
    const modules = modulesOf(example);
    assert.deepEqual(Object.keys(modules).sort(), ['dns', 'eu_west', 'us_east']);
    const meta = new Set(['source', 'providers', 'depends_on', 'count', 'for_each', 'version']);
    for (const [name, body] of Object.entries(modules)) {
      const target = dirs[join('examples/two-regions', body.source as string).replace(/\\/g, '/')] as TfDir;
      const declared = new Set(target.variables.map((v) => v.name));
      for (const input of Object.keys(body).filter((k) => !meta.has(k))) {
        assert.ok(declared.has(input), `module ${name}: input ${input} is not a variable of ${body.source}`);
      }
      for (const v of target.variables.filter((x) => !x.hasDefault)) {
        assert.ok(v.name in body, `module ${name}: required input ${v.name} not set`);
      }
    }
    const src = code(example.files['main.tf']?.text ?? '');
    for (const path of [...src.matchAll(/"\$\{local\.repo_root\}\/([^"]+)"/g)].map((m) => m[1] as string)) {
      assert.ok(existsSync(join(root, path)), `example path ${path} does not exist in the repository`);
    }
  });

  test('versions.tf bounds terraform and every provider', () => {
    for (const [rel, tf] of Object.entries(dirs)) {
      const [block] = (tf.files['versions.tf']?.json.terraform ?? []) as Record<string, unknown>[];
      assert.ok(block, `${rel}: versions.tf has no terraform block`);
      assert.match(String(block.required_version), />=\s*1\.\d+/, `${rel}: required_version`);
      const [providers] = (block.required_providers ?? []) as Record<string, { source?: string; version?: string }>[];
      assert.ok(providers && Object.keys(providers).length > 0, `${rel}: no required_providers`);
      for (const [name, p] of Object.entries(providers)) {
        assert.equal(p.source, `hashicorp/${name}`, `${rel}: provider ${name} source`);
        assert.match(
          p.version ?? '',
          />=\s*\d+\.\d+\.\d+,\s*<\s*\d+/,
          `${rel}: provider ${name} needs a lower and an upper bound`,
        );
      }
      // every provider a resource or data source uses is declared
      const used = new Set<string>();
      for (const { json } of Object.values(tf.files)) {
        for (const kind of ['resource', 'data']) {
          for (const type of Object.keys((json[kind] ?? {}) as object)) used.add(type.split('_')[0] as string);
        }
      }
      for (const p of used) assert.ok(p in providers, `${rel}: uses provider ${p} without declaring it`);
    }
  });

  test('every chart value the region module sets exists in values.yaml and the schema', () => {
    const chart = join(root, 'infra', 'helm', 'switchyard');
    const values = parseYaml(readFileSync(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
    const [locals] = (dirs['modules/region']?.files['main.tf']?.json.locals ?? []) as Record<string, unknown>[];
    const paths = keyPaths(locals?.chart_values);
    assert.ok(paths.length > 20, `only ${paths.length} chart value paths found`);
    for (const path of paths) {
      let v: unknown = values;
      let s: Record<string, unknown> | undefined = schema;
      for (const key of path) {
        assert.ok(v !== null && typeof v === 'object' && key in v, `chart has no value ${path.join('.')}`);
        v = (v as Record<string, unknown>)[key];
        const props = s?.properties as Record<string, Record<string, unknown>> | undefined;
        if (props !== undefined) {
          assert.ok(key in props, `values.schema.json has no ${path.join('.')}`);
          s = props[key];
        } else s = undefined;
      }
    }
  });

  for (const [name, tfvars] of Object.entries(REGION_INPUTS)) {
    test(`the chart renders with the values modules/region computes (${name} inputs)`, (t) => {
      const terraform = terraformBinary();
      if (terraform === undefined) {
        t.skip('no terraform binary on PATH: module values not evaluated');
        return;
      }
      const values = regionChartValues(terraform, tfvars);
      const dir = mkdtempSync(join(tmpdir(), 'sy-tf-values-'));
      try {
        writeFileSync(join(dir, 'values.json'), JSON.stringify(values));
        // helm template validates the values against values.schema.json
        const out = spawnSync(
          helmBinary(),
          [
            'template',
            'sy',
            join(root, 'infra', 'helm', 'switchyard'),
            '-n',
            'switchyard',
            '-f',
            join(dir, 'values.json'),
          ],
          { encoding: 'utf8', timeout: 120_000 },
        );
        assert.equal(out.status, 0, `helm template failed:\n${out.stderr}`);
        const docs = out.stdout.split(/^---$/m).map((d) => parseYaml(d) as { kind?: string } | null);
        assert.ok(docs.filter((d) => d?.kind === 'Deployment').length === 4, 'four Deployments');
        // the Secrets the module creates are the ones the pods read
        assert.match(out.stdout, /name: secret-admin\b/);
        assert.match(out.stdout, /name: secret-redis\b/);
        if (name === 'full') {
          for (const s of ['secret-nats_auth', 'secret-nats_tls', 'secret-client_tls']) {
            assert.match(out.stdout, new RegExp(`secretName: ${s}\\b|name: ${s}\\b`), `${s} not referenced`);
          }
          assert.match(out.stdout, /tls:\/\/nats\.nats\.svc:4222/);
          // geodns answers its in-zone NS names with the addresses the parent's glue has
          assert.match(
            out.stdout,
            /SWITCHYARD_NAMESERVER_ADDRESSES\s+value: ".*ns-us-east\.sy\.example\.com.*192\.0\.2\.53/,
          );
          // nkey seeds: each service mounts its own key of the module's Secret, with its own inbox
          for (const role of ['grpc-proxy', 'invocation', 'api', 'geodns']) {
            assert.match(out.stdout, new RegExp(`- key: ${role}\\.nk\\s+path: nats\\.nk`), `${role}.nk not mounted`);
            assert.match(out.stdout, new RegExp(`value: "_INBOX_${role}"`), `${role} inbox`);
          }
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('README tables match the files', () => {
    for (const [rel, tf] of Object.entries(dirs)) {
      const readme = readFileSync(join(tfRoot, rel, 'README.md'), 'utf8');
      assert.equal(
        readme,
        withDocs(readme, renderDocs(tf)),
        `${rel}/README.md is stale: node scripts/terraform-docs.ts`,
      );
    }
  });

  test('terraform fmt -check -recursive (when terraform is on PATH)', (t) => {
    const which = spawnSync('sh', ['-c', 'command -v terraform'], { encoding: 'utf8' });
    if (which.status !== 0) {
      t.skip('no terraform binary on PATH: fmt not checked');
      return;
    }
    const fmt = spawnSync(which.stdout.trim(), ['fmt', '-check', '-recursive', '-diff'], {
      cwd: tfRoot,
      encoding: 'utf8',
      env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' },
    });
    assert.equal(fmt.status, 0, `terraform fmt found unformatted files:\n${fmt.stdout}${fmt.stderr}`);
    t.diagnostic(
      `terraform init/validate not run: they download hashicorp/helm, hashicorp/kubernetes and hashicorp/aws from registry.terraform.io (see ${resolve(tfRoot, 'README.md')})`,
    );
  });
});
