/**
 * Back-channel logout end to end (contract §6.2) against the real oidc-provider: the provider
 * registers the token handler's `{agent}/backchannel-logout`, and signing out at the provider's own
 * end-session page ends the token handler's session (the provider's delivery is dispatched into the
 * in-process app). Plus the endpoint's shape: off by default (404), no CSRF checks, 400 in the
 * specification's shape for a bad token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { logoutAtProvider } from '../helpers/browser.js';
import type { NodeTokenHandler } from '../../src/adapters/node/server.js';

const ENDPOINT = `${PUBLIC_ORIGIN}/oauth-agent/backchannel-logout`;
let stack: TestStack;
let app: NodeTokenHandler;
const deliveries: number[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    env: { TH_BACKCHANNEL_LOGOUT: 'on', TH_REVOCATION_CACHE_TTL: '0' },
    client: { backchannel_logout_uri: ENDPOINT },
    // The provider's logout-token delivery goes straight into the app (as a POST over HTTP would).
    providerFetch: async (url, init) => {
      if (!String(url).startsWith(PUBLIC_ORIGIN)) return fetch(url, init);
      const response = await app.request(String(url), init);
      deliveries.push(response.status);
      return response;
    },
  });
  app = stack.app;
});
afterAll(async () => {
  await stack?.close();
});

/** Signs out at the provider's end-session page in the client's browser (it holds the provider's session cookie). */
async function signOutAtProvider(client: SpaClient): Promise<void> {
  const endSession = new URL('/session/end', stack.provider.issuer);
  endSession.searchParams.set('client_id', stack.config.clientId);
  endSession.searchParams.set('post_logout_redirect_uri', `${PUBLIC_ORIGIN}/`);
  await logoutAtProvider(client.browser, endSession, { postLogoutRedirectUri: `${PUBLIC_ORIGIN}/` });
}

describe('back-channel logout', () => {
  it('ends the session when the user signs out at the provider', async () => {
    const client = new SpaClient(stack.app);
    await client.login();
    expect((await client.json('GET', '/api/whoami')).status).toBe(200);

    await signOutAtProvider(client);
    expect(deliveries).toEqual([200]);

    const api = await client.json('GET', '/api/whoami');
    expect(api.status).toBe(401);
    expect(api.body['error_code']).toBe('unauthorized_request');
    expect((await client.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
    expect(stack.logs.some((line) => line.includes('"event":"backchannel_logout"'))).toBe(true);
    // And InfoSec's line: an audit event of its own (docs/audit-event.schema.json).
    expect(stack.logs.some((line) => line.includes('"type":"audit"') && line.includes('"event":"backchannel_logout"') && line.includes('"outcome":"success"'))).toBe(true);
  });

  it('answers a bad logout token with 400 in the specification shape, no-store, without the CSRF checks', async () => {
    // No token-handler-version, Origin or Fetch Metadata: a server-to-server call.
    const response = await stack.app.request(ENDPOINT, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: 'not.a.jwt' }).toString(),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const body = (await response.json()) as Record<string, unknown>;
    expect(body['error']).toBe('invalid_request');
    expect(typeof body['error_description']).toBe('string');
    expect(body).not.toHaveProperty('error_code');
  });

  it('answers 400 without a logout_token', async () => {
    const response = await stack.app.request(ENDPOINT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'other=1' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as Record<string, unknown>)['error']).toBe('invalid_request');
  });

  it('is not there when TH_BACKCHANNEL_LOGOUT is off (the default)', async () => {
    const off = stack.makeApp({ TH_BACKCHANNEL_LOGOUT: 'off' });
    const response = await off.request(ENDPOINT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'logout_token=x' });
    expect(response.status).toBe(404);
  });
});
