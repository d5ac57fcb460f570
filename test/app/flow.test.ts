/**
 * The whole flow against the real oidc-provider: login/start → the provider's forms over HTTP →
 * login/end → session → /api/whoami through the proxy → refresh (rotation) → logout → logged out.
 * Then a sweep of everything the browser and the log saw, for any token, code or secret.
 *
 * Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts) against
 * the Worker inside workerd, where `../helpers/stack.js` is test/runtime/workers/worker-stack.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { logoutAtProvider } from '../helpers/browser.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** Raw token endpoint call, to learn whether a refresh token still works at the provider. */
async function refreshAtProvider(refreshToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const discovery = (await (await fetch(`${stack.provider.issuer}/.well-known/openid-configuration`)).json()) as { token_endpoint: string };
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${stack.config.clientId}:${stack.clientSecret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Unseals the refresh-token cookie the way the app does, to learn the token the provider issued. */
async function refreshTokenIn(spa: SpaClient): Promise<string> {
  const header = spa.cookieHeader('/oauth-agent/refresh');
  const { parseCookieHeader, readCookieValue } = await import('../../src/core/session/cookie-table.js');
  const sealed = readCookieValue(parseCookieHeader(header), stack.app.agent.names.rt);
  const opened = await stack.app.agent.sealer.unseal<{ t: string }>('rt', sealed);
  if (!opened) throw new Error('no refresh token cookie');
  return opened.data.t;
}

describe('the golden flow', () => {
  const spa = () => new SpaClient(stack.app);

  it('logs in, reads the session, calls the API, refreshes with rotation, logs out, and leaks nothing', async () => {
    const client = spa();
    const secretsSeen: string[] = [stack.clientSecret, ...stack.cookieKeys.split(',').map((k) => k.split(':')[1]!)];

    // Not logged in yet.
    const before = await client.json('GET', '/oauth-agent/session');
    expect(before.body).toEqual({ is_logged_in: false });

    // login/start: the authorization request and its transaction cookie.
    const start = await client.json('POST', '/oauth-agent/login/start');
    expect(start.status).toBe(200);
    const authUrl = new URL(String(start.body['authorization_url']));
    expect(authUrl.origin).toBe(stack.provider.issuer);
    expect(authUrl.searchParams.get('response_type')).toBe('code');
    expect(authUrl.searchParams.get('client_id')).toBe(stack.config.clientId);
    expect(authUrl.searchParams.get('redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authUrl.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authUrl.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authUrl.searchParams.get('scope')).toBe('openid profile offline_access');
    const loginCookie = start.response.headers.getSetCookie();
    expect(loginCookie).toHaveLength(1);
    expect(loginCookie[0]).toMatch(/^__Host-th-login-[A-Za-z0-9_-]{12}=Fe26\.2\*k1\*.*; Path=\/; Max-Age=600; Secure; HttpOnly; SameSite=Strict$/);

    // The provider's login and consent forms, over HTTP.
    const { loginAtProvider } = await import('../helpers/browser.js');
    const callback = await loginAtProvider(client.browser, authUrl, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
    const code = callback.searchParams.get('code')!;
    expect(code).toBeTruthy();
    expect(callback.searchParams.get('iss')).toBe(stack.provider.issuer);
    // The state travels through the browser by design (it is in the authorization URL); the code must go no further.
    secretsSeen.push(code);

    // login/end: session cookies set, the transaction cleared.
    const end = await client.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback.searchParams) });
    expect(end.status).toBe(200);
    expect(end.body['is_logged_in']).toBe(true);
    expect(end.body['id_token_claims']).toMatchObject({ sub: 'demo', iss: stack.provider.issuer, aud: stack.config.clientId, name: 'Demo User' });
    expect(end.body['access_token_expires_in']).toBeGreaterThan(290);
    expect(end.body['access_token_expires_in']).toBeLessThanOrEqual(300);
    const set = end.response.headers.getSetCookie();
    expect(set.find((c) => /^__Host-th-login-[A-Za-z0-9_-]{12}=;/.test(c))).toContain('Max-Age=0');
    expect(set.find((c) => c.startsWith('__Host-th-at='))).toMatch(/; Path=\/; Max-Age=28800; Secure; HttpOnly; SameSite=Strict$/);
    expect(set.find((c) => c.startsWith('__Secure-th-rt='))).toMatch(/; Path=\/oauth-agent; Max-Age=28800; Secure; HttpOnly; SameSite=Strict$/);
    expect(set.find((c) => c.startsWith('__Secure-th-id='))).toMatch(/; Path=\/oauth-agent; Max-Age=28800; Secure; HttpOnly; SameSite=Strict$/);
    for (const line of set) expect(line.split(';')[0]!.length).toBeLessThanOrEqual(4096);

    // The session endpoint agrees, and login/end without a callback acts like it.
    const session = await client.json('GET', '/oauth-agent/session');
    expect(session.body).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo' } });
    const pageLoad = await client.json('POST', '/oauth-agent/login/end');
    // The same body; the countdown may have crossed a second between the two calls on a loaded machine.
    expect({ ...pageLoad.body, access_token_expires_in: undefined }).toEqual({ ...session.body, access_token_expires_in: undefined });
    expect(Math.abs(Number(pageLoad.body['access_token_expires_in']) - Number(session.body['access_token_expires_in']))).toBeLessThanOrEqual(1);

    // The API through the proxy, with the access token as a bearer token.
    const whoami = await client.json('GET', '/api/whoami');
    expect(whoami.status).toBe(200);
    expect(whoami.body['sub']).toBe('demo');
    const arrived = stack.upstreamRequests.at(-1)!;
    expect(arrived.path).toBe('/api/whoami');
    expect(arrived.headers['authorization']).toMatch(/^Bearer ey/);
    expect(arrived.headers['cookie']).toBeUndefined();
    expect(arrived.headers['token-handler-version']).toBeUndefined();
    const accessToken = arrived.headers['authorization']!.slice('Bearer '.length);
    secretsSeen.push(accessToken);
    expect(decodeJwt(accessToken).sub).toBe('demo');

    // Refresh: the provider rotates the refresh token; the new one replaces the old, the old one is dead.
    const oldRefreshToken = await refreshTokenIn(client);
    secretsSeen.push(oldRefreshToken);
    const refreshed = await client.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body['access_token_expires_in']).toBeGreaterThan(290);
    expect(refreshed.response.headers.getSetCookie().some((c) => c.startsWith('__Secure-th-rt='))).toBe(true);
    const newRefreshToken = await refreshTokenIn(client);
    secretsSeen.push(newRefreshToken);
    expect(newRefreshToken).not.toBe(oldRefreshToken);
    const whoamiAfterRefresh = await client.json('GET', '/api/whoami');
    expect(whoamiAfterRefresh.body['sub']).toBe('demo');
    const newAccessToken = stack.upstreamRequests.at(-1)!.headers['authorization']!.slice(7);
    expect(newAccessToken).not.toBe(accessToken);
    secretsSeen.push(newAccessToken);
    // A second refresh works too (the rotated token in the cookie is the live one).
    expect((await client.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    const latestRefreshToken = await refreshTokenIn(client);
    secretsSeen.push(latestRefreshToken);

    // Logout: the end-session URL, the refresh token revoked, every cookie cleared.
    const logout = await client.json('POST', '/oauth-agent/logout');
    expect(logout.status).toBe(200);
    const logoutUrl = new URL(String(logout.body['logout_url']));
    expect(logoutUrl.pathname).toBe('/session/end');
    expect(logoutUrl.searchParams.get('client_id')).toBe(stack.config.clientId);
    expect(logoutUrl.searchParams.get('post_logout_redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(logoutUrl.searchParams.has('id_token_hint')).toBe(false);
    const cleared = logout.response.headers.getSetCookie();
    for (const name of ['__Host-th-at', '__Secure-th-rt', '__Secure-th-id']) {
      expect(cleared.find((c) => c.startsWith(`${name}=;`))).toContain('Max-Age=0');
    }
    expect(client.cookies.size).toBe(0);
    expect((await refreshAtProvider(latestRefreshToken)).body['error']).toBe('invalid_grant');
    const back = await logoutAtProvider(client.browser, logoutUrl, { postLogoutRedirectUri: `${PUBLIC_ORIGIN}/` });
    expect(back.origin + back.pathname).toBe(`${PUBLIC_ORIGIN}/`);

    const after = await client.json('GET', '/oauth-agent/session');
    expect(after.body).toEqual({ is_logged_in: false });
    expect((await client.json('GET', '/api/whoami')).status).toBe(401);

    // Nothing secret in any response the browser could read, nor in any log line.
    const seenByBrowser = client.responses.map((r) => JSON.stringify([r.headers.filter(([k]) => k !== 'set-cookie'), r.body])).join('\n');
    const setCookieValues = client.responses.flatMap((r) => r.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v)).join('\n');
    const cookieValues = client.responses
      .flatMap((r) => r.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v.split(';')[0]!.split('=').slice(1).join('=')))
      .filter((v) => v.length > 0);
    const logs = stack.logs.join('\n');
    for (const secret of secretsSeen) {
      expect(secret.length).toBeGreaterThan(15);
      expect(seenByBrowser.includes(secret), 'a secret reached a response').toBe(false);
      expect(setCookieValues.includes(secret), 'a secret sits in a cookie in plain text').toBe(false);
      expect(logs.includes(secret), 'a secret reached the log').toBe(false);
      // No 16-character piece of a token either.
      for (let i = 0; i + 16 <= secret.length; i += 16) {
        const piece = secret.slice(i, i + 16);
        expect(seenByBrowser.includes(piece)).toBe(false);
        expect(logs.includes(piece)).toBe(false);
      }
    }
    for (const value of cookieValues) expect(logs.includes(value.slice(0, 40))).toBe(false);
    // Every answer of the agent is no-store JSON with the exact content type.
    for (const r of client.responses.filter((r) => r.path.startsWith('/oauth-agent'))) {
      expect(Object.fromEntries(r.headers)['cache-control']).toBe('no-store');
      expect(Object.fromEntries(r.headers)['content-type']).toBe('application/json');
    }
    // One log line per request, and security events for login, refresh and logout.
    const lines = stack.logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l['msg'] === 'security_event').map((l) => l['event'])).toEqual(
      expect.arrayContaining(['login_start', 'login_success', 'refresh', 'logout']),
    );
    expect(lines.every((l) => typeof l['time'] === 'string' && typeof l['level'] === 'string')).toBe(true);
    expect(lines.filter((l) => l['msg'] === 'request').every((l) => typeof l['request_id'] === 'string')).toBe(true);
  });

  it('lets two logins started in parallel both finish', async () => {
    const client = spa();
    const first = await client.json('POST', '/oauth-agent/login/start');
    const second = await client.json('POST', '/oauth-agent/login/start');
    expect([...client.cookies.keys()].filter((n) => n.startsWith('__Host-th-login-'))).toHaveLength(2);
    const { loginAtProvider } = await import('../helpers/browser.js');
    const redirectUri = `${PUBLIC_ORIGIN}/`;
    const cb1 = await loginAtProvider(client.browser, String(first.body['authorization_url']), { username: 'demo', password: 'demo', redirectUri });
    const cb2 = await loginAtProvider(client.browser, String(second.body['authorization_url']), { username: 'demo', password: 'demo', redirectUri });
    // Finish in the opposite order from the start.
    const end2 = await client.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(cb2.searchParams) });
    expect(end2.body['is_logged_in']).toBe(true);
    const end1 = await client.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(cb1.searchParams) });
    expect(end1.body['is_logged_in']).toBe(true);
    expect([...client.cookies.keys()].filter((n) => n.startsWith('__Host-th-login-'))).toHaveLength(0);
  });

  it('accepts a JSON body on login/end', async () => {
    const client = spa();
    const callback = await client.startLoginAtProvider();
    const end = await client.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback.searchParams), json: true });
    expect(end.status).toBe(200);
    expect(end.body['is_logged_in']).toBe(true);
  });
});
