/**
 * Audit lines in a test's captured log, each checked against docs/audit-event.schema.json: the
 * keywords that schema uses (type, const, enum, oneOf of consts, pattern, lengths, required,
 * additionalProperties: false), read from the schema itself, so a field the code writes and the
 * schema lacks fails here. Runtime-neutral (the workerd project uses it too).
 */
import { expect } from 'vitest';
import schema from '../../docs/audit-event.schema.json' with { type: 'json' };

export type AuditLine = Readonly<Record<string, string>>;

interface FieldSchema {
  type?: string;
  const?: string;
  enum?: string[];
  oneOf?: { const: string }[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
}

/** The problems of `line` against the schema (empty when it is valid). */
export function auditProblems(line: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const properties = schema.properties as Record<string, FieldSchema>;
  for (const name of schema.required) if (!(name in line)) problems.push(`${name} missing`);
  for (const [name, value] of Object.entries(line)) {
    const field = properties[name];
    if (!field) {
      problems.push(`${name} is not in the schema`);
      continue;
    }
    if (typeof value !== 'string') problems.push(`${name} is not a string`);
    const text = String(value);
    if (field.const !== undefined && text !== field.const) problems.push(`${name} is not ${field.const}`);
    if (field.enum && !field.enum.includes(text)) problems.push(`${name} ${text} is not one of ${field.enum.join(', ')}`);
    if (field.oneOf && !field.oneOf.some((o) => o.const === text)) problems.push(`${name} ${text} is not a documented value`);
    if (field.pattern && !new RegExp(field.pattern, 'u').test(text)) problems.push(`${name} does not match ${field.pattern}`);
    if (field.minLength !== undefined && text.length < field.minLength) problems.push(`${name} is too short`);
    if (field.maxLength !== undefined && text.length > field.maxLength) problems.push(`${name} is too long`);
  }
  return problems;
}

/** Every audit line of `logs` (each asserted valid against the schema), optionally only those matching `fields`. */
export function auditLines(logs: readonly string[], fields: Readonly<Record<string, string>> = {}): AuditLine[] {
  const lines = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['type'] === 'audit');
  for (const line of lines) expect(auditProblems(line), JSON.stringify(line)).toEqual([]);
  return (lines as AuditLine[]).filter((l) => Object.entries(fields).every(([k, v]) => l[k] === v));
}
