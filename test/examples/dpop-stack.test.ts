// `DEMO_DPOP=1 npm start` (examples/start.ts) over real HTTP on random ports: the demo provider
// binds the tokens and demands its nonce, the example API verifies every proof and demands its
// own; the example SPA's client logs in, calls the API, refreshes, calls again and logs out, none
// the wiser (the nonce retries happen inside the token handler).

import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CREDENTIALS, startStack, type Stack } from '../../examples/start.js';
import { TokenHandlerClient, callbackParams, type CallRecord } from '../../examples/spa/token-handler-client.js';
import { TestBrowser, loginAtProvider } from '../helpers/browser.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ ports: { spa: 0, provider: 0, api: 0 }, env: { DEMO_DPOP: '1' }, quiet: true });
});
afterAll(async () => {
  await stack?.close();
});

/** A fetch for the SPA's client that goes through the test browser's cookie jar. */
function browserFetch(browser: TestBrowser): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = { ...(init?.headers as Record<string, string> | undefined), 'sec-fetch-site': 'same-origin' };
    if (method !== 'GET' && method !== 'HEAD') headers['origin'] = stack.urls.origin;
    return browser.fetch(method, new URL(String(input), stack.urls.origin).href, init?.body as string | undefined, headers);
  }) as typeof fetch;
}

describe('DEMO_DPOP=1', () => {
  it('turns DPoP on in the token handler', () => {
    expect(stack.config.dpop).toBe(true);
  });

  it('the SPA logs in, calls the API, refreshes and calls again, all with DPoP-bound tokens', async () => {
    const browser = new TestBrowser();
    const calls: CallRecord[] = [];
    const client = new TokenHandlerClient({ baseUrl: stack.urls.origin, fetch: browserFetch(browser), onCall: (c) => calls.push(c) });
    const authorizationUrl = await client.startLogin();
    const callback = await loginAtProvider(browser, authorizationUrl, { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
    expect(await client.endLogin(callbackParams(callback.searchParams)!)).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo' } });

    expect(await client.callApi('/api/whoami')).toMatchObject({ status: 200, body: { sub: 'demo' } });
    expect((await client.refresh()).access_token_expires_in).toBeGreaterThan(0);
    expect(await client.callApi('/api/whoami')).toMatchObject({ status: 200, body: { sub: 'demo' } });
    // The API's nonce challenge never reached the SPA: one answer per call, no refresh but its own.
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual([
      'POST /oauth-agent/login/start 200',
      'POST /oauth-agent/login/end 200',
      'GET /api/whoami 200',
      'POST /oauth-agent/refresh 200',
      'GET /api/whoami 200',
    ]);
    await client.logout();
  });

  it('the provider advertises DPoP with ES256', async () => {
    const discovery = (await (await fetch(`${stack.urls.issuer}/.well-known/openid-configuration`)).json()) as { dpop_signing_alg_values_supported?: string[] };
    expect(discovery.dpop_signing_alg_values_supported).toContain('ES256');
  });

  it('the example API refuses a bearer token and a DPoP token without a proof, asking for DPoP', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    const token = `${header}.${Buffer.from(JSON.stringify({ sub: 'x' })).toString('base64url')}.`;
    expect(decodeJwt(token).sub).toBe('x');
    for (const authorization of [`Bearer ${token}`, `DPoP ${token}`]) {
      const response = await fetch(`${stack.urls.api}/api/whoami`, { headers: { authorization } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^DPoP error="invalid_token"/);
      expect(response.headers.get('dpop-nonce')).toMatch(/^[A-Za-z0-9_-]+$/);
    }
  });
});
