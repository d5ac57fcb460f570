/**
 * The README's audit-event tables, generated from docs/audit-event.schema.json (the one place the
 * schema is written down); `npm run docs:audit` writes them, test/core/audit.test.ts fails when the
 * README differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const AUDIT_SCHEMA_FILE = join(ROOT, 'docs', 'audit-event.schema.json');
export const AUDIT_BEGIN = '<!-- audit-table:begin (generated from docs/audit-event.schema.json by `npm run docs:audit`; edit the schema) -->';
export const AUDIT_END = '<!-- audit-table:end -->';

interface Property {
  readonly description: string;
  readonly oneOf?: readonly { const: string; description: string }[];
}
export interface AuditSchema {
  readonly required: readonly string[];
  readonly properties: Readonly<Record<string, Property>>;
}

export function readAuditSchema(): AuditSchema {
  return JSON.parse(readFileSync(AUDIT_SCHEMA_FILE, 'utf8')) as AuditSchema;
}

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function renderAuditDocs(schema: AuditSchema = readAuditSchema()): string {
  const fields = Object.entries(schema.properties).map(([name, p]) => `| \`${name}\` | ${schema.required.includes(name) ? 'always' : 'when it applies'} | ${cell(p.description)} |`);
  const events = (schema.properties['event']!.oneOf ?? []).map((e) => `| \`${e.const}\` | ${cell(e.description)} |`);
  return ['| Field | Present | Meaning |', '|---|---|---|', ...fields, '', '| `event` | Meaning |', '|---|---|', ...events].join('\n');
}

export function withAuditDocs(readme: string): string {
  const from = readme.indexOf(AUDIT_BEGIN);
  const to = readme.indexOf(AUDIT_END);
  if (from < 0 || to < from) throw new Error(`README.md needs the lines ${AUDIT_BEGIN} and ${AUDIT_END}`);
  return `${readme.slice(0, from + AUDIT_BEGIN.length)}\n${renderAuditDocs()}\n${readme.slice(to)}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = join(ROOT, 'README.md');
  const current = readFileSync(file, 'utf8');
  const next = withAuditDocs(current);
  if (next !== current) writeFileSync(file, next);
  console.log(next === current ? 'README.md: audit tables up to date' : 'README.md: audit tables rewritten');
}
