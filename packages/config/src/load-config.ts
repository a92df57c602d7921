// Builds one frozen config object per service from a zod schema: defaults, then SWITCHYARD_* environment
// variables (coerced to the field's type), then overrides such as parsed CLI flags; all problems at once.

import type { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { describeFields, type FieldInfo, type FieldKind } from './schema-fields.ts';

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Service name, used in the error message (`invalid <service> configuration: ...`). */
  service: string;
  /**
   * Environment to read `SWITCHYARD_*` variables from. An empty string counts as unset.
   * @default process.env
   */
  env?: Record<string, string | undefined>;
  /**
   * Values keyed by field name that win over the environment, e.g. parsed CLI flags. `undefined` values
   * are ignored; strings are coerced like environment values; keys not in the schema are ignored.
   * @default {}
   */
  overrides?: Record<string, unknown>;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);
const SECRET_NAME = /key|token|secret|password|credential/i;

type Coerced = { ok: true; value: unknown } | { ok: false; problem: string };

function coerceScalar(raw: string, kind: FieldKind): Coerced {
  const text = raw.trim();
  switch (kind) {
    case 'number': {
      const n = Number(text);
      return text !== '' && Number.isFinite(n)
        ? { ok: true, value: n }
        : { ok: false, problem: `expected a number, got ${JSON.stringify(raw)}` };
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (TRUE_WORDS.has(lower)) return { ok: true, value: true };
      if (FALSE_WORDS.has(lower)) return { ok: true, value: false };
      return { ok: false, problem: `expected a boolean (true/false/1/0/yes/no/on/off), got ${JSON.stringify(raw)}` };
    }
    case 'json':
      try {
        return { ok: true, value: JSON.parse(text) };
      } catch {
        return { ok: false, problem: `expected JSON, got ${JSON.stringify(raw)}` };
      }
    default:
      return { ok: true, value: raw };
  }
}

function coerce(raw: string, field: FieldInfo, secret: boolean): Coerced {
  const shown = (r: Coerced): Coerced =>
    r.ok || !secret ? r : { ok: false, problem: r.problem.replace(/, got .*$/, '') };
  if (field.kind !== 'list') return shown(coerceScalar(raw, field.kind));
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const values: unknown[] = [];
  for (const [i, item] of items.entries()) {
    const r = coerceScalar(item, field.itemKind);
    if (!r.ok) return shown({ ok: false, problem: `item ${i + 1} of the comma-separated list: ${r.problem}` });
    values.push(r.value);
  }
  return { ok: true, value: values };
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function deepFreeze<V>(value: V): V {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * Loads a service's configuration: schema defaults, then `SWITCHYARD_<FIELD_IN_SCREAMING_SNAKE>` from
 * `env` (strings coerced to number / boolean / comma list / JSON by the field's type), then `overrides`.
 * The merged input is validated against `schema` and every problem is reported at once.
 *
 * @param schema a `z.object({...})`; field names are camelCase, documented with `.describe()`.
 * @param options service name, environment, overrides.
 * @returns the parsed value, deep-frozen.
 * @throws {ConfigError} listing every invalid or missing field as `SWITCHYARD_X (x): <problem>`.
 */
export function loadConfig<T extends z.ZodObject>(schema: T, options: LoadConfigOptions): Readonly<z.infer<T>> {
  const env = options.env ?? process.env;
  const overrides = options.overrides ?? {};
  const fields = describeFields(schema);
  const input: Record<string, unknown> = {};
  const order = new Map(fields.map((f, i) => [f.key, i]));
  const problems: { order: number; line: string }[] = [];
  const coercionFailed = new Set<string>();
  for (const field of fields) {
    const fromOverride = overrides[field.key];
    const fromEnv = env[field.envVar];
    let raw: unknown;
    if (fromOverride !== undefined) raw = fromOverride;
    else if (fromEnv !== undefined && fromEnv !== '') raw = fromEnv;
    else continue;
    if (typeof raw === 'string' && field.kind !== 'string' && field.kind !== 'other') {
      const r = coerce(raw, field, SECRET_NAME.test(field.key));
      if (!r.ok) {
        coercionFailed.add(field.key);
        problems.push({ order: order.get(field.key) ?? 0, line: `${field.envVar} (${field.key}): ${r.problem}` });
        continue;
      }
      raw = r.value;
    }
    input[field.key] = raw;
  }

  const result = schema.safeParse(input);
  if (!result.success) {
    const byKey = new Map(fields.map((f) => [f.key, f]));
    for (const issue of result.error.issues) {
      const key = issue.path[0];
      const field = typeof key === 'string' ? byKey.get(key) : undefined;
      if (field === undefined) {
        problems.push({ order: fields.length, line: `(${pathText(issue.path) || 'config'}): ${issue.message}` });
        continue;
      }
      if (coercionFailed.has(field.key)) continue; // already reported, with the offending text
      const value = input[field.key];
      const missing = issue.path.length === 1 && value === undefined && issue.code === 'invalid_type';
      const shown =
        !missing && issue.path.length === 1 && !SECRET_NAME.test(field.key) && typeof value !== 'object'
          ? ` (got ${JSON.stringify(value)})`
          : '';
      const message = missing ? 'required but not set' : `${issue.message}${shown}`;
      problems.push({
        order: order.get(field.key) ?? 0,
        line: `${field.envVar} (${pathText(issue.path)}): ${message}`,
      });
    }
  }
  if (problems.length > 0) {
    problems.sort((a, b) => a.order - b.order);
    throw new ConfigError(
      options.service,
      problems.map((p) => p.line),
    );
  }
  return deepFreeze(result.data as z.infer<T>);
}
