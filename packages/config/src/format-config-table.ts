// Renders a config schema as the markdown table each service README carries, so the documented
// environment variables are generated from the schema the service actually loads.

import type { z } from 'zod';
import { describeFields } from './schema-fields.ts';

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function defaultText(hasDefault: boolean, value: unknown, optional: boolean): string {
  if (!hasDefault) return optional ? '(unset)' : '**required**';
  if (Array.isArray(value)) return value.length === 0 ? '(empty)' : `\`${value.join(',')}\``;
  if (value === null) return '(none)';
  if (typeof value === 'object') return `\`${JSON.stringify(value)}\``;
  if (value === '') return '(empty)';
  return `\`${String(value)}\``;
}

/**
 * Markdown table of a config schema: one row per field with its environment variable, type, default
 * (or **required**) and the `.describe()` text.
 *
 * @param schema a `z.object({...})`.
 * @returns the table, header included, ending with a newline.
 */
export function formatConfigTable(schema: z.ZodObject): string {
  const rows = describeFields(schema).map(
    (f) =>
      `| \`${f.envVar}\` | ${cell(f.typeLabel)} | ${cell(defaultText(f.hasDefault, f.defaultValue, f.optional))} | ${cell(f.description)} |`,
  );
  return `${['| env var | type | default | description |', '| --- | --- | --- | --- |', ...rows].join('\n')}\n`;
}
