// `DEMO_OPAQUE_ACCESS_TOKENS=1 npm start` (examples/start.ts) over real HTTP on random ports: the
// demo provider issues opaque access tokens, `/api` introspects them, and the example API accepts
// only the provider's introspection JWTs. The example SPA's own client logs in, calls the API,
// refreshes, calls it again and logs out, as the browser would (HTTP-level: the browser suite stays
// within its time budget without a third scenario).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, DEMO_CREDENTIALS, type Stack } from '../../examples/start.js';
import { SessionEndedError, TokenHandlerClient, callbackParams, type CallRecord } from '../../examples/spa/token-handler-client.js';
import { TestBrowser, loginAtProvider } from '../helpers/browser.js';

const RANDOM_PORTS = { spa: 0, provider: 0, api: 0 };

/** A fetch for the SPA's client that goes through the test browser's cookie jar. */
function browserFetch(browser: TestBrowser, stack: Stack): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const method = init?.method ?? 'GET';
    const headers: Record<string, string> = { ...(init?.headers as Record<string, string> | undefined), 'sec-fetch-site': 'same-origin' };
    if (method !== 'GET' && method !== 'HEAD') headers['origin'] = stack.urls.origin;
    return browser.fetch(method, new URL(String(input), stack.urls.origin).href, init?.body as string | undefined, headers);
  }) as typeof fetch;
}

describe('the npm start stack with DEMO_OPAQUE_ACCESS_TOKENS=1', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ ports: RANDOM_PORTS, env: { DEMO_OPAQUE_ACCESS_TOKENS: '1' }, quiet: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('turns introspection on for /api', () => {
    expect(stack.config.apiRoutes).toEqual([{ prefix: '/api', upstream: `${stack.urls.api}/api`, public: false, nosniff: true, introspect: true }]);
  });

  it('the SPA logs in, calls the API, refreshes, calls it again and logs out', async () => {
    const browser = new TestBrowser();
    const calls: CallRecord[] = [];
    const client = new TokenHandlerClient({ baseUrl: stack.urls.origin, fetch: browserFetch(browser, stack), onCall: (c) => calls.push(c) });
    const callback = await loginAtProvider(browser, await client.startLogin(), { ...DEMO_CREDENTIALS, redirectUri: stack.urls.spa });
    expect(await client.endLogin(callbackParams(callback.searchParams)!)).toMatchObject({ is_logged_in: true });

    expect(await client.callApi('/api/whoami')).toMatchObject({ status: 200, body: { sub: 'demo' } });
    expect((await client.refresh()).access_token_expires_in).toBeGreaterThan(0);
    expect(await client.callApi('/api/whoami')).toMatchObject({ status: 200, body: { sub: 'demo' } });

    // The API takes only introspection JWTs: the session's opaque token, sent to it directly, is refused.
    expect((await fetch(`${stack.urls.api}/api/whoami`, { headers: { authorization: 'Bearer opaque-token-0123456789abcdef' } })).status).toBe(401);

    await client.logout();
    calls.length = 0;
    await expect(client.callApi('/api/whoami')).rejects.toBeInstanceOf(SessionEndedError);
    expect(calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(['GET /api/whoami 401', 'POST /oauth-agent/refresh 401']);
  });
});

describe('DEMO_OPAQUE_ACCESS_TOKENS', () => {
  it('refuses a value that is not a yes or a no', async () => {
    await expect(startStack({ ports: RANDOM_PORTS, env: { DEMO_OPAQUE_ACCESS_TOKENS: 'maybe' }, quiet: true })).rejects.toThrow('DEMO_OPAQUE_ACCESS_TOKENS must be 1 or 0, got "maybe"');
  });

  it('refuses to be combined with DEMO_DPOP (the example API checks one or the other)', async () => {
    await expect(startStack({ ports: RANDOM_PORTS, env: { DEMO_OPAQUE_ACCESS_TOKENS: '1', DEMO_DPOP: '1' }, quiet: true })).rejects.toThrow('DEMO_DPOP and DEMO_OPAQUE_ACCESS_TOKENS cannot be combined');
  });
});
