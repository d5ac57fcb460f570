/**
 * The proxy's header rules against what the outside review tried (issue 11, findings 4, 5 and 8)
 * and what an attacker would try next: nameless Set-Cookie lines that come back as ours, URL and
 * host override headers that re-route a request carrying the bearer token, and nosniff on answers
 * served from the SPA's origin.
 */
import { describe, expect, it } from 'vitest';
import { cookieNames } from '../../../src/core/session/cookie-table.js';
import { filterUpstreamResponseHeaders, rewriteUpstreamRequest } from '../../../src/core/proxy/headers.js';
import { matchRoute } from '../../../src/core/proxy/routes.js';
import { testConfig } from '../../helpers/config.js';

const config = testConfig({
  TH_API_ROUTES: '/api=https://api.example.test/base,/docs=https://docs.example.test',
  TH_API_ROUTE_OPTIONS: '/docs=allow-sniffing',
});
const names = cookieNames('th');
const apiMatch = matchRoute(config.apiRoutes, '/api/x')!;
const docsMatch = matchRoute(config.apiRoutes, '/docs/x')!;

/** Set-Cookie lines as a runtime hands them over; any character, as workerd allows (Node's Headers takes Latin-1 only). */
function filteredSetCookies(lines: string[]): string[] {
  const upstream = { get: () => null, forEach: (callback: (value: string, name: string) => void) => lines.forEach((line) => callback(line, 'set-cookie')), getSetCookie: () => lines };
  return filterUpstreamResponseHeaders(upstream, names, apiMatch.route).getSetCookie();
}
/** A string's UTF-8 bytes read as Latin-1: what Node's parser makes of them. */
const asNodeSees = (text: string) => Buffer.from(text, 'utf8').toString('latin1');

describe('a nameless Set-Cookie from the upstream (finding 4)', () => {
  // A browser stores `=v` (or a line with no `=`) as a cookie without a name and sends it back as
  // the bare value: `=__Host-th-at=x` returns as `__Host-th-at=x`, which a server reads as ours.
  it.each([
    '=__Host-th-at=x',
    '  =__Host-th-at=x',
    '\t=__Host-th-at=x; Path=/',
    '=__Host-th-at.0=x',
    '=  __Host-th-at.1=x; Secure',
    '=__Secure-th-rt=x; Path=/oauth-agent',
    '=__secure-th-id.2=; Max-Age=0',
    '=__Host-th-login-AbCdEfGhIjKl=x',
    '=__HOST-TH-AT=x',
    '=\u2000__Host-th-at=x',
    '=\ufeff__Host-th-at=x',
    asNodeSees('=\u2000__Host-th-at=x'),
    asNodeSees('=\u00a0__Host-th-at.0=x'),
    '__Host-th-at; Path=/',
    '  __Host-th-at.3  ; Path=/',
    '=__Host-th-at',
  ])('drops %j', (line) => {
    expect(filteredSetCookies([line, 'app=1'])).toEqual(['app=1']);
  });

  it('keeps nameless cookies that do not come back as ours, and named ones whose value merely mentions our name', () => {
    const kept = ['=theme=dark', '=plain', 'note==__Host-th-at=x', 'x=__Host-th-at=y', '=__Host-th-atx=1'];
    expect(filteredSetCookies(kept)).toEqual(kept);
  });

  it('drops a named look-alike of ours as well (stripping more is safe)', () => {
    expect(filteredSetCookies(['\u2000__Host-th-at=x', '__Host-th-at\u200b=x', '\u00a0__Secure-th-rt=x', asNodeSees('\ufeff__Host-th-at=x'), '__HOST-th-at=x', 'ok=1'])).toEqual(['ok=1']);
  });
});

