/**
 * `npm run docs`: writes the README's generated sections between their marker comments: the
 * configuration table from src/config/schema.ts, and the log's reasons from src/core/errors.ts, so
 * neither can drift from what the code does. `--check` only reports (exit 1) when README.md differs;
 * test/config/docs.test.ts fails in that case too.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { FALSE_WORDS, PLATFORM_NAMES, SETTINGS, TRUE_WORDS, type SettingSpec } from '../src/config/schema.js';
import { MIN_DISTINCT, MIN_SECRET_LENGTH, REPEAT_LENGTH } from '../src/config/secret-strength.js';
import { reasonsMarkdown } from './reasons-table.js';
import { renderBenchDocs, renderChangesDocs, renderSharedStateDocs, renderWorkersDocs } from './bench-docs.js';

export const README = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'README.md');
export const BEGIN = '<!-- config-table:begin (generated from src/config/schema.ts by `npm run docs`; edit the schema, not this table) -->';
export const END = '<!-- config-table:end -->';

const code = (text: string): string => `\`${text}\``;
/** A pipe inside a table cell (even inside a code span) must be escaped in GitHub Markdown. */
const cell = (text: string): string => text.replace(/\|/g, '\\|');

function required(spec: SettingSpec): string {
  return spec.required ? 'yes' : (spec.requiredDoc ?? '');
}

function defaultValue(spec: SettingSpec): string {
  if (spec.default !== undefined) return code(spec.default);
  if (spec.defaultDoc !== undefined) return spec.defaultDoc;
  return spec.required || spec.requiredDoc ? '' : 'none';
}

function meaning(spec: SettingSpec): string {
  let text = spec.doc;
  if (spec.type === 'integer') text += ` (${spec.unit}, ${spec.min} to ${spec.max})`;
  if (spec.type === 'choice') text += `; one of ${spec.values.map(code).join(', ')}`;
  if (spec.type === 'text' && spec.patternDoc) text += `; ${spec.patternDoc}`;
  if (spec.platforms) text += `. ${spec.platforms.map((p) => PLATFORM_NAMES[p]).join(' and ')} only`;
  if (spec.secret) text += '. **Secret**';
  return text;
}

/** The generated Markdown: the table, then the rules every row follows. */
export function renderConfigDocs(): string {
  const row = (cells: string[]) => `|${cells.map((c) => (c ? ` ${cell(c)} ` : ' ')).join('|')}|`;
  const rows = SETTINGS.map((spec: SettingSpec) => row([code(spec.name), required(spec), defaultValue(spec), meaning(spec)]));
  const pairs = TRUE_WORDS.map((word, i) => `${code(word)}/${code(FALSE_WORDS[i]!)}`);
  const limited = SETTINGS.filter((spec: SettingSpec) => spec.platforms).map((spec) => code(spec.name));
  return [
    '| Variable | Required | Default | Meaning |',
    '|---|---|---|---|',
    ...rows,
    '',
    `- **Booleans** are ${pairs.slice(0, -1).join(', ')} or ${pairs.at(-1)}, in any letter case.`,
    '- **Lists** are comma-separated; spaces around an item are ignored.',
    '- **Secrets** never appear in an error or a log line. On Workers set them with `npx wrangler secret put`; on',
    '  Lambda@Edge they may be KMS ciphertext (`"kms:<base64>"`), and only they may be.',
    `- **Weak cookie secrets are refused** at start-up: shorter than ${MIN_SECRET_LENGTH} characters, fewer than ${MIN_DISTINCT} different`,
    `  characters, or any run of ${REPEAT_LENGTH} characters appearing twice (a word or pattern repeated, or padded out with one`,
    '  character). 32 random bytes (`openssl rand -base64 32`) practically never trip these rules.',
    '- **Unknown names are refused**: a `TH_*` variable that is not in this table stops start-up on every platform,',
    '  naming the closest setting (`TH_ISUER is not a setting: did you mean TH_ISSUER?`). Variables without the',
    `  \`TH_\` prefix are ignored. A setting read on one platform only (${limited.join(', ')}) is refused on the others.`,
  ].join('\n');
}

export const REASONS_BEGIN = '<!-- reasons-table:begin (generated from src/core/errors.ts by `npm run docs`; edit the tables there) -->';
export const REASONS_END = '<!-- reasons-table:end -->';

function replaceBetween(readme: string, begin: string, end: string, body: string): string {
  const from = readme.indexOf(begin);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) throw new Error(`README.md needs the lines ${begin} and ${end}`);
  return `${readme.slice(0, from + begin.length)}\n${body}\n${readme.slice(to)}`;
}

/** `readme` with the configuration table between its markers replaced; throws when the markers are missing. */
export function withConfigDocs(readme: string): string {
  return replaceBetween(readme, BEGIN, END, renderConfigDocs());
}

export const BENCH_BEGIN = '<!-- bench-figures:begin (generated from bench/results.json by `npm run docs`; run `npm run bench` to measure again) -->';
export const BENCH_END = '<!-- bench-figures:end -->';

export const SHARED_STATE_BEGIN = '<!-- shared-state-figures:begin (generated from bench/results.json by `npm run docs`; run `npm run bench` to measure again) -->';
export const SHARED_STATE_END = '<!-- shared-state-figures:end -->';

export const CHANGES_BEGIN = '<!-- change-figures:begin (generated from bench/results.json by `npm run docs`; run `npm run bench:changes` to measure again) -->';
export const CHANGES_END = '<!-- change-figures:end -->';

export const WORKERS_BEGIN = '<!-- worker-figures:begin (generated from bench/results.json by `npm run docs`; run `npx tsx bench/worker-cpu.ts 2000` to measure again) -->';
export const WORKERS_END = '<!-- worker-figures:end -->';

/** `readme` with the benchmark figures (the proxy's, each change's, and the shared state's in "Scaling out") between their markers replaced; throws when markers are missing. */
export function withBenchDocs(readme: string): string {
  const proxy = replaceBetween(readme, BENCH_BEGIN, BENCH_END, renderBenchDocs());
  const changes = replaceBetween(replaceBetween(proxy, SHARED_STATE_BEGIN, SHARED_STATE_END, renderSharedStateDocs()), CHANGES_BEGIN, CHANGES_END, renderChangesDocs());
  return replaceBetween(changes, WORKERS_BEGIN, WORKERS_END, renderWorkersDocs());
}

/** `readme` with the log reasons between their markers replaced; throws when the markers are missing. */
export function withReasonsDocs(readme: string): string {
  return replaceBetween(readme, REASONS_BEGIN, REASONS_END, reasonsMarkdown().trimEnd());
}

async function main(): Promise<void> {
  const current = await readFile(README, 'utf8');
  const next = withBenchDocs(withReasonsDocs(withConfigDocs(current)));
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md: a generated section differs from src/config/schema.ts, src/core/errors.ts or bench/results.json; run npm run docs');
      process.exit(1);
    }
    return;
  }
  if (next !== current) await writeFile(README, next);
  console.log(next === current ? 'README.md: generated sections up to date' : 'README.md: generated sections rewritten');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
