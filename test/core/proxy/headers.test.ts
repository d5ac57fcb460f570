import { describe, expect, it } from 'vitest';
import { cookieNames } from '../../../src/core/session/cookie-table.js';
import { filterUpstreamResponseHeaders, rewriteUpstreamRequest } from '../../../src/core/proxy/headers.js';
import { matchRoute } from '../../../src/core/proxy/routes.js';
import { testConfig } from '../../helpers/config.js';

const config = testConfig({
  TH_API_ROUTES: '/api=https://api.example.test/base,/api/orders=https://orders.example.test/v2',
});
const names = cookieNames('th');
describe('rewriteUpstreamRequest', () => {
  const match = matchRoute(config.apiRoutes, '/api/orders/7')!;

  it('drops every cookie when the client names Cookie in Connection', () => {
    const headers = new Headers({ connection: 'cookie, x-a', cookie: 'foreign=1; __Host-th-at=zzz', 'x-a': '1' });
    const up = rewriteUpstreamRequest({ method: 'GET', search: '', headers }, match, 'Bearer AT', config, names);
    expect(up.headers.get('cookie')).toBeNull();
    expect(up.headers.get('x-a')).toBeNull();
  });

  it('builds the upstream URL from the route, never from the request', () => {
    const up = rewriteUpstreamRequest({ method: 'GET', search: '?a=1&b=2', headers: new Headers({ host: 'evil.test' }) }, match, 'Bearer AT', config, names);
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
    const up = rewriteUpstreamRequest({ method: 'POST', search: '', headers, clientIp: '203.0.113.9' }, match, 'Bearer AT', config, names);
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

  it('drops method overrides, Expect, Referer, DPoP and edge headers a client could spoof', () => {
    const headers = new Headers({
      'x-http-method-override': 'DELETE',
      'x-http-method': 'DELETE',
      'x-method-override': 'DELETE',
      expect: '100-continue',
      referer: 'https://www.example.test/?code=abc&state=def',
      dpop: 'proof',
      'cf-connecting-ip': '6.6.6.6',
      'cloudfront-viewer-address': '6.6.6.6:1',
      'x-amz-cf-id': 'x',
      'true-client-ip': '6.6.6.6',
      'proxy-anything': 'x',
    });
    const up = rewriteUpstreamRequest({ method: 'GET', search: '', headers }, match, 'Bearer AT', config, names);
    expect([...up.headers.keys()].sort()).toEqual(['authorization', 'x-forwarded-host', 'x-forwarded-proto']);
  });

  it('keeps Content-Length for a body, never for a GET or HEAD (which go without one)', () => {
    const headers = new Headers({ 'content-length': '5', 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    expect(rewriteUpstreamRequest({ method: 'PUT', search: '', headers }, match, 'Bearer AT', config, names).headers.get('content-length')).toBe('5');
    expect(rewriteUpstreamRequest({ method: 'GET', search: '', headers }, match, 'Bearer AT', config, names).headers.get('content-length')).toBeNull();
    expect(rewriteUpstreamRequest({ method: 'PUT', search: '', headers }, match, 'Bearer AT', config, names).headers.get('transfer-encoding')).toBeNull();
  });

  it('finds our cookies in a second Cookie line joined with ", ", and leaves a comma inside a value alone', () => {
    // Node's Headers joins Cookie lines with '; ', but the Fetch standard (and so other runtimes) with ', '.
    const headers = new Headers({ cookie: 'a=1; b=2, __Host-th-at=sealed; c=3, __Host-th-login-1=x; d=x,y' });
    const up = rewriteUpstreamRequest({ method: 'GET', search: '', headers }, match, 'Bearer AT', config, names);
    expect(up.headers.get('cookie')).toBe('a=1; b=2; c=3; d=x,y');
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

  it('drops CORS and Clear-Site-Data (the token handler owns both), and a nameless Set-Cookie holding our name', () => {
    const upstream = new Headers({
      'access-control-allow-origin': '*',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x',
      'clear-site-data': '"cookies"',
      'proxy-authenticate': 'Basic',
      location: '/elsewhere',
      'www-authenticate': 'Bearer',
    });
    upstream.append('set-cookie', '__Host-th-at; Path=/');
    upstream.append('set-cookie', ' __Secure-th-id.1 =x');
    upstream.append('set-cookie', '__Host-th-at-other=1');
    const out = filterUpstreamResponseHeaders(upstream, names);
    expect([...out.keys()].sort()).toEqual(['location', 'set-cookie', 'www-authenticate', 'x-content-type-options']);
    expect(out.getSetCookie()).toEqual(['__Host-th-at-other=1']);
  });
});
