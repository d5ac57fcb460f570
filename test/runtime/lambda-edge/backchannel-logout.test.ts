/**
 * Back-channel logout end to end on Lambda@Edge (contract §6.2): two function instances sharing
 * one DynamoDB table (dynalite, with the real AWS SDK client), and the real oidc-provider, whose
 * client registers a loopback HTTP bridge into an instance (edge-http-bridge.ts: HTTP → CloudFront
 * origin-request event → the handler) as its `backchannel_logout_uri`. Signing out at the
 * provider's own end-session page makes the provider POST a logout token there; the session is
 * then over on both instances, and a replay of that token is refused on the other one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEdgeHandler, type EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { logoutAtProvider } from '../../helpers/browser.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { Dynalite, TEST_CREDENTIALS, TEST_REGION, createTable } from '../../stores/dynalite-server.js';
import { EdgeSpa } from './cloudfront.js';
import { EdgeHttpBridge } from './edge-http-bridge.js';

const TABLE = 'edge-backchannel';
const ENDPOINT = '/oauth-agent/backchannel-logout';
let stack: TestStack;
let dynalite: Dynalite;
let bridge: EdgeHttpBridge;
const logs = { one: [] as string[], two: [] as string[] };
let one: EdgeHandler;
let two: EdgeHandler;

beforeAll(async () => {
  // The bridge listens first: its URL is the client's registered backchannel_logout_uri.
  [bridge, dynalite] = await Promise.all([EdgeHttpBridge.start(), Dynalite.start()]);
  [stack] = await Promise.all([startTestStack({ client: { backchannel_logout_uri: `${bridge.url}${ENDPOINT}` } }), createTable(dynalite.endpoint, TABLE)]);
  const handler = (log: string[]) =>
    createEdgeHandler({
      settings: {
        TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
        TH_ISSUER: stack.provider.issuer,
        TH_CLIENT_ID: CLIENT_ID,
        TH_CLIENT_SECRET: stack.clientSecret,
        TH_COOKIE_KEYS: stack.cookieKeys,
        TH_API_ROUTES: `/api=${stack.api.url}/api`,
        TH_SESSION_STORE: `dynamodb://${TABLE}?region=${TEST_REGION}`,
        TH_SESSION_STORE_ENDPOINT: dynalite.endpoint,
        TH_BACKCHANNEL_LOGOUT: 'on',
        // Each instance asks the table on every request, so what one wrote is seen at once by the other.
        TH_REVOCATION_CACHE_TTL: '0',
      },
      storeCredentials: TEST_CREDENTIALS,
      logSink: (line) => log.push(line),
    });
  [one, two] = [handler(logs.one), handler(logs.two)];
});
afterAll(async () => {
  await stack?.close();
  await bridge?.close();
  await dynalite?.stop();
});

/** Logged in on `handler`, and a copy of its cookies on `other` (a second instance behind CloudFront). */
async function loggedIn(handler: EdgeHandler, other: EdgeHandler): Promise<[EdgeSpa, EdgeSpa]> {
  const spa = new EdgeSpa(handler, PUBLIC_ORIGIN);
  const callback = await spa.loginAtProvider();
  expect((await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status).toBe(200);
  const copy = new EdgeSpa(other, PUBLIC_ORIGIN);
  for (const [name, cookie] of spa.cookies) copy.cookies.set(name, { ...cookie });
  for (const client of [spa, copy]) {
    expect((await client.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
    expect((await client.send('GET', '/api/whoami')).status).toBe(200);
  }
  return [spa, copy];
}

/** The user signs out at the provider's end-session page, in the browser that holds its session cookie. */
async function signOutAtProvider(spa: EdgeSpa): Promise<void> {
  const endSession = new URL('/session/end', stack.provider.issuer);
  endSession.searchParams.set('client_id', CLIENT_ID);
  endSession.searchParams.set('post_logout_redirect_uri', `${PUBLIC_ORIGIN}/`);
  await logoutAtProvider(spa.browser, endSession, { postLogoutRedirectUri: `${PUBLIC_ORIGIN}/` });
}

/** The proxied call first: the agent's logged-out answer clears the cookies, and the proxy must refuse them while they are still sent. */
async function expectLoggedOut(client: EdgeSpa): Promise<void> {
  const api = await client.json('GET', '/api/whoami');
  expect(api.status).toBe(401);
  expect(api.body['error_code']).toBe('unauthorized_request');
  expect((await client.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
}

describe('back-channel logout on Lambda@Edge with DynamoDB', () => {
  it('ends the session on both instances when the logout token reaches the other one, and refuses its replay on the first', async () => {
    const [spa, copy] = await loggedIn(one, two);
    bridge.target = two;
    const from = bridge.requests.length;

    await signOutAtProvider(spa);
    const deliveries = bridge.requests.slice(from);
    expect(deliveries.map((d) => [d.method, d.target, d.status])).toEqual([['POST', ENDPOINT, 200]]);
    expect(logs.two.some((line) => line.includes('"type":"audit"') && line.includes('"event":"backchannel_logout"') && line.includes('"outcome":"success"'))).toBe(true);

    await expectLoggedOut(spa);
    await expectLoggedOut(copy);

    // The same logout token (same jti) again, over HTTP as the provider sent it, now to the instance that did not see it.
    const logoutToken = new URLSearchParams(deliveries[0]!.body).get('logout_token');
    expect(logoutToken).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    bridge.target = one;
    const replay = await fetch(`${bridge.url}${ENDPOINT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: logoutToken! }).toString(),
    });
    expect(replay.status).toBe(400);
    expect(replay.headers.get('cache-control')).toBe('no-store');
    expect(((await replay.json()) as Record<string, unknown>)['error']).toBe('invalid_request');
    expect(logs.one.some((line) => line.includes('backchannel_logout_jti_replayed'))).toBe(true);
    // No log line of either instance carries the token.
    expect([...logs.one, ...logs.two].filter((line) => line.includes(logoutToken!))).toEqual([]);
  });

  it('ends the session on both instances when the logout token reaches the instance that logged in', async () => {
    const [spa, copy] = await loggedIn(one, two);
    bridge.target = one;
    const from = bridge.requests.length;

    await signOutAtProvider(spa);
    expect(bridge.requests.slice(from).map((d) => d.status)).toEqual([200]);

    await expectLoggedOut(copy);
    await expectLoggedOut(spa);
  });
});
