/**
 * What goes upstream and what comes back (contract §2 steps 4 and 5), against recording upstreams.
 * The harness (./proxy-harness.ts) starts the upstreams, the stack and the Node server for this file.
 */
import { describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { PUBLIC_ORIGIN } from '../helpers/stack.js';
import { app, call, evil, expectError, odd, raw, session, stack } from './proxy-harness.js';

// --- request headers --------------------------------------------------------------------------

describe('request headers', () => {
  it('replaces Authorization, drops hop-by-hop, spoofed and method-override headers, sets X-Forwarded-* itself', async () => {
    const before = stack.upstreamRequests.length;
    const res = await raw('POST', '/api/echo/h?x=1', [
      'cookie', `app=1; ${session}; theme=dark`,
      'authorization', 'Bearer attacker',
      'connection', 'keep-alive, x-secret',
      'x-secret', 'must-not-pass',
      'keep-alive', 'timeout=5',
      'te', 'trailers',
      'proxy-authorization', 'Basic eDp5',
      'proxy-connection', 'keep-alive',
      'token-handler-version', '1',
      'origin', PUBLIC_ORIGIN,
      'sec-fetch-site', 'same-origin',
      'forwarded', 'for=6.6.6.6;host=evil.test;proto=http',
      'x-forwarded-for', '6.6.6.6',
      'x-forwarded-host', 'evil.test',
      'x-forwarded-proto', 'http',
      'x-forwarded-port', '1',
      'x-real-ip', '6.6.6.6',
      'cf-connecting-ip', '6.6.6.6',
      'x-http-method-override', 'DELETE',
      'referer', `${PUBLIC_ORIGIN}/?code=abc&state=def`,
      'content-type', 'text/plain',
      'content-length', '5',
      'accept', 'application/json',
      'x-custom', 'kept',
    ], Buffer.from('hello'));
    expect(res.status).toBe(200);
    const echoed = JSON.parse(res.text) as { authorization: string; body_size: number; method: string };
    expect(echoed).toMatchObject({ authorization: 'valid', body_size: 5, method: 'POST' });
    const [arrived] = stack.upstreamRequests.slice(before);
    const h = arrived!.headers;
    expect(h['authorization']).toMatch(/^Bearer ey/);
    expect(h['cookie']).toBe('app=1; theme=dark');
    expect(h['host']).toBe(new URL(stack.api.url).host);
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-host']).toBe('www.example.test');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['content-type']).toBe('text/plain');
    expect(h['content-length']).toBe('5');
    expect(h['accept']).toBe('application/json');
    expect(h['x-custom']).toBe('kept');
    for (const gone of [
      'x-secret', 'keep-alive', 'te', 'proxy-authorization', 'proxy-connection', 'token-handler-version', 'forwarded',
      'x-forwarded-port', 'x-real-ip', 'cf-connecting-ip', 'x-http-method-override', 'referer',
    ]) {
      expect(h[gone], gone).toBeUndefined();
    }
    // `Connection` upstream is the fetch client's own, never the client's list.
    expect(h['connection'] ?? '').not.toContain('x-secret');
  });

  it("removes our cookies in any letter case and as chunks, keeps the others, and drops an emptied Cookie", async () => {
    const before = stack.upstreamRequests.length;
    const planted = '__HOST-TH-AT=x; __Host-th-at.0=x; __host-th-at.1=x; __Secure-th-rt=x; __SECURE-TH-ID.3=x; __Host-th-login-0=x; __Host-th-login-2.0=x';
    const res = await call('GET', '/api/echo', { cookie: `a=1; ${planted}; ${session}; __Host-th-atx=y; b=2` });
    // Our name both whole and as a chunk is ambiguous (a planted cookie): refused, not guessed.
    expectError(res, 401, 'unauthorized_request');
    const kept = await call('GET', '/api/echo', { cookie: `a=1; ${session}; __host-th-at.1=x; __Secure-th-rt.0=x; __Host-th-atx=y; b=2` });
    expect(kept.status).toBe(200);
    expect(stack.upstreamRequests.at(-1)!.headers['cookie']).toBe('a=1; __Host-th-atx=y; b=2');
    const only = await call('GET', '/api/echo', { cookie: `${session}; __Secure-th-id=x` });
    expect(only.status).toBe(200);
    expect(stack.upstreamRequests.at(-1)!.headers['cookie']).toBeUndefined();
    expect(stack.upstreamRequests.length - before).toBe(2);
  });

  it('keeps our cookies out of a second Cookie header line', async () => {
    const before = stack.upstreamRequests.length;
    // Node joins Cookie lines with '; '; the third line is what a runtime joining with ', ' makes of two.
    const res = await raw('GET', '/api/echo', ['cookie', 'a=1; b=2', 'cookie', session, 'cookie', 'c=3, __Host-th-login-1=x']);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ authorization: 'valid' });
    const h = stack.upstreamRequests.slice(before)[0]!.headers;
    expect(h['cookie']).toBe('a=1; b=2; c=3');
  });

  it('passes an upload that announces Expect: 100-continue (curl does for large bodies)', async () => {
    const res = await raw('PUT', '/api/echo', ['cookie', session, 'token-handler-version', '1', 'origin', PUBLIC_ORIGIN, 'expect', '100-continue', 'content-length', '3'], Buffer.from('abc'));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ method: 'PUT', body_size: 3 });
    expect(stack.upstreamRequests.at(-1)!.headers['expect']).toBeUndefined();
  });
});

