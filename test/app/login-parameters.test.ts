/**
 * What login/start and login/end take beside the plain flow, against the real provider: `scope` on
 * login/start, always accepted within TH_SCOPE and TH_ALLOWED_SCOPES (contract §7), as the first
 * example of the README of Curity's SPA library sends it; and a JWT-secured authorization response
 * (JARM) on login/end, refused with a clear error instead of being read as a page load.
 *
 * Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts,
 * SHARED_SUITES) against the Worker inside workerd, where `../helpers/stack.js` is
 * test/runtime/workers/worker-stack.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loginAtProvider } from '../helpers/browser.js';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** An app that records every call it makes to the provider. */
function recordingApp(overrides: Record<string, string> = {}) {
  const calls: string[] = [];
  const app = stack.makeApp(overrides, {
    fetch: (input, init) => {
      calls.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    },
  });
  return { app, calls };
}

function expectError(result: { status: number; body: Record<string, unknown>; response: Response }, status: number, code: string) {
  expect(result.status, JSON.stringify(result.body)).toBe(status);
  expect(result.body['error_code']).toBe(code);
  expect(Object.keys(result.body).sort()).toEqual(['detailed_error', 'error_code']);
  expect(result.response.headers.get('content-type')).toBe('application/json');
  expect(result.response.headers.get('cache-control')).toBe('no-store');
}

const reasonLogged = (reason: string) => stack.logs.some((line) => line.includes('"msg":"request_rejected"') && line.includes(`"reason":"${reason}"`));
const loginCookies = (response: Response) => response.headers.getSetCookie().filter((line) => line.startsWith('__Host-th-login-'));

async function startWith(spa: SpaClient, body: Record<string, string>) {
  const start = await spa.json('POST', '/oauth-agent/login/start', { body });
  return { ...start, url: start.status === 200 ? new URL(String(start.body['authorization_url'])) : undefined };
}

/** Finishes a login started with `url` at the provider and on login/end. */
async function finish(spa: SpaClient, url: URL) {
  const callback = await loginAtProvider(spa.browser, url, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
  return spa.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback.searchParams) });
}

describe('scope on login/start', () => {
  it('is accepted without TH_EXTRA_AUTH_PARAMS when each scope is one of TH_SCOPE, and replaces it for that login', async () => {
    const spa = new SpaClient(stack.app);
    const start = await startWith(spa, { scope: 'openid profile' });
    expect(start.status).toBe(200);
    expect(start.url!.searchParams.get('scope')).toBe('openid profile');
    // The login works with it.
    const end = await finish(spa, start.url!);
    expect(end.status).toBe(200);
    expect(end.body).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo', name: 'Demo User' } });
  });

  it('always requests openid, first, once', async () => {
    const spa = new SpaClient(stack.app);
    expect((await startWith(spa, { scope: 'profile' })).url!.searchParams.get('scope')).toBe('openid profile');
    expect((await startWith(spa, { scope: 'offline_access openid  openid profile' })).url!.searchParams.get('scope')).toBe('openid offline_access profile');
    // An empty scope leaves TH_SCOPE as it is.
    expect((await startWith(spa, { scope: ' ' })).url!.searchParams.get('scope')).toBe('openid profile offline_access');
  });

  it('takes a scope listed in TH_ALLOWED_SCOPES, and the provider grants it', async () => {
    const spa = new SpaClient(stack.makeApp({ TH_ALLOWED_SCOPES: 'email, phone' }));
    const start = await startWith(spa, { scope: 'openid profile email' });
    expect(start.url!.searchParams.get('scope')).toBe('openid profile email');
    const end = await finish(spa, start.url!);
    expect(end.status).toBe(200);
    expect(end.body['id_token_claims']).toMatchObject({ sub: 'demo', email: 'demo@example.com' });
  });

  it('refuses a scope that is in neither list with 400 invalid_request naming it, before anything reaches the provider', async () => {
    const { app, calls } = recordingApp();
    const spa = new SpaClient(app);
    const refused = await spa.json('POST', '/oauth-agent/login/start', { body: { scope: 'openid email' } });
    expectError(refused, 400, 'invalid_request');
    expect(refused.body['detailed_error']).toBe('The scope "email" is not allowed');
    expect(loginCookies(refused.response)).toEqual([]);
    expect(calls).toEqual([]);
    expect(reasonLogged('scope_not_allowed')).toBe(true);
    // Allowed elsewhere is not allowed here: TH_ALLOWED_SCOPES of another app does not leak in.
    expect((await new SpaClient(stack.makeApp({ TH_ALLOWED_SCOPES: 'phone' })).json('POST', '/oauth-agent/login/start', { body: { scope: 'email' } })).status).toBe(400);
  });

  it('names a hostile scope safely: no markup, no control characters, clipped', async () => {
    const spa = new SpaClient(stack.app);
    for (const scope of ['openid <script>alert(1)</script>', 'openid "x"\\', `openid ${'a'.repeat(500)}`, 'openid\tprofile', 'openid read:orders https://api.example.test/write']) {
      const refused = await spa.json('POST', '/oauth-agent/login/start', { body: { scope } });
      expectError(refused, 400, 'invalid_request');
      const detail = String(refused.body['detailed_error']);
      expect(detail).toMatch(/^The scope "[A-Za-z0-9_.:/?-]{1,64}" is not allowed$/);
    }
    const readable = await spa.json('POST', '/oauth-agent/login/start', { body: { scope: 'openid read:orders' } });
    expect(readable.body['detailed_error']).toBe('The scope "read:orders" is not allowed');
  });

  it('TH_EXTRA_AUTH_PARAMS=scope is accepted at start-up (redundant) and does not widen the allowed scopes', async () => {
    const spa = new SpaClient(stack.makeApp({ TH_EXTRA_AUTH_PARAMS: 'scope,login_hint' }));
    expect((await startWith(spa, { scope: 'openid profile', login_hint: 'demo' })).url!.searchParams.get('scope')).toBe('openid profile');
    expectError(await spa.json('POST', '/oauth-agent/login/start', { body: { scope: 'openid email' } }), 400, 'invalid_request');
  });

  it("the first example of the README of Curity's SPA library works: startLogin({extraAuthorizationParameters: {scope, login_hint, ui_locales}})", async () => {
    // What @curity/token-handler-js-assistant's OAuthAgentClient.startLogin sends for that example:
    // a form-encoded POST of the parameters, with accept and token-handler-version headers. The
    // deployment lists login_hint and ui_locales as the library's docs ask; scope needs no listing.
    const app = stack.makeApp({ TH_EXTRA_AUTH_PARAMS: 'login_hint,ui_locales' });
    const spa = new SpaClient(app);
    const extraAuthorizationParameters = { scope: 'openid profile', login_hint: 'username', ui_locales: 'en' };
    const response = await spa.request('POST', '/oauth-agent/login/start', {
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'token-handler-version': '1' },
      body: new URLSearchParams(extraAuthorizationParameters).toString(),
    });
    expect(response.status).toBe(200);
    const url = new URL(String(((await response.json()) as Record<string, unknown>)['authorization_url']));
    expect(Object.fromEntries(['scope', 'login_hint', 'ui_locales'].map((name) => [name, url.searchParams.get(name)]))).toEqual(extraAuthorizationParameters);
    const end = await finish(spa, url);
    expect(end.status).toBe(200);
    expect(end.body['is_logged_in']).toBe(true);
  });
});

