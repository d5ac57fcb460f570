import { describe, expect, it } from 'vitest';
import { cookieNames } from '../../src/core/cookies.js';
import { TokenHandlerError } from '../../src/core/errors.js';
import { assertSafePath, filterUpstreamResponseHeaders, matchRoute, rewriteUpstreamRequest } from '../../src/core/proxy.js';
import { testConfig } from '../helpers/config.js';

const config = testConfig({
  TH_API_ROUTES: '/api=https://api.example.test/base,/api/orders=https://orders.example.test/v2',
});
const names = cookieNames('th');

describe('matchRoute', () => {
  it('matches on a / boundary and prefers the longest prefix', () => {
    expect(matchRoute(config.apiRoutes, '/api/orders/7')).toMatchObject({ route: { prefix: '/api/orders' }, rest: '/7' });
    expect(matchRoute(config.apiRoutes, '/api/orders')).toMatchObject({ route: { prefix: '/api/orders' }, rest: '' });
    expect(matchRoute(config.apiRoutes, '/api/ordersx')).toMatchObject({ route: { prefix: '/api' }, rest: '/ordersx' });
    expect(matchRoute(config.apiRoutes, '/apix')).toBeUndefined();
    expect(matchRoute(config.apiRoutes, '/other/api')).toBeUndefined();
  });
});

describe('assertSafePath', () => {
  it.each([
    '/api/../admin',
    '/api/./x',
    '/api/%2e%2e/admin',
    '/api/%2E%2E/admin',
    '/api/.%2e/admin',
    '/api/%252e%252e/admin',
    '/api/%25252e%25252e/admin',
    '/api/a%2fb',
    '/api/a%2Fb',
    '/api/a%252fb',
    '/api/a%5cb',
    '/api/a\\b',
    '/api/%00',
    '/api/%zz',
    'http://evil.test/api',
  ])('refuses %s', (path) => {
    expect(() => assertSafePath(path)).toThrow(TokenHandlerError);
  });

  it.each(['/api/orders/7', '/api/a%20b', '/api/caf%C3%A9', '/api/a..b', '/api/.well-known'])('accepts %s', (path) => {
    expect(() => assertSafePath(path)).not.toThrow();
  });
});

describe('rewriteUpstreamRequest', () => {
  const match = matchRoute(config.apiRoutes, '/api/orders/7')!;

  it('builds the upstream URL from the route, never from the request', () => {
    const up = rewriteUpstreamRequest({ method: 'GET', search: '?a=1&b=2', headers: new Headers({ host: 'evil.test' }) }, match, 'AT', config, names);
    expect(up.url).toBe('https://orders.example.test/v2/7?a=1&b=2');
    expect(up.headers.get('host')).toBeNull();
  });

  it('replaces Authorization, strips our cookies and spoofable or hop-by-hop headers', () => {
    const headers = new Headers({
      authorization: 'Bearer attacker',
      cookie: 'a=1; __Host-th-at=sealed; __host-th-at.1=x; __Secure-th-rt=y; b=2',
      connection: 'keep-alive, x-secret',
      'x-secret': 'hidden',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      trailer: 'x',
      upgrade: 'websocket',
      'proxy-authorization': 'Basic x',
      'token-handler-version': '1',
      forwarded: 'for=1.2.3.4',
      'x-forwarded-for': '6.6.6.6',
      'x-forwarded-host': 'evil.test',
      'x-forwarded-proto': 'http',
      'x-real-ip': '6.6.6.6',
      accept: 'application/json',
      'x-custom': 'kept',
    });
    const up = rewriteUpstreamRequest({ method: 'POST', search: '', headers, clientIp: '203.0.113.9' }, match, 'AT', config, names);
    expect(up.headers.get('authorization')).toBe('Bearer AT');
    expect(up.headers.get('cookie')).toBe('a=1; b=2');
    for (const gone of ['connection', 'x-secret', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'token-handler-version', 'forwarded', 'x-real-ip']) {
      expect(up.headers.get(gone), gone).toBeNull();
    }
    expect(up.headers.get('x-forwarded-for')).toBe('203.0.113.9');
    expect(up.headers.get('x-forwarded-host')).toBe('www.example.test');
    expect(up.headers.get('x-forwarded-proto')).toBe('https');
    expect(up.headers.get('accept')).toBe('application/json');
    expect(up.headers.get('x-custom')).toBe('kept');
  });

  it('drops a Cookie header that only held our cookies, and sends no Authorization on a public route', () => {
    const up = rewriteUpstreamRequest({ method: 'GET', search: '', headers: new Headers({ cookie: '__Host-th-at=x', authorization: 'Bearer attacker' }) }, match, undefined, config, names);
    expect(up.headers.get('cookie')).toBeNull();
    expect(up.headers.get('authorization')).toBeNull();
  });
});

describe('filterUpstreamResponseHeaders', () => {
  it('drops hop-by-hop headers and any Set-Cookie for our cookies', () => {
    const upstream = new Headers({ connection: 'close, x-hop', 'x-hop': '1', 'transfer-encoding': 'chunked', 'content-type': 'application/json' });
    upstream.append('set-cookie', '__Host-th-at=evil; Path=/');
    upstream.append('set-cookie', '__HOST-TH-AT.0=evil; Path=/');
    upstream.append('set-cookie', '__Secure-th-rt=; Max-Age=0');
    upstream.append('set-cookie', 'app=1; Path=/');
    const out = filterUpstreamResponseHeaders(upstream, names);
    expect(out.getSetCookie()).toEqual(['app=1; Path=/']);
    expect(out.get('connection')).toBeNull();
    expect(out.get('x-hop')).toBeNull();
    expect(out.get('transfer-encoding')).toBeNull();
    expect(out.get('content-type')).toBe('application/json');
  });
});
