/**
 * Fuzzing (fast-check) of the proxy's rules as pure functions, on raw (unparsed) paths, headers and upstream response headers: nothing climbs out of a route, nothing of ours goes upstream or comes back.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/parse.js';
import { cookieNames } from '../../src/core/session/cookie-table.js';
import { TokenHandlerError } from '../../src/core/errors.js';
import { filterUpstreamResponseHeaders, rewriteUpstreamRequest } from '../../src/core/proxy/headers.js';
import { assertSafePath } from '../../src/core/proxy/path-safety.js';
import { matchRoute } from '../../src/core/proxy/routes.js';
import { PUBLIC_ORIGIN } from '../helpers/spa-client.js';
import { randomSecret } from '../helpers/config.js';
import { TIMEOUT, headerText, settings } from './fuzz-harness.js';

describe('the proxy rules as pure functions, on raw (unparsed) paths', () => {
  const config = parseConfig({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: 'https://idp.example.test',
    TH_CLIENT_ID: 'c',
    TH_CLIENT_SECRET: randomSecret(),
    TH_COOKIE_KEYS: `k1:${randomSecret()}`,
    TH_API_ROUTES: '/api=https://api.example.test/v1,/api/orders=https://orders.example.test/v2/base',
  });
  const names = cookieNames(config.cookiePrefix);

  /** How the most lenient server behind us might read a path: decode repeatedly, fold Unicode, `\` as `/`, drop `;params`, resolve dots. */
  function lenientRead(path: string): string {
    let p = path;
    for (let i = 0; i < 6; i++) {
      const decoded = p.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      if (decoded === p) break;
      p = decoded;
    }
    p = p.normalize('NFKC').replace(/\\/g, '/');
    const out: string[] = [];
    for (const segment of p.split('/')) {
      const name = segment.split(';')[0];
      if (name === '..') out.pop();
      else if (name !== '.') out.push(segment);
    }
    return out.join('/');
  }
  const under = (path: string, base: string) => path === base || path.startsWith(base.endsWith('/') ? base : `${base}/`);

  it('a path the proxy accepts stays inside its upstream base, however a server downstream decodes it', { timeout: TIMEOUT }, () => {
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '%2e%2e', '%2E.', '.%2e', '%252e%252e', '%25252e%25252e', '..;', '..;x', '.;', '%2e%2e;', '%2f', '%2F', '%5c', '%255c', '\\', '%00', '\u2025', '\uff0e\uff0e', '\uff0e', '\uff0f', '\uff3c', 'a', 'b c', '%', '%zz', '%25', ';', 'ok', '', '%c0%ae%c0%ae', '%e2%80%a5', '%ef%bc%8e%ef%bc%8e'),
      fc.string({ maxLength: 10 }),
      fc.string({ unit: 'binary', maxLength: 6 }),
    );
    fc.assert(
      fc.property(fc.constantFrom('/api', '/api/orders', '/apix', '/API'), fc.array(segment, { maxLength: 6 }), (prefix, segments) => {
        const raw = [prefix, ...segments].join('/').replace(/[?#]/g, '');
        const match = matchRoute(config.apiRoutes, raw);
        if (!match) return;
        try {
          assertSafePath(raw);
        } catch (error) {
          expect(error).toBeInstanceOf(TokenHandlerError);
          expect((error as TokenHandlerError).status).toBe(400);
          return;
        }
        const upstream = rewriteUpstreamRequest({ method: 'GET', search: '', headers: new Headers() }, match, 'Bearer tok', config, names);
        const base = new URL(match.route.upstream);
        const sent = new URL(upstream.url);
        expect(sent.origin).toBe(base.origin);
        expect(under(sent.pathname, base.pathname), `${raw} → ${sent.pathname}`).toBe(true);
        expect(under(lenientRead(sent.pathname), lenientRead(base.pathname)), `${raw} → ${lenientRead(sent.pathname)}`).toBe(true);
      }),
      settings(3000, 10),
    );
  });

  it('the upstream request never carries the client’s credentials, our cookies, hop-by-hop or forged forwarding headers', { timeout: TIMEOUT }, () => {
    const ownName = fc.tuple(fc.constantFrom(...names.all), fc.option(fc.integer({ min: 0, max: 6 })), fc.boolean()).map(([n, chunk, odd]) => {
      const name = chunk === null ? n : `${n}.${chunk}`;
      return odd ? name.toUpperCase() : name;
    });
    const cookiePair = fc.oneof(
      fc.tuple(ownName, fc.stringMatching(/^[A-Za-z0-9*._-]{0,20}$/)).map(([n, v]) => `${n}=${v}`),
      fc.tuple(fc.stringMatching(/^[a-z_]{1,10}$/), fc.stringMatching(/^[A-Za-z0-9._-]{0,20}$/)).map(([n, v]) => `${n}=${v}`),
    );
    const headerName = fc.oneof(
      fc.constantFrom('authorization', 'connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-connection', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'token-handler-version', 'host', 'accept', 'x-custom'),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(headerName, headerText(40)), { maxLength: 8 }),
        fc.array(cookiePair, { maxLength: 6 }),
        fc.array(headerName, { maxLength: 3 }),
        fc.option(fc.constantFrom('203.0.113.9', '2001:db8::1')),
        (pairs, cookies, connectionNamed, clientIp) => {
          const headers = new Headers();
          for (const [n, v] of pairs) headers.append(n, v);
          if (cookies.length) headers.append('cookie', cookies.join('; '));
          if (connectionNamed.length) headers.append('connection', connectionNamed.join(', '));
          const match = matchRoute(config.apiRoutes, '/api/x')!;
          const out = rewriteUpstreamRequest({ method: 'POST', search: '?q=1', headers, ...(clientIp ? { clientIp } : {}) }, match, 'Bearer the-access-token', config, names).headers;
          expect(out.get('authorization')).toBe('Bearer the-access-token');
          for (const hop of ['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-connection', 'host', 'token-handler-version', 'forwarded', 'x-real-ip']) {
            expect(out.has(hop), hop).toBe(false);
          }
          const ours = new Set(['authorization', 'cookie', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);
          for (const named of connectionNamed) if (!ours.has(named)) expect(out.has(named), `Connection-named ${named}`).toBe(false);
          expect(out.get('x-forwarded-for')).toBe(clientIp ?? null);
          expect(out.get('x-forwarded-host')).toBe(new URL(PUBLIC_ORIGIN).host);
          expect(out.get('x-forwarded-proto')).toBe('https');
          for (const part of (out.get('cookie') ?? '').split(/[;,]/)) {
            const name = part.split('=')[0]!.trim().toLowerCase().replace(/\.\d+$/, '');
            expect(names.all.map((n) => n.toLowerCase())).not.toContain(name);
          }
          out.forEach((value, name) => {
            if (name !== 'authorization') expect(value).not.toContain('the-access-token');
          });
        },
      ),
      settings(1000, 5),
    );
  });

  it('the upstream response never sets or clears our cookies, nor passes hop-by-hop headers', { timeout: TIMEOUT }, () => {
    const setCookieName = fc.tuple(fc.constantFrom(...names.all, 'session', 'theme'), fc.option(fc.integer({ min: 0, max: 9 })), fc.constantFrom('lower', 'upper', 'same'), fc.constantFrom('', ' ', '\t'))
      .map(([n, chunk, cased, pad]) => {
        const name = chunk === null ? n : `${n}.${chunk}`;
        return pad + (cased === 'lower' ? name.toLowerCase() : cased === 'upper' ? name.toUpperCase() : name) + pad;
      });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(setCookieName, fc.stringMatching(/^[A-Za-z0-9._-]{0,12}$/), fc.constantFrom('', '; Path=/', '; Max-Age=0', '; Domain=example.test; Secure')), { maxLength: 6 }),
        fc.array(fc.tuple(fc.constantFrom('connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'x-secret', 'content-type', 'clear-site-data', 'x-ok'), headerText(20)), { maxLength: 5 }),
        fc.array(fc.constantFrom('x-secret', 'x-ok', 'content-type'), { maxLength: 2 }),
        (setCookies, pairs, connectionNamed) => {
          const upstream = new Headers();
          for (const [n, v, attrs] of setCookies) upstream.append('set-cookie', `${n}=${v}${attrs}`);
          for (const [n, v] of pairs) upstream.append(n, v);
          if (connectionNamed.length) upstream.set('connection', connectionNamed.join(', '));
          const out = filterUpstreamResponseHeaders(upstream, names);
          const ours = names.all.map((n) => n.toLowerCase());
          for (const line of out.getSetCookie()) {
            const name = line.slice(0, Math.max(0, line.indexOf('='))).replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase().replace(/\.\d+$/, '');
            expect(ours, line).not.toContain(name);
          }
          for (const hop of ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'clear-site-data', ...connectionNamed]) expect(out.has(hop), hop).toBe(false);
        },
      ),
      settings(1000, 5),
    );
  });
});