describe('a JWT-secured authorization response (JARM) on login/end', () => {
  const jarm = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlIiwiY29kZSI6IlNQTElUWENPREUifQ.c2lnbmF0dXJlLW9mLXRoZS1qYXJtLXJlc3BvbnNl';

  it('is refused with 400 invalid_request and a clear message, logged with its reason and never its value', async () => {
    const spa = new SpaClient(stack.app);
    const refused = await spa.json('POST', '/oauth-agent/login/end', { body: { response: jarm } });
    expectError(refused, 400, 'invalid_request');
    expect(refused.body['detailed_error']).toBe('JWT-secured authorization responses (JARM) are not supported');
    expect(reasonLogged('jarm_not_supported')).toBe(true);
    expect(stack.logs.join('\n')).not.toContain(jarm.split('.')[1]!.slice(0, 24));
    // With a state beside it, still not a page load.
    expectError(await spa.json('POST', '/oauth-agent/login/end', { body: { response: jarm, state: 'x'.repeat(43) } }), 400, 'invalid_request');
  });

  it('leaves a logged-in session as it is', async () => {
    const spa = new SpaClient(stack.app);
    expect((await spa.login()).status).toBe(200);
    const refused = await spa.json('POST', '/oauth-agent/login/end', { body: { response: jarm } });
    expectError(refused, 400, 'invalid_request');
    expect(refused.response.headers.getSetCookie()).toEqual([]);
    expect((await spa.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
  });

  it('a plain page load (no callback parameters) still answers like GET /session, logged out and logged in', async () => {
    const spa = new SpaClient(stack.app);
    expect((await spa.json('POST', '/oauth-agent/login/end')).body).toEqual({ is_logged_in: false });
    expect((await spa.json('POST', '/oauth-agent/login/end', { body: { utm_source: 'mail' } })).body).toEqual({ is_logged_in: false });
    expect((await spa.login()).status).toBe(200);
    const pageLoad = await spa.json('POST', '/oauth-agent/login/end');
    expect(pageLoad.status).toBe(200);
    const session = (await spa.json('GET', '/oauth-agent/session')).body as Record<string, unknown>;
    // The same body; the countdown may have crossed a second between the two calls on a loaded machine.
    expect({ ...(pageLoad.body as Record<string, unknown>), access_token_expires_in: undefined }).toEqual({ ...session, access_token_expires_in: undefined });
  });
});
