/**
 * One test per check of contract §1, §3 and §4, against the real provider. Each fails if its check
 * is removed: the expected status and error code are specific to the check.
 *
 * Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts) against
 * the Worker inside workerd, where `../helpers/stack.js` is test/runtime/workers/worker-stack.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginAtProvider } from '../helpers/browser.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { createSealer } from '../../src/core/session/cookie-seal.js';
import { randomSecret } from '../helpers/config.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

const redirectUri = `${PUBLIC_ORIGIN}/`;

/** An app whose clock the test moves, and a record of every call it makes to the provider. */
function clockedApp(overrides: Record<string, string> = {}) {
  const clock = { now: Date.now() };
  const calls: string[] = [];
  const app = stack.makeApp(overrides, {
    now: () => clock.now,
    fetch: (input, init) => {
      calls.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    },
  });
  return { app, clock, calls, tokenCalls: () => calls.filter((u) => u.endsWith('/token')).length };
}

function expectError(result: { status: number; body: Record<string, unknown>; response: Response }, status: number, code: string) {
  expect(result.status).toBe(status);
  expect(result.body['error_code']).toBe(code);
  expect(typeof result.body['detailed_error']).toBe('string');
  expect(result.response.headers.get('content-type')).toBe('application/json');
  expect(result.response.headers.get('cache-control')).toBe('no-store');
}

describe('login/end checks the authorization response, in order', () => {
  it('refuses a missing state when a code is sent (treated as a page load only without both)', async () => {
    const spa = new SpaClient(stack.app);
    const res = await spa.json('POST', '/oauth-agent/login/end', { body: { code: 'abc' } });
    // No state: not a callback, so it answers like GET /session (contract §1.2).
    expect(res.body).toEqual({ is_logged_in: false });
  });

  it('refuses an unknown state without calling the token endpoint', async () => {
    const { app, tokenCalls } = clockedApp();
    const spa = new SpaClient(app);
    const callback = await spa.startLoginAtProvider();
    const res = await spa.json('POST', '/oauth-agent/login/end', { body: { ...Object.fromEntries(callback.searchParams), state: 'x'.repeat(43) } });
    expectError(res, 400, 'invalid_request');
    expect(tokenCalls()).toBe(0);
  });

  it('refuses a replayed state (the transaction is single use)', async () => {
    const spa = new SpaClient(stack.app);
    const callback = await spa.startLoginAtProvider();
    const body = Object.fromEntries(callback.searchParams);
    const sealedTx = spa.cookieHeader('/oauth-agent/login/end');
    expect((await spa.json('POST', '/oauth-agent/login/end', { body })).status).toBe(200);
    // Even presenting the old transaction cookie again: the code was used, and a replay must not log in twice.
    const replay = await spa.json('POST', '/oauth-agent/login/end', { body, headers: { cookie: sealedTx } });
    expect(replay.status).toBe(400);
    const noTx = await new SpaClient(stack.app).json('POST', '/oauth-agent/login/end', { body });
    expectError(noTx, 400, 'invalid_request');
  });

  it('refuses a transaction older than 10 minutes', async () => {
    const { app, clock, tokenCalls } = clockedApp();
    const spa = new SpaClient(app);
    const callback = await spa.startLoginAtProvider();
    clock.now += 601_000;
    const res = await spa.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback.searchParams) });
    expectError(res, 400, 'invalid_request');
    expect(tokenCalls()).toBe(0);
  });

  it('refuses a wrong iss and a missing iss (the provider advertises RFC 9207), clearing the transaction', async () => {
    for (const iss of ['https://evil.example.test', undefined]) {
      const { app, tokenCalls } = clockedApp();
      const spa = new SpaClient(app);
      const callback = await spa.startLoginAtProvider();
      const body: Record<string, string> = Object.fromEntries(callback.searchParams);
      if (iss === undefined) delete body['iss'];
      else body['iss'] = iss;
      const res = await spa.json('POST', '/oauth-agent/login/end', { body });
      expectError(res, 400, 'invalid_request');
      expect(tokenCalls()).toBe(0);
      expect(res.response.headers.getSetCookie().some((c) => /^__Host-th-login-[A-Za-z0-9_-]{12}=;.*Max-Age=0/.test(c))).toBe(true);
      // Our own RFC 9207 check caught it (oauth4webapi would too, later, as a second line).
      const reason = iss === undefined ? 'iss_missing' : 'iss_mismatch';
      expect(stack.logs.some((l) => l.includes(`"reason":"${reason}"`))).toBe(true);
    }
  });

  it('refuses an ID token whose nonce differs from the transaction', async () => {
    const spa = new SpaClient(stack.app);
    const start = await spa.json('POST', '/oauth-agent/login/start');
    const url = new URL(String(start.body['authorization_url']));
    url.searchParams.set('nonce', 'attacker-chosen-nonce-value-000000000000');
    const callback = await loginAtProvider(spa.browser, url, { username: 'demo', password: 'demo', redirectUri });
    const res = await spa.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback.searchParams) });
    expectError(res, 400, 'invalid_request');
    expect(spa.cookies.has('__Host-th-at')).toBe(false);
    expect(stack.logs.some((l) => l.includes('"reason":"id_token_nonce_mismatch"') || l.includes('nonce'))).toBe(true);
  });

  it('reports an error from the provider under its own code, and login_required as 401', async () => {
    for (const [error, status] of [['access_denied', 400], ['login_required', 401]] as const) {
      const spa = new SpaClient(stack.app);
      const start = await spa.json('POST', '/oauth-agent/login/start');
      const state = new URL(String(start.body['authorization_url'])).searchParams.get('state')!;
      const res = await spa.json('POST', '/oauth-agent/login/end', { body: { error, error_description: '<script>x</script>', state, iss: stack.provider.issuer } });
      expectError(res, status, error);
      expect(JSON.stringify(res.body)).not.toContain('<script>');
    }
  });

  it('answers 400 authorization_error when the token endpoint refuses the code', async () => {
    const spa = new SpaClient(stack.app);
    const callback = await spa.startLoginAtProvider();
    const body = { ...Object.fromEntries(callback.searchParams), code: 'not-a-real-code-0000000000000000' };
    const res = await spa.json('POST', '/oauth-agent/login/end', { body });
    expectError(res, 400, 'authorization_error');
  });

  it('replaces any session cookie the browser held before login (no fixation)', async () => {
    const spa = new SpaClient(stack.app);
    spa.cookies.set('__Host-th-at', { value: 'planted', path: '/' });
    spa.cookies.set('__Secure-th-rt', { value: 'planted', path: '/oauth-agent' });
    const res = await spa.login();
    expect(res.status).toBe(200);
    expect(spa.cookies.get('__Host-th-at')?.value).not.toBe('planted');
    expect(spa.cookies.get('__Secure-th-rt')?.value).not.toBe('planted');
  });
});

