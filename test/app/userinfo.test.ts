/**
 * `GET {agent}/userinfo` (contract §7) against the real provider: its claims for the session's
 * access token, 401 `token_expired` when the token has expired (no provider call) or the provider
 * refuses it, 401 `unauthorized_request` without one session, and no token anywhere the browser or
 * the log could show. The provider's misbehaviour (5xx, HTML, slow, oversized, signed answers) is
 * test/attack/hostile-userinfo.test.ts.
 *
 * oidc-provider takes only access tokens without an audience at its userinfo endpoint, so the main
 * stack here issues those (`userinfoTokens`); the default stack's JWTs for the example API are what
 * it refuses.
 *
 * Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts,
 * SHARED_SUITES) against the Worker inside workerd, where `../helpers/stack.js` is
 * test/runtime/workers/worker-stack.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_ORIGIN, SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';
import { createSealer, type Sealer } from '../../src/core/session/cookie-seal.js';

let stack: TestStack;
/** The default stack: access tokens are JWTs for the example API. */
let apiTokens: TestStack;
let sealer: Sealer;
let userinfoEndpoint: string;
/** Every token the tests' sessions held, and every client, for the sweep at the end. */
const tokens = new Set<string>();
const clients: SpaClient[] = [];

beforeAll(async () => {
  [stack, apiTokens] = await Promise.all([startTestStack({ userinfoTokens: true }), startTestStack()]);
  sealer = createSealer(stack.config.cookieKeys, Date.now);
  const discovery = (await (await fetch(`${stack.provider.issuer}/.well-known/openid-configuration`)).json()) as { userinfo_endpoint: string };
  userinfoEndpoint = discovery.userinfo_endpoint;
});
afterAll(async () => {
  await Promise.all([stack?.close(), apiTokens?.close()]);
});

const AT = '__Host-th-at';
const RT = '__Secure-th-rt';
const ID = '__Secure-th-id';

/** An app whose clock the test moves, counting its calls to the provider's userinfo endpoint. */
function clockedApp(on: TestStack = stack, overrides: Record<string, string> = {}) {
  const clock = { now: Date.now() };
  const calls: string[] = [];
  const app = on.makeApp(overrides, {
    now: () => clock.now,
    fetch: (input, init) => {
      calls.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    },
  });
  return { app, clock, calls, userinfoCalls: () => calls.filter((url) => url === userinfoEndpoint).length };
}

/** A logged-in SPA whose tokens are registered for the sweep. */
async function loggedIn(app: SpaClient['app'] = stack.app): Promise<SpaClient> {
  const spa = new SpaClient(app);
  clients.push(spa);
  expect((await spa.login()).status).toBe(200);
  await remember(spa);
  return spa;
}

async function remember(spa: SpaClient): Promise<void> {
  const at = await sealer.unseal<{ t: string }>('at', spa.cookies.get(AT)?.value);
  const rt = await sealer.unseal<{ t: string }>('rt', spa.cookies.get(RT)?.value);
  for (const token of [at?.data.t, rt?.data.t]) if (token) tokens.add(token);
}

function expectError(result: { status: number; body: Record<string, unknown>; response: Response }, status: number, code: string) {
  expect(result.status, JSON.stringify(result.body)).toBe(status);
  expect(result.body['error_code']).toBe(code);
  expect(Object.keys(result.body).sort()).toEqual(['detailed_error', 'error_code']);
  expect(result.response.headers.get('content-type')).toBe('application/json');
  expect(result.response.headers.get('cache-control')).toBe('no-store');
}

const reasonLogged = (on: TestStack, reason: string) => on.logs.some((line) => line.includes('"msg":"request_rejected"') && line.includes(`"reason":"${reason}"`));

