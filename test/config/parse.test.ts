import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/parse.js';
import { baseRaw, randomSecret } from '../helpers/config.js';

function problems(raw: Record<string, string | undefined>): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('applies the contract defaults and freezes the result', () => {
    const config = parseConfig(baseRaw());
    expect(config.scope).toBe('openid profile offline_access');
    expect(config.redirectUri).toBe('https://www.example.test/');
    expect(config.postLogoutRedirectUri).toBe('https://www.example.test/');
    expect(config.agentPath).toBe('/oauth-agent');
    expect(config.cookiePrefix).toBe('th');
    expect(config.sessionLifetime).toBe(28800);
    expect(config.clockSkew).toBe(60);
    expect(config.usePar).toBe(false);
    expect(config.revokeOnLogout).toBe(true);
    expect(config.logLevel).toBe('info');
    expect(config.clientAuth).toBe('client_secret_basic');
    expect(config.trustedOrigins).toEqual(['https://www.example.test']);
    expect(config.upstreamTimeout).toBe(30_000);
    expect(config.idpTimeout).toBe(10_000);
    expect(parseConfig(baseRaw({ TH_IDP_TIMEOUT: '3' })).idpTimeout).toBe(3000);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.cookieKeys)).toBe(true);
  });

  it('reports every missing required variable at once', () => {
    const found = problems({});
    expect(found).toEqual(
      expect.arrayContaining([
        'TH_PUBLIC_ORIGIN is required',
        'TH_ISSUER is required',
        'TH_CLIENT_ID is required',
        'TH_COOKIE_KEYS is required',
        expect.stringContaining('TH_CLIENT_SECRET or TH_CLIENT_PRIVATE_KEY is required'),
      ]),
    );
  });

  it.each([
    ['TH_PUBLIC_ORIGIN', 'not a url', 'TH_PUBLIC_ORIGIN is not a valid URL'],
    ['TH_PUBLIC_ORIGIN', 'http://www.example.test', 'TH_PUBLIC_ORIGIN must be an https URL'],
    ['TH_PUBLIC_ORIGIN', 'https://www.example.test/app', 'TH_PUBLIC_ORIGIN must be an origin'],
    ['TH_ISSUER', 'http://idp.example.test', 'TH_ISSUER must be an https URL'],
    ['TH_ISSUER', 'https://idp.example.test/?x=1', 'TH_ISSUER must not have a query'],
    ['TH_ISSUER', 'https://user:pw@idp.example.test', 'TH_ISSUER must not contain credentials'],
    ['TH_CLIENT_AUTH', 'client_secret_jwt', 'TH_CLIENT_AUTH must be one of'],
    ['TH_COOKIE_KEYS', 'k1:tooshort', 'TH_COOKIE_KEYS key "k1" is too short'],
    ['TH_COOKIE_KEYS', 'nocolon', 'TH_COOKIE_KEYS entry 1 must have the form <id>:<secret>'],
    ['TH_COOKIE_KEYS', `bad-id:${randomSecret()}`, 'TH_COOKIE_KEYS entry 1 has an invalid id'],
    ['TH_COOKIE_KEYS', `a:${randomSecret()},a:${randomSecret()}`, 'repeats the id "a"'],
    ['TH_REDIRECT_PATH', 'callback', 'TH_REDIRECT_PATH must be an absolute path'],
    ['TH_REDIRECT_PATH', '//evil.test/', 'TH_REDIRECT_PATH must be an absolute path'],
    ['TH_POST_LOGOUT_REDIRECT_PATH', 'https://evil.test/', 'TH_POST_LOGOUT_REDIRECT_PATH must be an absolute path'],
    ['TH_AGENT_PATH', '/', 'TH_AGENT_PATH must not be "/"'],
    ['TH_AGENT_PATH', '/a?b', 'TH_AGENT_PATH must be an absolute path'],
    ['TH_API_ROUTES', '/api', 'must have the form <path prefix>=<upstream base URL>'],
    ['TH_API_ROUTES', 'api=https://api.example.test', 'must be a plain absolute path'],
    ['TH_API_ROUTES', '/api/../x=https://api.example.test', 'must be a plain absolute path'],
    ['TH_API_ROUTES', '/api=http://api.example.test', 'must be an https URL'],
    ['TH_API_ROUTES', '/api=https://api.example.test/?q', 'must not have a query'],
    ['TH_API_ROUTES', '/oauth-agent/x=https://api.example.test', 'overlaps TH_AGENT_PATH'],
    ['TH_API_ROUTES', '/api=https://a.test,/api=https://b.test', 'lists the prefix "/api" twice'],
    ['TH_API_ROUTE_OPTIONS', '/nope=public', 'does not name a prefix'],
    ['TH_COOKIE_PREFIX', 'th;x', 'TH_COOKIE_PREFIX must be'],
    ['TH_TRUSTED_ORIGINS', 'https://app.example.test/', 'TH_TRUSTED_ORIGINS must be an origin'],
    ['TH_EXTRA_AUTH_PARAMS', 'prompt,state', 'must not list "state"'],
    ['TH_EXTRA_AUTH_PARAMS', 'bad name', 'invalid parameter name'],
    ['TH_EXTRA_TOKEN_PARAMS', 'refresh_token', 'must not list "refresh_token"'],
    ['TH_SESSION_LIFETIME', '8h', 'TH_SESSION_LIFETIME must be a whole number'],
    ['TH_SESSION_LIFETIME', '10', 'TH_SESSION_LIFETIME must be between'],
    ['TH_CLOCK_SKEW', '301', 'TH_CLOCK_SKEW must be between 0 and 300'],
    ['TH_UPSTREAM_TIMEOUT', '0', 'TH_UPSTREAM_TIMEOUT must be between'],
    ['TH_IDP_TIMEOUT', '0', 'TH_IDP_TIMEOUT must be between 1 and 60'],
    ['TH_IDP_TIMEOUT', '61', 'TH_IDP_TIMEOUT must be between 1 and 60'],
    ['TH_USE_PAR', 'maybe', 'TH_USE_PAR must be true or false'],
    ['TH_REVOKE_ON_LOGOUT', 'sometimes', 'TH_REVOKE_ON_LOGOUT must be true or false'],
    ['TH_LOG_LEVEL', 'loud', 'TH_LOG_LEVEL must be one of'],
    ['TH_ID_TOKEN_SIGNING_ALGS', 'RS256,HS256', '"HS256" is not allowed'],
    ['TH_ID_TOKEN_SIGNING_ALGS', 'none', '"none" is not allowed'],
    ['TH_CORS_ALLOW_HEADERS', 'x bad', 'invalid header name'],
  ])('rejects %s=%s', (name, value, message) => {
    const found = problems(baseRaw({ [name]: value }));
    expect(found.some((p) => p.includes(message))).toBe(true);
  });

  it('never echoes a secret value in its messages', () => {
    const secret = 'short-secret-value';
    const clientSecret = 'client-secret-value-that-is-long-enough';
    try {
      parseConfig(baseRaw({ TH_COOKIE_KEYS: `k1:${secret}`, TH_CLIENT_SECRET: clientSecret, TH_CLIENT_AUTH: 'nope', TH_CLIENT_PRIVATE_KEY: '{"kty":"RSA","n":"abc"}' }));
      throw new Error('expected failure');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toContain('TH_COOKIE_KEYS');
      expect(message).not.toContain(secret);
      expect(message).not.toContain(clientSecret);
      expect(message).not.toContain('"n":"abc"');
    }
  });

  it('allows http only for loopback hosts', () => {
    const config = parseConfig(baseRaw({ TH_PUBLIC_ORIGIN: 'http://localhost:8080', TH_ISSUER: 'http://127.0.0.1:8081', TH_API_ROUTES: '/api=http://127.0.0.1:8082/api' }));
    expect(config.publicOrigin).toBe('http://localhost:8080');
    expect(config.apiRoutes[0]).toMatchObject({ prefix: '/api', upstream: 'http://127.0.0.1:8082/api', public: false });
    expect(problems(baseRaw({ TH_ISSUER: 'http://10.0.0.1' })).some((p) => p.startsWith('TH_ISSUER must be an https URL'))).toBe(true);
  });

  it('keeps the cookie keys in order: the first seals, all unseal', () => {
    const a = randomSecret();
    const b = randomSecret();
    const config = parseConfig(baseRaw({ TH_COOKIE_KEYS: `new:${a}, old:${b}` }));
    expect(config.cookieKeys).toEqual([{ id: 'new', secret: a }, { id: 'old', secret: b }]);
  });

  it('derives the client authentication method from what is set', () => {
    const jwk = JSON.stringify({ kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd' });
    const pk = parseConfig(baseRaw({ TH_CLIENT_SECRET: undefined, TH_CLIENT_PRIVATE_KEY: jwk }));
    expect(pk.clientAuth).toBe('private_key_jwt');
    expect(pk.clientPrivateKey?.alg).toBe('ES256');
    expect(pk.clientSecret).toBeUndefined();
    expect(parseConfig(baseRaw({ TH_CLIENT_AUTH: 'client_secret_post' })).clientAuth).toBe('client_secret_post');
    expect(problems(baseRaw({ TH_CLIENT_AUTH: 'private_key_jwt' }))).toContain('TH_CLIENT_PRIVATE_KEY is required when TH_CLIENT_AUTH is private_key_jwt');
    expect(problems(baseRaw({ TH_CLIENT_SECRET: undefined, TH_CLIENT_PRIVATE_KEY: '{"kty":"RSA"}' }))).toContain('TH_CLIENT_PRIVATE_KEY must be a private key (it has no "d" member)');
    expect(problems(baseRaw({ TH_CLIENT_SECRET: undefined, TH_CLIENT_PRIVATE_KEY: 'not json' }))).toContain('TH_CLIENT_PRIVATE_KEY must be a private JWK in JSON');
  });

  it('always requests the openid scope', () => {
    expect(parseConfig(baseRaw({ TH_SCOPE: 'profile email' })).scope).toBe('openid profile email');
  });

  it('parses routes, options and trusted origins', () => {
    const config = parseConfig(
      baseRaw({
        TH_API_ROUTES: '/api/orders/=https://orders.example.test/v2/, /api=https://api.example.test',
        TH_API_ROUTE_OPTIONS: '/api/orders=methods:GET|post, /api=public',
        TH_TRUSTED_ORIGINS: 'https://app.example.test',
      }),
    );
    expect(config.apiRoutes).toEqual([
      { prefix: '/api/orders', upstream: 'https://orders.example.test/v2', public: false, nosniff: true, methods: ['GET', 'POST'] },
      { prefix: '/api', upstream: 'https://api.example.test', public: true, nosniff: true },
    ]);
    expect(config.trustedOrigins).toEqual(['https://www.example.test', 'https://app.example.test']);
  });
});