describe('login/start', () => {
  it('refuses an extra authorization parameter that is not allowed, and passes one that is', async () => {
    const spa = new SpaClient(stack.app);
    expectError(await spa.json('POST', '/oauth-agent/login/start', { body: { prompt: 'login' } }), 400, 'invalid_request');
    const allowed = new SpaClient(stack.makeApp({ TH_EXTRA_AUTH_PARAMS: 'prompt,ui_locales' }));
    const res = await allowed.json('POST', '/oauth-agent/login/start', { body: { prompt: 'login', ui_locales: 'de' } });
    const url = new URL(String(res.body['authorization_url']));
    expect(url.searchParams.get('prompt')).toBe('login');
    expect(url.searchParams.get('ui_locales')).toBe('de');
    expectError(await allowed.json('POST', '/oauth-agent/login/start', { body: { redirect_uri: 'https://evil.test/' } }), 400, 'invalid_request');
  });

  it('never takes the redirect URI from the request', async () => {
    const spa = new SpaClient(stack.app);
    const res = await spa.json('POST', '/oauth-agent/login/start', { headers: { host: 'evil.test', 'x-forwarded-host': 'evil.test' } });
    expect(new URL(String(res.body['authorization_url'])).searchParams.get('redirect_uri')).toBe(redirectUri);
  });

  it('keeps at most three transactions, evicting the oldest', async () => {
    const { app, clock } = clockedApp();
    const spa = new SpaClient(app);
    const states: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await spa.json('POST', '/oauth-agent/login/start');
      states.push(new URL(String(res.body['authorization_url'])).searchParams.get('state')!);
      clock.now += 1000;
    }
    // One cookie per login, named after its state; the fourth login evicted the first.
    expect([...spa.cookies.keys()].filter((n) => n.startsWith('__Host-th-login-')).sort()).toEqual(
      states.slice(1).map((s) => `__Host-th-login-${s.slice(0, 12)}`).sort(),
    );
    // The first (oldest) was evicted: its state is unknown now; the last one is known.
    const first = await spa.json('POST', '/oauth-agent/login/end', { body: { state: states[0]!, code: 'x', iss: stack.provider.issuer } });
    expectError(first, 400, 'invalid_request');
    const last = await spa.json('POST', '/oauth-agent/login/end', { body: { state: states[3]!, code: 'x', iss: stack.provider.issuer } });
    expectError(last, 400, 'authorization_error');
  });

  it('gives two logins started at the same instant separate transactions (no shared slot)', async () => {
    const spa = new SpaClient(stack.app);
    // Both requests carry the same (empty) cookies, as two tabs' simultaneous requests would.
    const [a, b] = await Promise.all([spa.request('POST', '/oauth-agent/login/start'), spa.request('POST', '/oauth-agent/login/start')]);
    const nameOf = (r: Response) => r.headers.getSetCookie().map((c) => c.split('=')[0]).find((n) => n!.startsWith('__Host-th-login-'));
    expect(nameOf(a)).toBeDefined();
    expect(nameOf(a)).not.toBe(nameOf(b));
  });

  it('answers 502 when the provider cannot be reached', async () => {
    const app = stack.makeApp({ TH_ISSUER: 'http://127.0.0.1:9' });
    const res = await new SpaClient(app).json('POST', '/oauth-agent/login/start');
    expectError(res, 502, 'authorization_server_error');
  });
});

