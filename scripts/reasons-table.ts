/**
 * The log's `reason` values as a Markdown section for the README, from the tables in
 * src/core/errors.ts (the one place they are documented); `npm run docs` writes it
 * (scripts/config-docs.ts), and test/config/docs.test.ts fails when the README differs.
 */
import { ID_TOKEN_FAILURES, JWT_FAILURES, JWT_KINDS, OAUTH_ERRORS, REASONS, REASON_FAMILIES } from '../src/core/errors.js';

const cell = (text: string) => text.replace(/\|/g, '\\|');
const table = (head: [string, string], rows: Record<string, string>) =>
  [`| ${head[0]} | ${head[1]} |`, '|---|---|', ...Object.entries(rows).map(([name, doc]) => `| \`${cell(name)}\` | ${cell(doc)} |`)].join('\n');

export function reasonsMarkdown(): string {
  return [
    'Every refused request logs one line `request_rejected` with `code`, `status` and `reason`. The reasons:',
    '',
    table(['reason', 'meaning'], REASONS),
    '',
    'Reasons named after what the IdP said, each a fixed prefix and a closed set of suffixes:',
    '',
    table(['reason', 'meaning'], REASON_FAMILIES),
    '',
    `The OAuth error codes logged by name (any other is \`other\`): ${OAUTH_ERRORS.map((c) => `\`${c}\``).join(', ')}.`,
    '',
    `JWT failures, for ${Object.entries(JWT_KINDS).map(([kind, doc]) => `\`${kind}_…\` (${doc})`).join(' and ')}:`,
    '',
    table(['failure', 'the token'], JWT_FAILURES),
    '',
    'ID-token failures (`id_token_…` only):',
    '',
    table(['failure', 'the token'], ID_TOKEN_FAILURES),
    '',
  ].join('\n');
}