// --- responses --------------------------------------------------------------------------------

describe('upstream responses', () => {
  it("keeps status, body and headers, minus hop-by-hop, CORS, Clear-Site-Data and any Set-Cookie for our cookies", async () => {
    const res = await call('GET', '/odd/cookies');
    expect(res.status).toBe(201);
    expect(res.text).toBe('created');
    expect(res.headers.get('x-upstream')).toBe('kept');
    expect(res.headers.get('x-repeated')).toBe('one, two');
    expect(res.headers.get('x-mixed-case')).toBe('Kept');
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(res.headers.getSetCookie()).toEqual(['app=1; Path=/; SameSite=Lax', '__Host-th-atx=kept; Path=/']);
    for (const gone of ['clear-site-data', 'access-control-allow-origin', 'access-control-allow-credentials', 'x-hop', 'keep-alive']) {
      expect(res.headers.get(gone), gone).toBeNull();
    }
  });

  it('passes a redirect back without following it', async () => {
    const res = await call('GET', '/odd/redirect');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${evil.url}/steal`);
    expect(evil.hits).toEqual([]);
  });

  it('gives 502 upstream_unavailable when the upstream does not answer in time', async () => {
    const logsBefore = stack.logs.length;
    expectError(await call('GET', '/odd/never'), 502, 'upstream_unavailable');
    expect(stack.logs.slice(logsBefore).some((l) => l.includes('"reason":"upstream_timeout"'))).toBe(true);
  });

  it('gives 502 upstream_unavailable when the upstream refuses the connection', async () => {
    const logsBefore = stack.logs.length;
    const res = await call('GET', '/closed/x');
    expectError(res, 502, 'upstream_unavailable');
    expect(res.text).not.toContain('127.0.0.1');
    expect(stack.logs.slice(logsBefore).some((l) => l.includes('"reason":"upstream_unreachable"'))).toBe(true);
  });

  it('passes a compressed body through untouched with node:http, on the fast path and through the Hono route', async () => {
    // The Node adapter's upstream client never decodes: bytes and Content-Encoding go back as sent.
    const gz = await raw('GET', '/odd/gzip', ['cookie', session, 'accept-encoding', 'gzip, deflate, br, zstd']);
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gz.bytes).toString()).toBe('hello, compressed world');
    expect(odd.requests.at(-1)!.headers['accept-encoding']).toBe('gzip, deflate, br, zstd');
    // The same client behind the Hono route (the app mounted in-process by a host): the same bytes.
    const mounted = await app.request(PUBLIC_ORIGIN + '/odd/gzip', { headers: { cookie: session, 'accept-encoding': 'gzip, deflate, br, zstd' } });
    expect(mounted.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await mounted.arrayBuffer())).toString()).toBe('hello, compressed world');
    expect(odd.requests.at(-1)!.headers['accept-encoding']).toBe('gzip, deflate, br, zstd');
    const other = await call('GET', '/odd/odd-coding');
    expect(other.headers.get('content-encoding')).toBe('x-custom');
  });

  it('gives 502 upstream_unavailable, never a 500, for a status the Fetch API cannot carry', async () => {
    expectError(await call('GET', '/odd/status-600'), 502, 'upstream_unavailable');
    const res = await raw('GET', '/odd/status-600', ['cookie', session]);
    expect(res.status).toBe(502);
    expect(JSON.parse(res.text)).toMatchObject({ error_code: 'upstream_unavailable' });
  });

  it("the Node adapter's upstream client: redirects passed back, refusals and timeouts as 502", async () => {
    const redirect = await raw('GET', '/odd/redirect', ['cookie', session]);
    expect(redirect.status).toBe(302);
    expect(redirect.headers['location']).toBe(`${evil.url}/steal`);
    expect(evil.hits).toEqual([]);
    const refused = await raw('GET', '/closed/x', ['cookie', session]);
    expect(refused.status).toBe(502);
    expect(JSON.parse(refused.text)).toMatchObject({ error_code: 'upstream_unavailable' });
    const logsBefore = stack.logs.length;
    const slow = await raw('GET', '/odd/never', ['cookie', session]);
    expect(slow.status).toBe(502);
    expect(JSON.parse(slow.text)).toMatchObject({ error_code: 'upstream_unavailable' });
    expect(stack.logs.slice(logsBefore).some((l) => l.includes('"reason":"upstream_timeout"'))).toBe(true);
  });
});