describe('cookies that do not unseal are treated as absent, never a 500', () => {
  async function loggedIn() {
    const spa = new SpaClient(stack.app);
    expect((await spa.login()).status).toBe(200);
    return spa;
  }

  it.each([
    ['tampered', (v: string) => v.slice(0, 60) + (v[60] === 'A' ? 'B' : 'A') + v.slice(61)],
    ['truncated', (v: string) => v.slice(0, v.length - 10)],
    ['garbage', () => 'not-a-sealed-value'],
    ['empty', () => ''],
  ])('%s cookies: logged out, API 401, refresh 401', async (_name, mutate) => {
    const spa = await loggedIn();
    for (const [name, cookie] of spa.cookies) spa.cookies.set(name, { ...cookie, value: mutate(cookie.value) });
    const session = await spa.json('GET', '/oauth-agent/session');
    expect(session.status).toBe(200);
    expect(session.body).toEqual({ is_logged_in: false });
    expectError(await spa.json('GET', '/api/whoami'), 401, 'unauthorized_request');
    expectError(await spa.json('POST', '/oauth-agent/refresh'), 401, 'session_expired');
  });

  it('a value sealed for another purpose is refused (the refresh-token cookie placed as the access token)', async () => {
    const spa = await loggedIn();
    spa.cookies.set('__Host-th-at', { value: spa.cookies.get('__Secure-th-rt')!.value, path: '/' });
    expectError(await spa.json('GET', '/api/whoami'), 401, 'unauthorized_request');
  });

  it('a cookie sealed with a retired key is refused; one sealed with a still-listed old key works', async () => {
    const spa = await loggedIn();
    const newKey = `k2:${randomSecret()}`;
    const rotated = stack.makeApp({ TH_COOKIE_KEYS: `${newKey},${stack.cookieKeys}` });
    spa.app = rotated;
    expect((await spa.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    spa.app = stack.makeApp({ TH_COOKIE_KEYS: newKey });
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
    expectError(await spa.json('GET', '/api/whoami'), 401, 'unauthorized_request');
  });

  it('past the session lifetime every token cookie is treated as absent', async () => {
    const { app, clock } = clockedApp({ TH_SESSION_LIFETIME: '3600' });
    const spa = new SpaClient(app);
    expect((await spa.login()).status).toBe(200);
    clock.now += 3601_000;
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
    expectError(await spa.json('POST', '/oauth-agent/refresh'), 401, 'session_expired');
  });

  it('a forged cookie sealed under an attacker key with our key id is refused', async () => {
    const forger = createSealer([{ id: 'k1', secret: randomSecret() }], Date.now);
    const forged = await forger.seal('at', { t: 'attacker-token' }, Date.now() / 1000 + 3600);
    const spa = new SpaClient(stack.app);
    spa.cookies.set('__Host-th-at', { value: forged, path: '/' });
    expectError(await spa.json('GET', '/api/whoami'), 401, 'unauthorized_request');
  });
});

describe('refresh', () => {
  it('answers 401 session_expired without a refresh token', async () => {
    expectError(await new SpaClient(stack.app).json('POST', '/oauth-agent/refresh'), 401, 'session_expired');
  });

  it('answers 401 session_expired and clears the token cookies when the provider says invalid_grant', async () => {
    let now = Date.now();
    const app = stack.makeApp({}, { now: () => now });
    const spa = new SpaClient(app);
    await spa.login();
    const stale = spa.cookies.get('__Secure-th-rt')!.value;
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    // Past TH_REFRESH_GRACE, when the superseded token no longer gets the shared result (refresh-coordination.test.ts).
    now += 31_000;
    // Present the rotated-away refresh token again: the provider refuses (and revokes the grant).
    spa.cookies.set('__Secure-th-rt', { value: stale, path: '/oauth-agent' });
    const res = await spa.json('POST', '/oauth-agent/refresh');
    expectError(res, 401, 'session_expired');
    const cleared = res.response.headers.getSetCookie();
    for (const name of ['__Host-th-at', '__Secure-th-rt', '__Secure-th-id']) expect(cleared.some((c) => c.startsWith(`${name}=;`))).toBe(true);
  });

  it('refuses extra token parameters that are not allowed', async () => {
    const spa = new SpaClient(stack.app);
    await spa.login();
    expectError(await spa.json('POST', '/oauth-agent/refresh', { body: { scope: 'openid' } }), 400, 'invalid_request');
  });
});

describe('CSRF, Origin and Fetch Metadata on every state-changing request', () => {
  const posts = ['/oauth-agent/login/start', '/oauth-agent/login/end', '/oauth-agent/refresh', '/oauth-agent/logout', '/api/echo'];

  it.each(posts)('%s: refused without token-handler-version', async (path) => {
    const spa = new SpaClient(stack.app);
    await spa.login();
    const res = await spa.app.request(PUBLIC_ORIGIN + path, {
      method: 'POST',
      headers: { cookie: spa.cookieHeader(path), origin: PUBLIC_ORIGIN, 'sec-fetch-site': 'same-origin' },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error_code: 'unauthorized_request' });
    expect(res.headers.getSetCookie()).toEqual([]);
  });

  it.each(posts)('%s: refused with an untrusted Origin, a null Origin, or cross-site / same-site Fetch Metadata', async (path) => {
    const spa = new SpaClient(stack.app);
    for (const headers of <Record<string, string>[]>[
      { origin: 'https://evil.example' },
      { origin: 'https://www.example.test.evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'none' },
    ]) {
      const res = await spa.json('POST', path, { headers });
      expectError(res, 401, 'unauthorized_request');
    }
  });

  it('a same-site request from an extra trusted origin passes, with CORS headers for it', async () => {
    const app = stack.makeApp({ TH_TRUSTED_ORIGINS: 'https://app.example.test' });
    const spa = new SpaClient(app);
    const res = await spa.json('POST', '/oauth-agent/login/start', { headers: { origin: 'https://app.example.test', 'sec-fetch-site': 'same-site' } });
    expect(res.status).toBe(200);
    expect(res.response.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
    expect(res.response.headers.get('access-control-allow-credentials')).toBe('true');
    expect(res.response.headers.get('vary')).toContain('Origin');
    // Errors carry them too, so the SPA can read the error.
    const error = await spa.json('POST', '/oauth-agent/refresh', { headers: { origin: 'https://app.example.test', 'sec-fetch-site': 'same-site' } });
    expect(error.status).toBe(401);
    expect(error.response.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
  });

  it('sends no CORS headers for the public origin itself or an untrusted one', async () => {
    const app = stack.makeApp({ TH_TRUSTED_ORIGINS: 'https://app.example.test' });
    const same = await app.request(PUBLIC_ORIGIN + '/oauth-agent/session', { headers: { origin: PUBLIC_ORIGIN } });
    expect(same.headers.get('access-control-allow-origin')).toBeNull();
    const evil = await app.request(PUBLIC_ORIGIN + '/oauth-agent/session', { headers: { origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers preflights itself: allowed for a trusted origin, refused for others', async () => {
    const app = stack.makeApp({ TH_TRUSTED_ORIGINS: 'https://app.example.test', TH_CORS_ALLOW_HEADERS: 'x-trace-id' });
    for (const path of ['/oauth-agent/refresh', '/api/echo']) {
      const ok = await app.request(PUBLIC_ORIGIN + path, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example.test', 'access-control-request-method': 'POST', 'access-control-request-headers': 'token-handler-version' },
      });
      expect(ok.status).toBe(204);
      expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.test');
      expect(ok.headers.get('access-control-allow-headers')).toBe('token-handler-version, content-type, x-trace-id');
      expect(ok.headers.get('access-control-allow-methods')).toContain('POST');
      const bad = await app.request(PUBLIC_ORIGIN + path, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(bad.status).toBe(401);
      expect(bad.headers.get('access-control-allow-origin')).toBeNull();
    }
    expect(stack.upstreamRequests.some((r) => r.method === 'OPTIONS')).toBe(false);
  });
});

describe('request bodies and methods', () => {
  it.each([
    ['text/plain', 'state=x&code=y'],
    ['multipart/form-data; boundary=x', '--x--'],
    ['application/json', '{"state":'],
    ['application/json', '["state"]'],
    ['application/json', '{"state":{"a":1},"code":"x"}'],
    ['application/x-www-form-urlencoded', 'state=a&state=b&code=c'],
  ])('refuses %s body %s with 400 invalid_request', async (type, body) => {
    const res = await new SpaClient(stack.app).json('POST', '/oauth-agent/login/end', { body, headers: { 'content-type': type } });
    expectError(res, 400, 'invalid_request');
  });

  it('refuses an oversized body with 413', async () => {
    const res = await new SpaClient(stack.app).json('POST', '/oauth-agent/login/end', { body: 'a='.padEnd(70_000, 'x'), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expectError(res, 413, 'request_too_large');
  });

  it('answers 405 with Allow for a wrong method, and 404 for an unknown path', async () => {
    const get = await new SpaClient(stack.app).json('GET', '/oauth-agent/refresh');
    expectError(get, 405, 'method_not_allowed');
    expect(get.response.headers.get('allow')).toBe('POST');
    expectError(await new SpaClient(stack.app).json('GET', '/oauth-agent/nope'), 404, 'not_found');
    expectError(await new SpaClient(stack.app).json('GET', '/elsewhere'), 404, 'not_found');
  });
});

describe('claims and session body', () => {
  it('hides the claims listed in TH_HIDDEN_CLAIMS', async () => {
    const spa = new SpaClient(stack.makeApp({ TH_HIDDEN_CLAIMS: 'email,email_verified' }));
    const res = await spa.login();
    const claims = res.body['id_token_claims'] as Record<string, unknown>;
    expect(claims['sub']).toBe('demo');
    expect(claims['email']).toBeUndefined();
    expect(claims['email_verified']).toBeUndefined();
    expect(claims['name']).toBe('Demo User');
  });

  it('counts access_token_expires_in down with the clock', async () => {
    const { app, clock } = clockedApp();
    const spa = new SpaClient(app);
    await spa.login();
    clock.now += 100_000;
    const session = await spa.json('GET', '/oauth-agent/session');
    expect(session.body['access_token_expires_in']).toBeGreaterThan(190);
    expect(session.body['access_token_expires_in']).toBeLessThanOrEqual(200);
  });
});