describe('GET /oauth-agent/userinfo', () => {
  it("answers the provider's claims for the session as JSON, with no-store and no cookie, without the CSRF header a POST needs", async () => {
    const { app, userinfoCalls } = clockedApp();
    const spa = await loggedIn(app);
    // A plain GET, as a page or an <img> would make it: no token-handler-version, no Fetch Metadata.
    const response = await app.request(`${PUBLIC_ORIGIN}/oauth-agent/userinfo`, { headers: { cookie: spa.cookieHeader('/oauth-agent/userinfo') } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.getSetCookie()).toEqual([]);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ sub: 'demo', name: 'Demo User', given_name: 'Demo', family_name: 'User' });
    for (const token of tokens) expect(text).not.toContain(token);
    expect(userinfoCalls()).toBe(1);
    // The same through the SPA's client, for the sweep.
    expect((await spa.json('GET', '/oauth-agent/userinfo')).body['sub']).toBe('demo');
  });

  it('hides the claims listed in TH_HIDDEN_CLAIMS, as the session body does', async () => {
    const spa = await loggedIn(stack.makeApp({ TH_HIDDEN_CLAIMS: 'name,family_name' }));
    const answer = await spa.json('GET', '/oauth-agent/userinfo');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ sub: 'demo', given_name: 'Demo' });
  });

  it('answers 401 unauthorized_request without a session, or with cookies that do not open, and never asks the provider', async () => {
    const { app, calls } = clockedApp();
    const spa = new SpaClient(app);
    clients.push(spa);
    expectError(await spa.json('GET', '/oauth-agent/userinfo'), 401, 'unauthorized_request');
    spa.cookies.set(AT, { value: 'not-a-sealed-value', path: '/' });
    spa.cookies.set(ID, { value: 'not-a-sealed-value-either', path: '/' });
    expectError(await spa.json('GET', '/oauth-agent/userinfo'), 401, 'unauthorized_request');
    // Not even discovery: nothing about a request without a session reaches the provider.
    expect(calls).toEqual([]);
    expect(reasonLogged(stack, 'userinfo_no_session')).toBe(true);
  });

  it('answers 401 token_expired once the access token has expired, without asking the provider; after a refresh it answers again', async () => {
    const { app, clock, userinfoCalls } = clockedApp();
    const spa = await loggedIn(app);
    expect((await spa.json('GET', '/oauth-agent/userinfo')).status).toBe(200);
    clock.now += 301_000;
    const expired = await spa.json('GET', '/oauth-agent/userinfo');
    expectError(expired, 401, 'token_expired');
    expect(userinfoCalls()).toBe(1);
    // What the SPA does with a 401: refresh once, then retry.
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    await remember(spa);
    const again = await spa.json('GET', '/oauth-agent/userinfo');
    expect(again.status).toBe(200);
    expect(again.body['sub']).toBe('demo');
    expect(userinfoCalls()).toBe(2);
  });

  it('answers 401 token_expired when the provider refuses the token: a copy of the cookies replayed after logout (the grant is revoked)', async () => {
    const spa = await loggedIn();
    // On an instance that does not share the session store (the same instance refuses the copy itself: session-revocation.test.ts).
    const copy = new SpaClient(stack.makeApp());
    clients.push(copy);
    for (const [name, cookie] of spa.cookies) copy.cookies.set(name, { ...cookie });
    expect((await spa.json('POST', '/oauth-agent/logout')).status).toBe(200);
    const refused = await copy.json('GET', '/oauth-agent/userinfo');
    expectError(refused, 401, 'token_expired');
    expect(reasonLogged(stack, 'userinfo_invalid_token')).toBe(true);
  });

  it('answers 401 token_expired for an access token the provider does not take at userinfo (a JWT for the example API)', async () => {
    const spa = new SpaClient(apiTokens.app);
    clients.push(spa);
    expect((await spa.login()).status).toBe(200);
    // The same token works at the API it was issued for.
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expectError(await spa.json('GET', '/oauth-agent/userinfo'), 401, 'token_expired');
    expect(reasonLogged(apiTokens, 'userinfo_invalid_token')).toBe(true);
  });

  it('one session, one id (contract §3): an access-token cookie beside another session’s ID cookie is no session, cleared, and the provider is not asked', async () => {
    const { app, userinfoCalls } = clockedApp();
    const mine = await loggedIn(app);
    const other = await loggedIn(app);
    const mixed = new SpaClient(app);
    clients.push(mixed);
    mixed.cookies.set(AT, mine.cookies.get(AT)!);
    mixed.cookies.set(RT, mine.cookies.get(RT)!);
    mixed.cookies.set(ID, other.cookies.get(ID)!);
    const answer = await mixed.json('GET', '/oauth-agent/userinfo');
    expectError(answer, 401, 'unauthorized_request');
    const cleared = answer.response.headers.getSetCookie();
    for (const name of [AT, RT, ID]) expect(cleared.some((c) => c.startsWith(`${name}=;`) && /Max-Age=0/.test(c)), name).toBe(true);
    expect(reasonLogged(stack, 'session_ids_differ')).toBe(true);

    // Planted ID and refresh-token cookies alone are no session either.
    const planted = new SpaClient(app);
    clients.push(planted);
    planted.cookies.set(ID, other.cookies.get(ID)!);
    planted.cookies.set(RT, other.cookies.get(RT)!);
    expectError(await planted.json('GET', '/oauth-agent/userinfo'), 401, 'unauthorized_request');
    // An access-token cookie without its ID cookie has no subject to compare with: no session, as for /session.
    const halfSession = new SpaClient(app);
    clients.push(halfSession);
    halfSession.cookies.set(AT, mine.cookies.get(AT)!);
    halfSession.cookies.set(RT, mine.cookies.get(RT)!);
    expect((await halfSession.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
    expectError(await halfSession.json('GET', '/oauth-agent/userinfo'), 401, 'unauthorized_request');
    expect(userinfoCalls()).toBe(0);
    // The genuine sessions still work.
    expect((await mine.json('GET', '/oauth-agent/userinfo')).status).toBe(200);
  });

  it('refuses other methods with 405 and Allow: GET', async () => {
    const spa = await loggedIn();
    const answer = await spa.json('POST', '/oauth-agent/userinfo');
    expectError(answer, 405, 'method_not_allowed');
    expect(answer.response.headers.get('allow')).toBe('GET');
  });
});

describe('the log and the answers', () => {
  it('hold none of the tokens the sessions above held, nor a cookie value', () => {
    // Runs last, over every log line and answer of the tests above.
    expect(tokens.size).toBeGreaterThan(4);
    const logs = [...stack.logs, ...apiTokens.logs].join('\n');
    const answers = clients.flatMap((c) => c.responses.map((r) => JSON.stringify([r.headers.filter(([k]) => k !== 'set-cookie'), r.body]))).join('\n');
    // The sweep covers userinfo answers, or it would pass on nothing.
    expect(clients.some((c) => c.responses.some((r) => r.path === '/oauth-agent/userinfo' && r.status === 200))).toBe(true);
    for (const token of tokens) {
      expect(logs.includes(token), 'a token reached the log').toBe(false);
      expect(answers.includes(token), 'a token reached an answer').toBe(false);
    }
    for (const value of clients.flatMap((c) => [...c.cookies.values()].map((cookie) => cookie.value))) {
      if (value.length >= 40) expect(logs.includes(value.slice(0, 40)), 'a cookie value reached the log').toBe(false);
    }
  });
});
