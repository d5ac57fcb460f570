/**
 * The scope settings (contract §7): TH_ALLOWED_SCOPES, the scopes the SPA may request at
 * login/start beside TH_SCOPE's; and TH_EXTRA_AUTH_PARAMS=scope, which is redundant (scope is always
 * accepted) and no longer refused at start-up, while the parameters the token handler sets itself
 * still are.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/parse.js';
import { baseRaw } from '../helpers/config.js';

function problems(raw: Record<string, string | undefined>): readonly string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('TH_ALLOWED_SCOPES', () => {
  it('is empty by default', () => {
    expect(parseConfig(baseRaw()).allowedScopes).toEqual([]);
  });

  it('takes scopes separated by spaces or commas (as TH_SCOPE does), once each', () => {
    expect(parseConfig(baseRaw({ TH_ALLOWED_SCOPES: 'email phone, read:orders,https://api.example.test/write email' })).allowedScopes).toEqual([
      'email', 'phone', 'read:orders', 'https://api.example.test/write',
    ]);
  });

  it.each([
    ['a quote', 'email "phone"'],
    ['a backslash', 'email ph\\one'],
    ['a control character', 'email ph\u0001one'],
    ['a non-ASCII letter', 'email téléphone'],
  ])('refuses a scope with %s (RFC 6749 §3.3), naming it printably', (_what, value) => {
    const found = problems(baseRaw({ TH_ALLOWED_SCOPES: value }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^TH_ALLOWED_SCOPES has an invalid scope "[\x20-\x7E]+"$/);
  });
});

describe('TH_EXTRA_AUTH_PARAMS', () => {
  it('may list scope (redundant: it is always accepted)', () => {
    expect(parseConfig(baseRaw({ TH_EXTRA_AUTH_PARAMS: 'scope,login_hint' })).extraAuthParams).toEqual(['scope', 'login_hint']);
  });

  it.each(['state', 'nonce', 'redirect_uri', 'client_id', 'response_type', 'code_challenge', 'request_uri', 'response_mode'])(
    'still refuses %s, which the token handler sets itself',
    (param) => {
      expect(problems(baseRaw({ TH_EXTRA_AUTH_PARAMS: `scope,${param}` }))).toEqual([`TH_EXTRA_AUTH_PARAMS must not list "${param}", which the token handler sets itself`]);
    },
  );
});
