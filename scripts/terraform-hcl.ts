// Reads the Terraform modules of infra/terraform with @cdktf/hcl2json (the HCL parser Terraform's own
// hcl library compiles to) and renders their README inputs/outputs tables. Used by
// scripts/terraform-docs.ts and test/terraform-modules.test.ts.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@cdktf/hcl2json';

/** One parsed `.tf` file: hcl2json's JSON (block type -> name -> list of bodies). */
export type HclFile = Record<string, unknown>;

/** A variable block: type and default as Terraform expressions (`${...}` strings), as hcl2json gives them. */
export interface TfVariable {
  name: string;
  type?: string;
  description?: string;
  default?: unknown;
  hasDefault: boolean;
  sensitive: boolean;
  validations: number;
}

/** An output block. */
export interface TfOutput {
  name: string;
  description?: string;
}

/** Every `.tf` file of one directory, parsed, with the raw text (for reference scans). */
export interface TfDir {
  dir: string;
  files: Record<string, { text: string; json: HclFile }>;
  variables: TfVariable[];
  outputs: TfOutput[];
}

/** Terraform module directories under infra/terraform, relative to it. */
export const TERRAFORM_DIRS = ['modules/region', 'modules/dns', 'examples/two-regions'] as const;

/** Marks around the generated section of a README (the terraform-docs convention). */
export const DOCS_BEGIN = '<!-- BEGIN_TF_DOCS -->';
export const DOCS_END = '<!-- END_TF_DOCS -->';

function bodies(json: HclFile, block: string): Record<string, Record<string, unknown>[]> {
  return (json[block] ?? {}) as Record<string, Record<string, unknown>[]>;
}

/**
 * Parses every `.tf` file of a directory.
 * @throws Error (from hcl2json) naming the file when one does not parse.
 */
export async function readTfDir(dir: string): Promise<TfDir> {
  const files: TfDir['files'] = {};
  const variables: TfVariable[] = [];
  const outputs: TfOutput[] = [];
  for (const name of readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .sort()) {
    const text = readFileSync(join(dir, name), 'utf8');
    const json = (await parse(name, text)) as HclFile;
    files[name] = { text, json };
    for (const [vname, [body]] of Object.entries(bodies(json, 'variable'))) {
      variables.push({
        name: vname,
        type: body?.type as string | undefined,
        description: body?.description as string | undefined,
        default: body?.default,
        hasDefault: body !== undefined && 'default' in body,
        sensitive: body?.sensitive === true,
        validations: Array.isArray(body?.validation) ? body.validation.length : 0,
      });
    }
    for (const [oname, [body]] of Object.entries(bodies(json, 'output'))) {
      outputs.push({ name: oname, description: body?.description as string | undefined });
    }
  }
  return { dir, files, variables, outputs };
}

/** `${string}` -> `string`; multi-line types on one line. */
function expr(value: string | undefined): string {
  if (value === undefined) return '';
  const inner = value.startsWith('${') && value.endsWith('}') ? value.slice(2, -1) : value;
  return inner.replace(/\s+/g, ' ').trim();
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function defaultCell(v: TfVariable): string {
  if (!v.hasDefault) return 'required';
  if (v.default === null) return '`null`';
  if (typeof v.default === 'string')
    return v.default.startsWith('${') ? `\`${expr(v.default)}\`` : `\`"${v.default}"\``;
  return `\`${JSON.stringify(v.default)}\``;
}

/** The generated README section (inputs and outputs tables) of one parsed directory, markers included. */
export function renderDocs(tf: TfDir): string {
  const lines = [
    DOCS_BEGIN,
    '## Inputs',
    '',
    '| Name | Description | Type | Default |',
    '|------|-------------|------|---------|',
  ];
  for (const v of [...tf.variables].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(
      `| ${v.name} | ${cell(v.description ?? '')}${v.sensitive ? ' (sensitive)' : ''} | \`${cell(expr(v.type))}\` | ${cell(defaultCell(v))} |`,
    );
  }
  lines.push('', '## Outputs', '', '| Name | Description |', '|------|-------------|');
  for (const o of [...tf.outputs].sort((a, b) => a.name.localeCompare(b.name))) {
    lines.push(`| ${o.name} | ${cell(o.description ?? '')} |`);
  }
  lines.push(DOCS_END);
  return lines.join('\n');
}

/**
 * A README with its generated section replaced (or appended when it has none).
 */
export function withDocs(readme: string, docs: string): string {
  const start = readme.indexOf(DOCS_BEGIN);
  const end = readme.indexOf(DOCS_END);
  if (start === -1 || end === -1) return `${readme.trimEnd()}\n\n${docs}\n`;
  return readme.slice(0, start) + docs + readme.slice(end + DOCS_END.length);
}
