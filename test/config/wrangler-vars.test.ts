/**
 * `wrangler.toml [vars]` and `.dev.vars.example` against the schema: every name is a setting the
 * Worker reads, no secret sits in [vars], the required settings are there (empty, to be filled
 * in), and no line merely repeats a default.
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { SETTINGS, readOn, settingSpec, type SettingSpec } from '../../src/config/schema.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The `[vars]` table of a wrangler.toml: `NAME = "text"` or `NAME = 123` lines, comments allowed; anything else throws. */
function tomlVars(toml: string): Map<string, string> {
  const lines = toml.split('\n');
  const start = lines.findIndex((line) => line.trim() === '[vars]');
  if (start < 0) throw new Error('no [vars] table');
  const vars = new Map<string, string>();
  for (const line of lines.slice(start + 1)) {
    const text = line.trim();
    if (text.startsWith('[')) break;
    if (text === '' || text.startsWith('#')) continue;
    const match = /^([A-Za-z0-9_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s#]+))\s*(?:#.*)?$/.exec(text);
    if (!match) throw new Error(`cannot read the [vars] line: ${text}`);
    vars.set(match[1]!, match[2] ?? match[3]!);
  }
  return vars;
}

/** What is wrong with a wrangler.toml's [vars], by the schema. */
function varsProblems(toml: string): string[] {
  const problems: string[] = [];
  const vars = tomlVars(toml);
  for (const [name, value] of vars) {
    const spec = settingSpec(name);
    if (!spec) problems.push(`${name} is not a setting`);
    else if (!readOn(spec, 'workers')) problems.push(`${name} is not read on Workers`);
    else if (spec.secret) problems.push(`${name} is a secret: set it with wrangler secret put, never in [vars]`);
    else if (value === '' && !spec.required) problems.push(`${name} is empty: only required settings are listed empty, to be filled in`);
    else if (value !== '' && value === spec.default) problems.push(`${name} repeats its default "${value}"`);
  }
  const required = (SETTINGS as readonly SettingSpec[]).filter((s) => s.required && !s.secret && readOn(s, 'workers'));
  for (const spec of required) if (!vars.has(spec.name)) problems.push(`${spec.name} is required and missing`);
  return problems;
}

describe('wrangler.toml [vars]', () => {
  it('lists the required settings, empty, and no default or secret', async () => {
    const toml = await readFile(`${ROOT}wrangler.toml`, 'utf8');
    expect(varsProblems(toml)).toEqual([]);
    expect([...tomlVars(toml).keys()].sort()).toEqual(['TH_CLIENT_ID', 'TH_ISSUER', 'TH_PUBLIC_ORIGIN']);
  });

  it('would refuse an unknown name, an edge-only one, a secret, an empty optional one and a repeated default', () => {
    const toml = [
      'name = "x"',
      '[vars]',
      'TH_PUBLIC_ORIGIN = ""',
      'TH_ISSUER = "https://login.example.com"  # a comment',
      'TH_ISUER = "https://login.example.com"',
      'TH_KMS_KEY_ID = "alias/x"',
      'TH_COOKIE_KEYS = "k1:x"',
      'TH_TRUSTED_ORIGINS = ""',
      'TH_LOG_LEVEL = "info"',
      'TH_SESSION_LIFETIME = 28800',
      'TH_CLOCK_SKEW = 30',
      '[observability]',
      'TH_IGNORED = "not in [vars]"',
    ].join('\n');
    expect(varsProblems(toml)).toEqual([
      'TH_ISUER is not a setting',
      'TH_KMS_KEY_ID is not read on Workers',
      'TH_COOKIE_KEYS is a secret: set it with wrangler secret put, never in [vars]',
      'TH_TRUSTED_ORIGINS is empty: only required settings are listed empty, to be filled in',
      'TH_LOG_LEVEL repeats its default "info"',
      'TH_SESSION_LIFETIME repeats its default "28800"',
      'TH_CLIENT_ID is required and missing',
    ]);
    expect(() => tomlVars('[vars]\nTH_SCOPE = [1, 2]')).toThrow(/cannot read/);
  });
});

describe('.dev.vars.example', () => {
  it('names only settings the Worker reads, the commented-out ones too', async () => {
    const text = await readFile(`${ROOT}.dev.vars.example`, 'utf8');
    const names = [...text.matchAll(/^#?\s*(TH_[A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      const spec = settingSpec(name);
      expect(spec, name).toBeDefined();
      expect(readOn(spec!, 'workers'), name).toBe(true);
    }
  });

  it('ships no cookie key anyone could copy', async () => {
    const text = await readFile(`${ROOT}.dev.vars.example`, 'utf8');
    expect(text).toMatch(/^TH_COOKIE_KEYS=""$/m);
  });
});
