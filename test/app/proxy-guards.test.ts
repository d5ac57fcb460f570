/**
 * The checks before anything goes upstream (contract §2 steps 1 to 3, §4): CSRF, methods, preflights, the session.
 * The harness (./proxy-harness.ts) starts the upstreams, the stack and the Node server for this file.
 */
import { describe, expect, it } from 'vitest';
import { SpaClient } from '../helpers/stack.js';
import { OTHER_ORIGIN, call, env, expectError, session, stack, upstreamCount } from './proxy-harness.js';

// --- guards -----------------------------------------------------------------------------------

describe('guards before anything goes upstream', () => {
  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('%s passes only the CSRF checks of §4', async (method) => {
    const before = upstreamCount();
    expectError(await call(method, '/api/echo', { 'token-handler-version': null }), 401, 'unauthorized_request');
    expectError(await call(method, '/api/echo', { 'token-handler-version': '2' }), 401, 'unauthorized_request');
    expectError(await call(method, '/api/echo', { origin: 'https://evil.test' }), 401, 'unauthorized_request');
    expectError(await call(method, '/api/echo', { 'sec-fetch-site': 'cross-site' }), 401, 'unauthorized_request');
    // Public routes are no exception: CSRF protects the API, not just the session.
    expectError(await call(method, '/public/echo', { 'token-handler-version': null, cookie: null }), 401, 'unauthorized_request');
    expect(upstreamCount()).toBe(before);
    const ok = await call(method, '/api/echo', {}, 'x');
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ method, authorization: 'valid' });
    // Same-site is enough when another origin of the site is trusted, and that origin may call.
    expect((await call(method, '/api/echo', { 'sec-fetch-site': 'same-site', origin: OTHER_ORIGIN })).status).toBe(200);
  });

  it('lets GET and HEAD through without the CSRF header', async () => {
    expect((await call('GET', '/api/echo', { 'token-handler-version': null, 'sec-fetch-site': null })).status).toBe(200);
    const head = await call('HEAD', '/api/echo', { 'token-handler-version': null });
    expect(head.status).toBe(200);
    expect(stack.upstreamRequests.at(-1)!.method).toBe('HEAD');
  });

  it('answers a preflight itself, for trusted origins only, with the route methods', async () => {
    const before = upstreamCount();
    const ok = await call('OPTIONS', '/api/echo', { origin: OTHER_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'token-handler-version, content-type', cookie: null });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(OTHER_ORIGIN);
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect(ok.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE');
    expect(ok.headers.get('access-control-allow-headers')).toContain('token-handler-version');
    const ro = await call('OPTIONS', '/ro/x', { origin: OTHER_ORIGIN, 'access-control-request-method': 'GET' });
    expect(ro.headers.get('access-control-allow-methods')).toBe('GET, HEAD');
    expectError(await call('OPTIONS', '/api/echo', { origin: 'https://evil.test', 'access-control-request-method': 'POST' }), 401, 'unauthorized_request');
    expect(upstreamCount()).toBe(before);
  });

  it('sends CORS headers on proxied answers and errors to another trusted origin only', async () => {
    const ok = await call('GET', '/api/echo', { origin: OTHER_ORIGIN, 'sec-fetch-site': 'same-site' });
    expect(ok.headers.get('access-control-allow-origin')).toBe(OTHER_ORIGIN);
    const err = await call('GET', '/api/echo', { origin: OTHER_ORIGIN, cookie: null });
    expectError(err, 401, 'unauthorized_request');
    expect(err.headers.get('access-control-allow-origin')).toBe(OTHER_ORIGIN);
    expect((await call('GET', '/api/echo')).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a missing, tampered or foreign session with 401 unauthorized_request', async () => {
    const before = upstreamCount();
    expectError(await call('GET', '/api/whoami', { cookie: null }), 401, 'unauthorized_request');
    expectError(await call('GET', '/api/whoami', { cookie: session.slice(0, -4) + 'AAAA' }), 401, 'unauthorized_request');
    expectError(await call('GET', '/api/whoami', { cookie: 'other=1', authorization: 'Bearer attacker' }), 401, 'unauthorized_request');
    expect(upstreamCount()).toBe(before);
  });

  it('answers 401 token_expired, without an upstream call, once the access token has expired', async () => {
    const clock = { now: Date.now() };
    const clocked = stack.makeApp(env, { now: () => clock.now });
    const client = new SpaClient(clocked);
    await client.login();
    expect((await client.json('GET', '/api/whoami')).status).toBe(200);
    const before = upstreamCount();
    clock.now += 301_000; // the provider's access tokens live 300 s; the session lives on
    const res = await client.json('GET', '/api/whoami');
    expect(res.status).toBe(401);
    expect(res.body['error_code']).toBe('token_expired');
    expect(upstreamCount()).toBe(before);
  });

  it("passes an upstream 401 back as it is, so the SPA refreshes and retries", async () => {
    const res = await call('GET', '/odd/unauthorized');
    expect(res.status).toBe(401);
    expect(res.text).toBe('{"error":"invalid_token"}');
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('forwards public routes without a session and without Authorization, even when the client sends both', async () => {
    const anonymous = await call('GET', '/public/echo', { cookie: null });
    expect(anonymous.status).toBe(200);
    expect(anonymous.json['authorization']).toBe('absent');
    const before = stack.upstreamRequests.length;
    const withBoth = await call('GET', '/public/echo', { authorization: 'Bearer attacker', cookie: `${session}; a=1` });
    expect(withBoth.json['authorization']).toBe('absent');
    expect(stack.upstreamRequests.slice(before)[0]!.headers['cookie']).toBe('a=1');
    // The real API's own 401 for a call without a token comes back untouched.
    const whoami = await call('GET', '/public/whoami', { cookie: null });
    expect(whoami.status).toBe(401);
    expect(whoami.json).toEqual({ error: 'invalid_token' });
    expect(whoami.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });

  it('allows only the configured methods on a route (405 with Allow), forwarding nothing else', async () => {
    expect((await call('GET', '/ro/x')).status).toBe(200);
    const before = upstreamCount();
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const res = await call(method, '/ro/x', {}, 'x');
      expectError(res, 405, 'method_not_allowed');
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
    // Methods outside the default set are refused on every route.
    expectError(await call('PROPFIND', '/api/echo'), 405, 'method_not_allowed');
    expect(upstreamCount()).toBe(before);
  });
});