describe('URL, host and method override headers (finding 5)', () => {
  const overrides = {
    'x-original-url': '/admin/delete-all',
    'x-rewrite-url': '/admin',
    'x-override-url': '/admin',
    'x-original-uri': '/admin',
    'x-http-destinationurl': 'https://evil.test/',
    'x-proxy-url': 'https://evil.test/',
    'x-forwarded-uri': '/admin',
    'x-forwarded-path': '/admin',
    'x-forwarded-prefix': '/admin',
    'x-forwarded-server': 'evil.test',
    'x-host': 'evil.test',
    'x-original-host': 'evil.test',
    'x-original-method': 'DELETE',
    'x-envoy-original-path': '/admin',
    'x-envoy-original-url': 'https://evil.test/admin',
    'x-envoy-upstream-rq-timeout-ms': '1',
    'x-envoy-retry-on': '5xx',
    'x-middleware-subrequest': 'middleware:middleware:middleware:middleware:middleware',
  };

  it('never forwards one, on a session route or a public one', () => {
    for (const token of ['AT', undefined]) {
      const up = rewriteUpstreamRequest({ method: 'GET', search: '', headers: new Headers({ ...overrides, accept: 'text/html' }) }, apiMatch, token, config, names);
      for (const name of Object.keys(overrides)) expect(up.headers.has(name), name).toBe(false);
      expect(up.headers.get('accept')).toBe('text/html');
    }
  });

  it('in any letter case, and when also named in Connection', () => {
    const headers = new Headers({ 'X-Original-URL': '/admin', 'X-REWRITE-URL': '/admin', connection: 'x-original-uri', 'x-original-uri': '/admin' });
    const up = rewriteUpstreamRequest({ method: 'POST', search: '', headers }, apiMatch, 'AT', config, names);
    expect([...up.headers.keys()].filter((n) => n.startsWith('x-original') || n.startsWith('x-rewrite'))).toEqual([]);
  });

  it('keeps headers that only look related', () => {
    const headers = new Headers({ 'x-original-request-id': 'r1', 'x-url': 'kept', 'x-hostname-hint': 'kept' });
    const up = rewriteUpstreamRequest({ method: 'GET', search: '', headers }, apiMatch, 'AT', config, names);
    expect(up.headers.get('x-original-request-id')).toBe('r1');
    expect(up.headers.get('x-url')).toBe('kept');
    expect(up.headers.get('x-hostname-hint')).toBe('kept');
  });

  it('names the route the request goes by, for the answer', () => {
    expect(rewriteUpstreamRequest({ method: 'GET', search: '', headers: new Headers() }, docsMatch, 'AT', config, names).route).toBe(docsMatch.route);
  });
});

describe('nosniff on proxied answers (finding 8)', () => {
  const answer = (headers: Record<string, string>, route?: { nosniff: boolean }) => filterUpstreamResponseHeaders(new Headers(headers), names, route);

  it('adds nosniff to an answer without it', () => {
    expect(answer({ 'content-type': 'text/html' }, apiMatch.route).get('x-content-type-options')).toBe('nosniff');
    expect(answer({}, apiMatch.route).get('x-content-type-options')).toBe('nosniff');
  });

  it('replaces any other value (nosniff is the only one browsers know), and keeps one nosniff', () => {
    expect(answer({ 'x-content-type-options': 'sniff-away' }, apiMatch.route).get('x-content-type-options')).toBe('nosniff');
    expect(answer({ 'x-content-type-options': 'nosniff' }, apiMatch.route).get('x-content-type-options')).toBe('nosniff');
  });

  it('leaves an allow-sniffing route as the upstream answered', () => {
    expect(docsMatch.route.nosniff).toBe(false);
    expect(answer({ 'content-type': 'text/html' }, docsMatch.route).has('x-content-type-options')).toBe(false);
    expect(answer({ 'x-content-type-options': 'nosniff' }, docsMatch.route).get('x-content-type-options')).toBe('nosniff');
  });

  it('adds it when no route is known', () => {
    expect(answer({ 'content-type': 'text/plain' }).get('x-content-type-options')).toBe('nosniff');
  });
});
