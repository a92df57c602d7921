// Reads what the loader needs from a zod v4 object schema: each field's environment variable name,
// the scalar kind env strings are coerced to, its default and its description.

import type { z } from 'zod';

/** Prefix of every Switchyard environment variable. */
export const ENV_PREFIX = 'SWITCHYARD_';

/** What an environment string is coerced into before validation. */
export type FieldKind = 'string' | 'number' | 'boolean' | 'list' | 'json' | 'other';

/** One field of a config schema, as the loader and the README table see it. */
export interface FieldInfo {
  /** Field name in the schema (camelCase). */
  key: string;
  /** Environment variable, e.g. `SWITCHYARD_ATTACH_TIMEOUT_MS`. */
  envVar: string;
  /** Coercion applied to strings. */
  kind: FieldKind;
  /** Coercion applied to each comma-separated item when `kind` is `list`. */
  itemKind: FieldKind;
  /** Human-readable type for docs, e.g. `integer`, `string list`, `one of: a, b`. */
  typeLabel: string;
  /** True when the field has a default. */
  hasDefault: boolean;
  /** The default value (undefined when none). */
  defaultValue: unknown;
  /** True when the field may be left unset (optional or defaulted). */
  optional: boolean;
  /** `.describe()` text, or ''. */
  description: string;
}

/**
 * Environment variable for a camelCase field: `attachTimeoutMs` -> `SWITCHYARD_ATTACH_TIMEOUT_MS`,
 * `parseHTTPHeader` -> `SWITCHYARD_PARSE_HTTP_HEADER`, `http2Port` -> `SWITCHYARD_HTTP2_PORT`.
 *
 * @param key field name.
 */
export function envVarName(key: string): string {
  const snake = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .toUpperCase();
  return `${ENV_PREFIX}${snake}`;
}

// biome-ignore lint/suspicious/noExplicitAny: zod's internal definition objects are untyped here.
type AnyDef = Record<string, any>;
interface Inspected {
  def: AnyDef;
  hasDefault: boolean;
  defaultValue: unknown;
  optional: boolean;
}

function defOf(schema: unknown): AnyDef {
  return (schema as { _zod: { def: AnyDef } })._zod.def;
}

/** Peels optional/default/nullable/readonly/catch/pipe wrappers down to the input schema. */
function inspect(schema: unknown): Inspected {
  let current = schema;
  let hasDefault = false;
  let defaultValue: unknown;
  let optional = false;
  for (let depth = 0; depth < 20; depth++) {
    const def = defOf(current);
    switch (def.type) {
      case 'default':
      case 'prefault':
        if (!hasDefault) {
          hasDefault = true;
          defaultValue = def.defaultValue;
        }
        optional = true;
        current = def.innerType;
        continue;
      case 'optional':
        optional = true;
        current = def.innerType;
        continue;
      case 'nullable':
      case 'readonly':
      case 'catch':
      case 'nonoptional':
        current = def.innerType;
        continue;
      case 'pipe':
        current = def.in;
        continue;
      case 'lazy':
        current = def.getter();
        continue;
      default:
        return { def, hasDefault, defaultValue, optional };
    }
  }
  return { def: defOf(current), hasDefault, defaultValue, optional };
}

function kindOf(def: AnyDef): FieldKind {
  switch (def.type) {
    case 'string':
    case 'enum':
    case 'template_literal':
      return 'string';
    case 'number':
    case 'bigint':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'array':
    case 'set':
      return 'list';
    case 'object':
    case 'record':
    case 'map':
    case 'tuple':
      return 'json';
    case 'literal': {
      const v = def.values?.[0];
      return typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'boolean' : 'string';
    }
    default:
      return 'other';
  }
}

function checksOf(def: AnyDef): AnyDef[] {
  return ((def.checks ?? []) as unknown[]).map(defOf);
}

function labelOf(def: AnyDef): string {
  switch (def.type) {
    case 'number': {
      const checks = checksOf(def);
      const int = checks.some((c) => c.check === 'number_format' && /int/.test(String(c.format)));
      const range: string[] = [];
      for (const c of checks) {
        if (c.check === 'greater_than') range.push(`${c.inclusive ? '>=' : '>'} ${c.value}`);
        if (c.check === 'less_than') range.push(`${c.inclusive ? '<=' : '<'} ${c.value}`);
      }
      return `${int ? 'integer' : 'number'}${range.length > 0 ? ` (${range.join(', ')})` : ''}`;
    }
    case 'string': {
      const format = def.format ?? checksOf(def).find((c) => c.check === 'string_format')?.format;
      return typeof format === 'string' ? `string (${format})` : 'string';
    }
    case 'enum':
      return `one of: ${Object.values(def.entries as Record<string, unknown>).join(', ')}`;
    case 'literal':
      return `literal ${(def.values as unknown[]).map((v) => JSON.stringify(v)).join(' | ')}`;
    case 'array':
    case 'set': {
      const item = inspect(def.element ?? def.valueType);
      return `list of ${labelOf(item.def)} (comma-separated)`;
    }
    case 'boolean':
      return 'boolean';
    default:
      return kindOf(def) === 'json' ? `JSON ${def.type}` : String(def.type);
  }
}

/**
 * Describes every field of an object schema.
 *
 * @param schema a `z.object({...})`.
 * @returns one entry per field, in declaration order.
 */
export function describeFields(schema: z.ZodObject): FieldInfo[] {
  return Object.entries(schema.shape).map(([key, field]) => {
    const info = inspect(field);
    const kind = kindOf(info.def);
    const itemKind = kind === 'list' ? kindOf(inspect(info.def.element ?? info.def.valueType).def) : 'other';
    return {
      key,
      envVar: envVarName(key),
      kind,
      itemKind,
      typeLabel: labelOf(info.def),
      hasDefault: info.hasDefault,
      defaultValue: info.defaultValue,
      optional: info.optional,
      description: (field as { description?: string }).description ?? '',
    };
  });
}
