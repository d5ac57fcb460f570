/**
 * The phantom token settings: the `introspect` route option, TH_INTROSPECTION_FORMAT and
 * TH_INTROSPECTION_CACHE_TTL, with their defaults, bounds and refusals.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/parse.js';
import { baseRaw } from '../helpers/config.js';

const ROUTES = { TH_API_ROUTES: '/api=https://api.example.test,/other=https://other.example.test' };

function problems(raw: Record<string, string | undefined>): string[] {
  try {
    parseConfig(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('phantom token settings', () => {
  it('are off by default: no route introspects; RFC 9701 responses, cached 60 s', () => {
    const config = parseConfig(baseRaw(ROUTES));
    expect(config.apiRoutes.map((r) => r.introspect)).toEqual([undefined, undefined]);
    expect(config.introspectionFormat).toBe('token-introspection+jwt');
    expect(config.introspectionCacheTtl).toBe(60);
  });

  it('turns introspection on per route, beside the other options', () => {
    const config = parseConfig(baseRaw({ ...ROUTES, TH_API_ROUTE_OPTIONS: '/api=introspect methods:GET|POST' }));
    expect(config.apiRoutes).toEqual([
      { prefix: '/api', upstream: 'https://api.example.test', public: false, nosniff: true, introspect: true, methods: ['GET', 'POST'] },
      { prefix: '/other', upstream: 'https://other.example.test', public: false, nosniff: true },
    ]);
  });

  it('reads the format and the TTL, 0 included', () => {
    const config = parseConfig(baseRaw({ TH_INTROSPECTION_FORMAT: 'JWT', TH_INTROSPECTION_CACHE_TTL: '0' }));
    expect(config.introspectionFormat).toBe('jwt');
    expect(config.introspectionCacheTtl).toBe(0);
    expect(parseConfig(baseRaw({ TH_INTROSPECTION_CACHE_TTL: '3600' })).introspectionCacheTtl).toBe(3600);
  });

  it('refuses a public route that introspects, an unknown format and a TTL out of bounds, all at once', () => {
    expect(
      problems(baseRaw({ ...ROUTES, TH_API_ROUTE_OPTIONS: '/api=public introspect', TH_INTROSPECTION_FORMAT: 'json', TH_INTROSPECTION_CACHE_TTL: '3601' })),
    ).toEqual([
      'TH_API_ROUTE_OPTIONS for /api combines public and introspect; a public route sends no token',
      'TH_INTROSPECTION_FORMAT must be one of token-introspection+jwt, jwt (got "json")',
      'TH_INTROSPECTION_CACHE_TTL must be between 0 and 3600 (got 3601)',
    ]);
    expect(problems(baseRaw({ TH_INTROSPECTION_CACHE_TTL: '-1' }))).toEqual(['TH_INTROSPECTION_CACHE_TTL must be a whole number of seconds (got "-1")']);
  });

  it('names introspect among the options when one is misspelt', () => {
    expect(problems(baseRaw({ ...ROUTES, TH_API_ROUTE_OPTIONS: '/api=introspection' }))).toEqual([
      'TH_API_ROUTE_OPTIONS for /api has an unknown option "introspection" (use public, allow-sniffing, introspect or methods:GET|POST)',
    ]);
  });
});
