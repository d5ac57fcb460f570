/**
 * `npm start`'s stack (examples/start.ts) as a newcomer runs it, on random ports: the SPA and the token handler on one origin, the demo provider and the example API, a login end to end over HTTP, an expired access token, and startStack's configuration.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { startStack, DEMO_CLIENT_ID, DEMO_CREDENTIALS, type Stack } from '../../examples/start.js';
import { SPA_CONTENT_SECURITY_POLICY } from '../../examples/spa-server.js';
import { SessionEndedError, TokenHandlerClient, callbackParams, withoutCallbackParams, type CallRecord } from '../../examples/spa/token-handler-client.js';
import { TestBrowser, loginAtProvider } from '../helpers/browser.js';
import { EXPECTED_CSP, RANDOM_PORTS, browserFetch, canListen, logIn, portOf, spaPostHeaders } from './stack-harness.js';

describe('the npm start stack on random ports', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ ports: RANDOM_PORTS, env: {}, quiet: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('uses localhost and the real port for the public origin, and runs the demo provider', () => {
    const port = portOf(stack.urls.spa);
    expect(port).toBeGreaterThan(0);
    expect(stack.urls.spa).toBe(`http://localhost:${port}/`);
    expect(stack.config.publicOrigin).toBe(`http://localhost:${port}`);
    expect(stack.config.redirectUri).toBe(stack.urls.spa);
    expect(stack.urls.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(stack.demoProvider).toBe(true);
    expect(stack.config.clientId).toBe(DEMO_CLIENT_ID);
    expect(stack.config.apiRoutes).toEqual([{ prefix: '/api', upstream: `${stack.urls.api}/api`, public: false, nosniff: true }]);
    // Generated at start-up: two cookie keys, long enough.
    expect(stack.config.cookieKeys).toHaveLength(2);
    for (const key of stack.config.cookieKeys) expect(key.secret.length).toBeGreaterThanOrEqual(32);
    expect(stack.config.clientSecret?.length).toBeGreaterThanOrEqual(32);
  });

  it('serves the SPA page with its Content-Security-Policy', async () => {
    const response = await fetch(stack.urls.spa, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    expect(SPA_CONTENT_SECURITY_POLICY).toBe(EXPECTED_CSP);
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    expect(response.headers.get('referrer-policy')).toBe('no-referrer');
    expect(response.headers.get('cache-control')).toBe('no-cache');
    const html = await response.text();
    for (const id of ['status', 'claims', 'login', 'call-api', 'refresh', 'logout', 'api-result', 'log']) {
      expect(html).toContain(`id="${id}"`);
    }
    expect(html).toContain('<script type="module" src="/main.js"></script>');
    // No inline script or style that the policy would block.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
  });

  it('serves the callback URL and client-side routes as the page, and unknown files as 404', async () => {
    const callback = await fetch(`${stack.urls.spa}?code=abc&state=xyz&iss=x`, { headers: { accept: 'text/html' } });
    expect(callback.status).toBe(200);
    expect(callback.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(callback.headers.get('referrer-policy')).toBe('no-referrer');
    await callback.body?.cancel();

    const route = await fetch(`${stack.urls.origin}/some/page`, { headers: { accept: 'text/html,*/*' } });
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('id="status"');

    const missing = await fetch(`${stack.urls.origin}/missing.js`, { headers: { accept: '*/*' } });
    expect(missing.status).toBe(404);
    expect(missing.headers.get('x-content-type-options')).toBe('nosniff');
    await missing.body?.cancel();

    const post = await fetch(stack.urls.spa, { method: 'POST' });
    expect(post.status).toBe(405);
    await post.body?.cancel();
  });

  it('serves main.js as JavaScript and style.css as CSS, revalidated by ETag', async () => {
    const script = await fetch(`${stack.urls.origin}/main.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    const source = await script.text();
    expect(source).toContain('token-handler-version');
    expect(source).toContain('/oauth-agent');

    const etag = script.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await fetch(`${stack.urls.origin}/main.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);

    const css = await fetch(`${stack.urls.origin}/style.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    await css.body?.cancel();
  });

  it('answers /oauth-agent/session without a session', async () => {
    const response = await fetch(`${stack.urls.agent}/session`, { headers: { 'token-handler-version': '1' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toBeNull();
    expect(await response.json()).toEqual({ is_logged_in: false });
  });

  it('starts a login with PKCE S256 at the demo provider', async () => {
    const response = await fetch(`${stack.urls.agent}/login/start`, { method: 'POST', headers: spaPostHeaders(stack) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    const setCookie = response.headers.getSetCookie();
    expect(setCookie.some((c) => c.startsWith('__Host-th-login-'))).toBe(true);
    const { authorization_url } = (await response.json()) as { authorization_url: string };
    const url = new URL(authorization_url);
    expect(url.origin).toBe(stack.urls.issuer);
    expect(url.searchParams.get('client_id')).toBe(DEMO_CLIENT_ID);
    expect(url.searchParams.get('redirect_uri')).toBe(stack.urls.spa);
    expect(url.searchParams.get('response_type')).toBe('code');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('refuses a login start without the token-handler-version header', async () => {
    const response = await fetch(`${stack.urls.agent}/login/start`, { method: 'POST' });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ error_code: 'unauthorized_request' });
  });

  it('answers an API call without a session with 401 JSON', async () => {
    const response = await fetch(`${stack.urls.origin}/api/unknown/thing`);
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.json()).toMatchObject({ error_code: 'unauthorized_request' });
  });

  it('routes unknown agent paths to the token handler (JSON 404), not to the SPA', async () => {
    const response = await fetch(`${stack.urls.agent}/nothing-here`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toBe('application/json');
    await response.body?.cancel();
  });
});

describe('a login through the stack, end to end over HTTP', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ ports: RANDOM_PORTS, env: {}, quiet: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('logs in as demo, calls the API, refreshes and logs out', async () => {
    const browser = new TestBrowser();
    const end = await logIn(browser, stack);
    expect(end.status).toBe(200);
    expect(end.headers.get('cache-control')).toBe('no-store');
    const session = (await end.json()) as { is_logged_in: boolean; id_token_claims: Record<string, unknown>; access_token_expires_in: number };
    expect(session.is_logged_in).toBe(true);
    expect(session.id_token_claims['sub']).toBe('demo');
    expect(session.id_token_claims['iss']).toBe(stack.urls.issuer);
    expect(session.access_token_expires_in).toBeGreaterThan(0);
    expect(session.access_token_expires_in).toBeLessThanOrEqual(300);

    // The cookies are Secure, __Host-/__Secure- prefixed, and kept for http://localhost.
    const host = new URL(stack.urls.origin).host;
    const names = browser.jar.all(host).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['__Host-th-at', '__Secure-th-rt', '__Secure-th-id']));
    for (const cookie of browser.jar.all(host)) {
      expect(cookie).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict' });
    }

    const again = await browser.fetch('GET', `${stack.urls.agent}/session`, undefined, { 'token-handler-version': '1' });
    expect(await again.json()).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo' } });

    const whoami = await browser.fetch('GET', `${stack.urls.origin}/api/whoami`, undefined, { 'token-handler-version': '1' });
    expect(whoami.status).toBe(200);
    expect(await whoami.json()).toMatchObject({ sub: 'demo' });

    const refresh = await browser.fetch('POST', `${stack.urls.agent}/refresh`, '', spaPostHeaders(stack));
    expect(refresh.status).toBe(200);
    const refreshed = (await refresh.json()) as { access_token_expires_in: number };
    expect(refreshed.access_token_expires_in).toBeGreaterThan(0);

    const whoamiAfterRefresh = await browser.fetch('GET', `${stack.urls.origin}/api/whoami`);
    expect(whoamiAfterRefresh.status).toBe(200);
    expect(await whoamiAfterRefresh.json()).toMatchObject({ sub: 'demo' });

    const logout = await browser.fetch('POST', `${stack.urls.agent}/logout`, '', spaPostHeaders(stack));
    expect(logout.status).toBe(200);
    const { logout_url } = (await logout.json()) as { logout_url: string };
    const logoutUrl = new URL(logout_url);
    expect(logoutUrl.origin).toBe(stack.urls.issuer);
    expect(logoutUrl.searchParams.get('client_id')).toBe(DEMO_CLIENT_ID);
    expect(logoutUrl.searchParams.get('post_logout_redirect_uri')).toBe(stack.urls.spa);

    expect(browser.jar.all(host)).toEqual([]);
    const after = await browser.fetch('GET', `${stack.urls.agent}/session`);
    expect(await after.json()).toEqual({ is_logged_in: false });
    const apiAfter = await browser.fetch('GET', `${stack.urls.origin}/api/whoami`);
    expect(apiAfter.status).toBe(401);
    await apiAfter.body?.cancel();
  });

  it("the SPA's client: page load, API call, and a session that ends without a loop", async () => {
    const browser = new TestBrowser();
    const calls: CallRecord[] = [];
    const client = new TokenHandlerClient({ baseUrl: stack.urls.origin, fetch: browserFetch(browser, stack), onCall: (c) => calls.push(c) });

    expect(await client.session()).toEqual({ is_logged_in: false });

    const authorizationUrl = await client.startLogin();
    const callback = await loginAtProvider(browser, authorizationUrl, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
    const fields = callbackParams(callback.searchParams)!;
    expect(Object.keys(fields).sort()).toEqual(['code', 'iss', 'state']);
    expect(withoutCallbackParams(callback)).toBe('/');
    const session = await client.endLogin(fields);
    expect(session).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo' } });

    const result = await client.callApi('/api/whoami');
    expect(result).toMatchObject({ status: 200, body: { sub: 'demo' } });

    // Log out behind the client's back; its next API call gets 401, tries one refresh, gets 401,
    // and reports the end of the session without retrying again.
    await client.logout();
    calls.length = 0;
    await expect(client.callApi('/api/whoami')).rejects.toBeInstanceOf(SessionEndedError);
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(['GET /api/whoami 401', 'POST /oauth-agent/refresh 401']);
    expect(calls[1]?.body).toMatchObject({ error_code: 'session_expired' });
  });
});

describe('an expired access token, with the SPA client', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ ports: RANDOM_PORTS, env: { DEMO_ACCESS_TOKEN_TTL: '3' }, quiet: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('refreshes once and retries once', async () => {
    const browser = new TestBrowser();
    const calls: CallRecord[] = [];
    const client = new TokenHandlerClient({ baseUrl: stack.urls.origin, fetch: browserFetch(browser, stack), onCall: (c) => calls.push(c) });
    const end = await logIn(browser, stack);
    expect(end.status).toBe(200);
    // Past the 3 s lifetime; the refreshed token then has 3 s for the retry, even on a loaded machine.
    await new Promise((resolve) => setTimeout(resolve, 3100));

    calls.length = 0;
    const result = await client.callApi('/api/whoami');
    expect(result).toMatchObject({ status: 200, body: { sub: 'demo' } });
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'GET /api/whoami 401',
      'POST /oauth-agent/refresh 200',
      'GET /api/whoami 200',
    ]);
    expect(calls[0]?.body).toMatchObject({ error_code: 'token_expired' });
  });

  it('shares one refresh between API calls that find the token expired at the same time', async () => {
    const browser = new TestBrowser();
    const calls: CallRecord[] = [];
    const client = new TokenHandlerClient({ baseUrl: stack.urls.origin, fetch: browserFetch(browser, stack), onCall: (c) => calls.push(c) });
    expect((await logIn(browser, stack)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3100));

    calls.length = 0;
    const results = await Promise.all([client.callApi('/api/whoami'), client.callApi('/api/whoami'), client.callApi('/api/whoami')]);
    for (const result of results) expect(result).toMatchObject({ status: 200, body: { sub: 'demo' } });
    // One refresh for all three: a second one would present a rotated-away refresh token.
    expect(calls.filter((c) => c.path === '/oauth-agent/refresh').map((c) => c.status)).toEqual([200]);
  });
});

describe('startStack configuration', () => {
  it('lets TH_* variables override the defaults', async () => {
    const stack = await startStack({
      ports: RANDOM_PORTS,
      env: { TH_AGENT_PATH: '/bff', TH_CLIENT_ID: 'my-client', TH_API_ROUTES: '/data=http://127.0.0.1:9/x' },
      quiet: true,
    });
    try {
      expect(stack.config.clientId).toBe('my-client');
      expect(stack.urls.agent).toBe(`${stack.urls.origin}/bff`);
      const session = await fetch(`${stack.urls.agent}/session`);
      expect(await session.json()).toEqual({ is_logged_in: false });
      // The SPA is built with the agent path it must call.
      expect(await (await fetch(`${stack.urls.origin}/main.js`)).text()).toContain('/bff');
      // /api is no longer a route: it falls through to the SPA.
      const api = await fetch(`${stack.urls.origin}/api/whoami`, { headers: { accept: 'application/json' } });
      expect(api.status).toBe(404);
      await api.body?.cancel();
      const data = await fetch(`${stack.urls.origin}/data/x`);
      expect(data.status).toBe(401);
      await data.body?.cancel();
      // The demo provider registered the overridden client id.
      const start = await fetch(`${stack.urls.agent}/login/start`, { method: 'POST', headers: spaPostHeaders(stack) });
      const { authorization_url } = (await start.json()) as { authorization_url: string };
      const browser = new TestBrowser();
      const callback = await loginAtProvider(browser, authorization_url, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
      expect(callback.searchParams.get('code')).toBeTruthy();
    } finally {
      await stack.close();
    }
  });

  it('reports every configuration problem at once (and closes what it had started)', async () => {
    await expect(startStack({ ports: RANDOM_PORTS, env: { TH_COOKIE_KEYS: 'k1:short', TH_CLOCK_SKEW: '9999' }, quiet: true })).rejects.toThrow(
      /TH_COOKIE_KEYS[\s\S]*TH_CLOCK_SKEW/,
    );
  });

  it('close() frees every port', async () => {
    const stack = await startStack({ ports: RANDOM_PORTS, env: {}, quiet: true });
    const ports = [portOf(stack.urls.spa), portOf(stack.urls.issuer), portOf(stack.urls.api)];
    const page = await fetch(stack.urls.spa);
    expect(page.status).toBe(200);
    await page.body?.cancel();
    await stack.close();
    await stack.close(); // idempotent
    for (const port of ports) expect(await canListen(port)).toBe(true);
    await expect(fetch(`${stack.urls.agent}/session`)).rejects.toThrow();
  });
});
