/**
 * The schema-driven parser: unknown and other-platform names, each type with its bounds and
 * spellings, every problem at once, no secret echoed, the weak-cookie-secret rule, and the values
 * derived into Config.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, type RawConfig } from '../../src/config/parse.js';
import { closestName, editDistance } from '../../src/config/parse.js';
import { SETTINGS, SECRET_SETTINGS, type SettingSpec } from '../../src/config/schema.js';
import { weakSecretReason } from '../../src/config/secret-strength.js';
import { baseRaw, randomSecret } from '../helpers/config.js';

function problems(raw: RawConfig, platform?: 'node' | 'workers' | 'lambda-edge'): string[] {
  try {
    parseConfig(raw, platform ? { platform } : {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

const specs: readonly SettingSpec[] = SETTINGS;
const ofType = <T extends SettingSpec['type']>(type: T) => specs.filter((s): s is Extract<SettingSpec, { type: T }> => s.type === type);

describe('names', () => {
  it.each([
    ['TH_ISUER', 'TH_ISSUER'],
    ['TH_API_ROUTE', 'TH_API_ROUTES'],
    ['TH_COOKIE_KEY', 'TH_COOKIE_KEYS'],
    ['TH_ISSEUR', 'TH_ISSUER'],
    ['TH_issuer', 'TH_ISSUER'],
    ['TH_PUBLIC_ORIGINS', 'TH_PUBLIC_ORIGIN'],
    ['TH_LOGLEVEL', 'TH_LOG_LEVEL'],
  ])('refuses %s with "did you mean %s?"', (typo, meant) => {
    expect(problems(baseRaw({ [typo]: 'x' }))).toEqual([`${typo} is not a setting: did you mean ${meant}?`]);
  });

  it('refuses a name nothing is close to, without a guess, and an unknown name even when empty', () => {
    expect(problems(baseRaw({ TH_SOMETHING_ELSE: '1' }))).toEqual(["TH_SOMETHING_ELSE is not a setting (the README's configuration table lists them all)"]);
    expect(problems(baseRaw({ TH_ISUER: '' }))).toEqual(['TH_ISUER is not a setting: did you mean TH_ISSUER?']);
  });

  it('lists the unknown names first, then every other problem, all at once', () => {
    const { TH_ISSUER: _issuer, ...rest } = baseRaw();
    expect(problems({ ...rest, TH_ISUER: 'https://idp.example.test' })).toEqual(['TH_ISUER is not a setting: did you mean TH_ISSUER?', 'TH_ISSUER is required']);
  });

  it('ignores names without the TH_ prefix (process.env holds many) and unset values', () => {
    const config = parseConfig({ ...baseRaw(), PATH: '/usr/bin', th_issuer: 'x', XTH_ISSUER: 'y', TH_USE_PAR: undefined });
    expect(config.issuer).toBe('https://idp.example.test');
  });

  it('refuses TH_KMS_KEY_ID outside Lambda@Edge, where it would pin nothing', () => {
    const raw = baseRaw({ TH_KMS_KEY_ID: 'alias/edge-token-handler' });
    expect(problems(raw)).toEqual(['TH_KMS_KEY_ID is read only on Lambda@Edge, not on Node; remove it here']);
    expect(problems(raw, 'workers')).toEqual(['TH_KMS_KEY_ID is read only on Lambda@Edge, not on Workers; remove it here']);
    expect(parseConfig(raw, { platform: 'lambda-edge' }).issuer).toBe('https://idp.example.test');
  });

  it('measures edit distance with swaps of neighbours costing one', () => {
    expect(editDistance('TH_ISUER', 'TH_ISSUER')).toBe(1);
    expect(editDistance('TH_ISSEUR', 'TH_ISSUER')).toBe(1);
    expect(editDistance('abc', 'xyz')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(closestName('TH_X')).toBeUndefined();
    expect(closestName('TH_CLOCK_SKWE')).toBe('TH_CLOCK_SKEW');
  });
});

describe('types', () => {
  it.each(ofType('integer').map((s) => [s.name, s] as const))('%s takes whole numbers within its bounds only', (name, spec) => {
    const config = (value: string) => parseConfig(baseRaw({ [name]: value }));
    expect(() => config(String(spec.min))).not.toThrow();
    expect(() => config(String(spec.max))).not.toThrow();
    expect(problems(baseRaw({ [name]: String(spec.max + 1) }))).toEqual([`${name} must be between ${spec.min} and ${spec.max} (got ${spec.max + 1})`]);
    if (spec.min > 0) expect(problems(baseRaw({ [name]: String(spec.min - 1) }))).toEqual([`${name} must be between ${spec.min} and ${spec.max} (got ${spec.min - 1})`]);
    for (const bad of ['1.5', '-1', '1e3', 'ten']) expect(problems(baseRaw({ [name]: bad }))).toEqual([`${name} must be a whole number of ${spec.unit} (got "${bad}")`]);
  });

  it('takes the TH_*_TIMEOUT settings in seconds and keeps them in milliseconds', () => {
    expect(parseConfig(baseRaw({ TH_UPSTREAM_TIMEOUT: '900', TH_IDP_TIMEOUT: ' 1 ' }))).toMatchObject({ upstreamTimeout: 900_000, idpTimeout: 1000 });
  });

  const BOOLEAN_FIELDS: Record<string, 'usePar' | 'revokeOnLogout' | 'dpop' | 'cloudwatchMetrics' | 'backchannelLogout'> = {
    TH_USE_PAR: 'usePar', TH_REVOKE_ON_LOGOUT: 'revokeOnLogout', TH_DPOP: 'dpop', TH_CLOUDWATCH_METRICS: 'cloudwatchMetrics', TH_BACKCHANNEL_LOGOUT: 'backchannelLogout',
  };

  it('refuses TH_BACKCHANNEL_LOGOUT without a session store (none by default on Workers), and reads TH_REVOCATION_CACHE_TTL in ms', () => {
    expect(problems(baseRaw({ TH_BACKCHANNEL_LOGOUT: 'on' }), 'workers')).toEqual(['TH_BACKCHANNEL_LOGOUT needs a TH_SESSION_STORE: the revocations must reach every instance']);
    expect(parseConfig(baseRaw({ TH_BACKCHANNEL_LOGOUT: 'on', TH_SESSION_STORE: 'durable-object' }), { platform: 'workers' }).backchannelLogout).toBe(true);
    expect(parseConfig(baseRaw()).revocationCacheTtl).toBe(5_000);
    expect(parseConfig(baseRaw({ TH_REVOCATION_CACHE_TTL: '0' })).revocationCacheTtl).toBe(0);
  });
  it.each(ofType('boolean').map((s) => [s.name] as const))('%s takes true/false, 1/0, yes/no and on/off in any case', (name) => {
    const field = BOOLEAN_FIELDS[name];
    expect(field, `${name} needs a line in BOOLEAN_FIELDS`).toBeDefined();
    const read = (value: string) => parseConfig(baseRaw({ [name]: value }))[field!];
    for (const yes of ['true', '1', 'yes', 'on', 'TRUE', 'On', ' Yes ']) expect(read(yes), yes).toBe(true);
    for (const no of ['false', '0', 'no', 'off', 'False', 'OFF']) expect(read(no), no).toBe(false);
    for (const bad of ['maybe', 'y', '2', 'enabled']) {
      expect(problems(baseRaw({ [name]: bad }))).toEqual([`${name} must be true or false (got "${bad}"); 1/0, yes/no and on/off work too`]);
    }
  });

  it('takes a choice in any letter case and names the choices when it is none of them', () => {
    expect(parseConfig(baseRaw({ TH_LOG_LEVEL: 'WARN' })).logLevel).toBe('warn');
    expect(parseConfig(baseRaw({ TH_CLIENT_AUTH: 'Client_Secret_Post' })).clientAuth).toBe('client_secret_post');
    expect(problems(baseRaw({ TH_LOG_LEVEL: 'loud' }))).toEqual(['TH_LOG_LEVEL must be one of debug, info, warn, error (got "loud")']);
    // A bad method is one problem: the method still follows from what is set, so nothing else is reported.
    const jwk = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' });
    expect(problems(baseRaw({ TH_CLIENT_SECRET: undefined, TH_CLIENT_PRIVATE_KEY: jwk, TH_CLIENT_AUTH: 'jwt' }))).toEqual([
      'TH_CLIENT_AUTH must be one of client_secret_basic, client_secret_post, private_key_jwt (got "jwt")',
    ]);
  });

  it('checks a text setting against its pattern', () => {
    expect(parseConfig(baseRaw({ TH_COOKIE_PREFIX: 'my_app-1' })).cookiePrefix).toBe('my_app-1');
    expect(problems(baseRaw({ TH_COOKIE_PREFIX: 'x'.repeat(33) }))).toEqual([`TH_COOKIE_PREFIX must be 1-32 letters, digits, "_" or "-" (got "${'x'.repeat(33)}")`]);
  });

  it('treats an empty or blank value as unset: the default applies, a required setting is missing', () => {
    expect(parseConfig(baseRaw({ TH_SESSION_LIFETIME: '', TH_AGENT_PATH: '  ' }))).toMatchObject({ sessionLifetime: 28800, agentPath: '/oauth-agent' });
    expect(problems(baseRaw({ TH_CLIENT_ID: ' ' }))).toEqual(['TH_CLIENT_ID is required']);
  });

  it('gives the same configuration for every default written out as for the setting left unset', () => {
    const defaults = Object.fromEntries(specs.filter((s) => s.default !== undefined).map((s) => [s.name, s.default]));
    expect(Object.keys(defaults).length).toBeGreaterThan(10);
    const base = baseRaw();
    expect(parseConfig({ ...base, ...defaults })).toEqual(parseConfig(base));
  });

  it('reads every setting in the schema (TH_KMS_KEY_ID is read by the Lambda@Edge handler, before parsing)', () => {
    // Nothing is set, so every read is the parser asking for a name (none comes from listing the keys).
    const read = new Set<string>();
    const raw: Record<string, string> = {};
    expect(() => parseConfig(new Proxy(raw, { get: (target, name) => (typeof name === 'string' && read.add(name), target[name as string]) }))).toThrow(ConfigError);
    expect(specs.map((s) => s.name).filter((name) => !read.has(name))).toEqual(['TH_KMS_KEY_ID']);
  });
});

describe('every problem at once, and no secret in any', () => {
  it('reports one problem per bad setting, each naming its variable', () => {
    const bad = {
      TH_PUBLIC_ORIGIN: 'ftp://www.example.test',
      TH_SESSION_LIFETIME: '8h',
      TH_CLOCK_SKEW: '301',
      TH_USE_PAR: 'maybe',
      TH_LOG_LEVEL: 'loud',
      TH_COOKIE_PREFIX: 'a;b',
      TH_REDIRECT_PATH: 'nope',
      TH_API_ROUTE: '/api=https://api.example.test',
    };
    const found = problems(baseRaw(bad));
    expect(found).toHaveLength(Object.keys(bad).length);
    for (const name of Object.keys(bad)) expect(found.filter((p) => p.startsWith(`${name} `)), name).toHaveLength(1);
  });

  it.each(SECRET_SETTINGS.map((name) => [name]))('never quotes a bad %s', (name) => {
    const marker = `m4rk3r${randomSecret(8)}`;
    // (A cookie key's id is not secret: it is written into every cookie sealed with it.)
    const values = [marker, `k1:${marker}`, `{"kty":"EC","d":"${marker}"`, `{"kty":"${marker}","d":"x"}`, `${marker},${marker}`, `k1:${marker.repeat(4)}`];
    for (const value of values) {
      let message = '';
      try {
        parseConfig(baseRaw({ [name]: value, TH_CLIENT_AUTH: name === 'TH_CLIENT_PRIVATE_KEY' ? 'private_key_jwt' : undefined }));
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).not.toContain(marker);
    }
  });
});

describe('weak cookie secrets', () => {
  it.each([
    ['one repeated character', 'a'.repeat(40)],
    ['two characters in turn', 'ab'.repeat(20)],
    ['a word repeated', 'password'.repeat(4)],
    ['a word repeated, with a different end', `${'password'.repeat(4)}1`],
    ['a word padded out with one character', `password${'0'.repeat(24)}`],
    ['a longer pattern repeated', '0123456789'.repeat(4)],
    ['a digit run repeated', `${'1234567890abcdefghij'}${'1234567890'}xyz`],
  ])('refuses %s at start-up, without quoting it', (_, secret) => {
    const found = problems(baseRaw({ TH_COOKIE_KEYS: `k1:${secret}` }));
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^TH_COOKIE_KEYS key "k1" looks made up: .*; use 32 random bytes/);
    expect(found[0]).not.toContain(secret.slice(0, 8));
  });

  it('checks every key of the list, the old ones too', () => {
    const found = problems(baseRaw({ TH_COOKIE_KEYS: `new:${randomSecret()},old:${'x'.repeat(32)}` }));
    expect(found).toEqual([expect.stringMatching(/^TH_COOKIE_KEYS key "old" looks made up/)]);
  });

  it('takes random secrets, in base64, base64url and hex', () => {
    for (let i = 0; i < 50; i++) {
      for (const secret of [randomBytes(32).toString('base64'), randomBytes(32).toString('base64url'), randomBytes(32).toString('hex'), randomBytes(24).toString('base64url')]) {
        expect(weakSecretReason(secret), secret.length.toString()).toBeUndefined();
      }
    }
  });

  it('names the rule each weak secret breaks', () => {
    expect(weakSecretReason('short')).toBe('is too short: each secret needs at least 32 characters');
    expect(weakSecretReason('abcdefg'.repeat(5))).toMatch(/fewer than 8 different characters/);
    expect(weakSecretReason('abcdefghij'.repeat(4))).toMatch(/a run of 8 characters appears in it twice/);
  });
});

describe('values derived into the frozen Config', () => {
  it('holds the cookie names for its prefix', () => {
    const config = parseConfig(baseRaw({ TH_COOKIE_PREFIX: 'app' }));
    expect(config.cookieNames).toMatchObject({ at: '__Host-app-at', rt: '__Secure-app-rt', id: '__Secure-app-id', login: '__Host-app-login-' });
    expect(Object.isFrozen(config.cookieNames)).toBe(true);
    expect(parseConfig(baseRaw()).cookieNames.at).toBe('__Host-th-at');
  });

  it("holds what X-Forwarded-Proto and -Host say: the public origin's scheme and host, port included", () => {
    expect(parseConfig(baseRaw())).toMatchObject({ publicProto: 'https', publicHost: 'www.example.test' });
    expect(parseConfig(baseRaw({ TH_PUBLIC_ORIGIN: 'http://localhost:8080' }))).toMatchObject({ publicProto: 'http', publicHost: 'localhost:8080' });
  });
});

describe('the session store settings', () => {
  const base = () => baseRaw();
  it('default to memory on Node and to none on Workers and Lambda@Edge', () => {
    expect(parseConfig(base()).sessionStore).toEqual({ kind: 'memory' });
    expect(parseConfig(base(), { platform: 'workers' }).sessionStore).toBeUndefined();
    expect(parseConfig(base(), { platform: 'lambda-edge' }).sessionStore).toBeUndefined();
  });

  it('read each store and keep the endpoint of a dynamodb:// one', () => {
    expect(parseConfig({ ...base(), TH_SESSION_STORE: 'durable-object' }, { platform: 'workers' }).sessionStore).toEqual({ kind: 'durable-object' });
    expect(parseConfig({ ...base(), TH_SESSION_STORE: 'dynamodb://th-sessions?region=us-east-1', TH_SESSION_STORE_ENDPOINT: 'http://127.0.0.1:8000' }, { platform: 'lambda-edge' }).sessionStore).toEqual({
      kind: 'dynamodb',
      table: 'th-sessions',
      regions: ['us-east-1'],
      endpoint: 'http://127.0.0.1:8000',
    });
  });

  it.each([
    ['redis://cache:6379', 'workers', 'TH_SESSION_STORE redis cannot be used on Workers; there use memory or durable-object'],
    ['redis://cache:6379', 'lambda-edge', 'TH_SESSION_STORE redis cannot be used on Lambda@Edge; there use memory or dynamodb'],
    ['dynamodb://t12?region=us-east-1', 'workers', 'TH_SESSION_STORE dynamodb cannot be used on Workers; there use memory or durable-object'],
    ['durable-object', 'node', 'TH_SESSION_STORE durable-object cannot be used on Node; there use memory or redis or dynamodb'],
  ] as const)('refuse %s on %s, by name', (value, platform, problem) => {
    expect(() => parseConfig({ ...base(), TH_SESSION_STORE: value }, { platform })).toThrow(expect.objectContaining({ problems: [problem] }));
  });

  it('refuse an endpoint without a dynamodb:// store, and never echo a Redis password', () => {
    expect(() => parseConfig({ ...base(), TH_SESSION_STORE_ENDPOINT: 'http://127.0.0.1:8000' })).toThrow(expect.objectContaining({ problems: ['TH_SESSION_STORE_ENDPOINT is only for a dynamodb:// TH_SESSION_STORE'] }));
    const password = randomSecret();
    try {
      parseConfig({ ...base(), TH_SESSION_STORE: `redis://user:${password}@cache/9?cluster=true` });
      expect.unreachable();
    } catch (error) {
      expect(String((error as Error).message)).toContain('TH_SESSION_STORE');
      expect(String((error as Error).message)).not.toContain(password);
    }
  });
});
