/**
 * The agent's gateway endpoints (contract §7) through the built Lambda@Edge bundle with CloudFront
 * origin-request events, against the real provider: `GET /userinfo` (its claims, token_expired when
 * the provider refuses the token, unauthorized_request without a session), `scope` on login/start,
 * and a JARM callback refused. The full cases run on Node and in workerd (test/app/userinfo.test.ts,
 * test/app/login-parameters.test.ts); this proves the bundle carries them.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { loginAtProvider } from '../../helpers/browser.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { EdgeSpa, loadBuiltHandler } from './cloudfront.js';

let stack: TestStack;
let edge: { handler: EdgeHandler; remove(): Promise<void> };

beforeAll(async () => {
  stack = await startTestStack({ userinfoTokens: true });
  vi.spyOn(console, 'log').mockImplementation(() => {});
  // Plain secrets in the bundle (the build warns): KMS is handler.test.ts's concern, not this one's.
  edge = await loadBuiltHandler({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    TH_ALLOWED_SCOPES: 'email',
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await edge?.remove();
  await stack?.close();
});

const contentType = (spa: EdgeSpa) => spa.exchanges.at(-1)!.headers['content-type']?.[0]?.value;

describe('the gateway endpoints of the agent on Lambda@Edge', () => {
  it('login/start takes an allowed scope and refuses another; the login with it works; userinfo answers the claims', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const refused = await spa.json('POST', '/oauth-agent/login/start', { form: { scope: 'openid phone' } });
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error_code: 'invalid_request', detailed_error: 'The scope "phone" is not allowed' });

    const start = await spa.json('POST', '/oauth-agent/login/start', { form: { scope: 'profile email' } });
    expect(start.status).toBe(200);
    const url = new URL(String(start.body['authorization_url']));
    expect(url.searchParams.get('scope')).toBe('openid profile email');
    const callback = await loginAtProvider(spa.browser, url, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
    const end = await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
    expect(end.status).toBe(200);

    const userinfo = await spa.json('GET', '/oauth-agent/userinfo');
    expect(userinfo.status).toBe(200);
    expect(userinfo.body).toMatchObject({ sub: 'demo', name: 'Demo User', email: 'demo@example.com' });
    expect(contentType(spa)).toBe('application/json');

    // After logout the provider has revoked the grant: a copy of the cookies gets token_expired.
    const copy = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    for (const [name, cookie] of spa.cookies) copy.cookies.set(name, { ...cookie });
    expect((await spa.json('POST', '/oauth-agent/logout')).status).toBe(200);
    const replayed = await copy.json('GET', '/oauth-agent/userinfo');
    expect(replayed.status).toBe(401);
    expect(replayed.body['error_code']).toBe('token_expired');
  });

  it('userinfo without a session is 401 unauthorized_request', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const answer = await spa.json('GET', '/oauth-agent/userinfo');
    expect(answer.status).toBe(401);
    expect(answer.body['error_code']).toBe('unauthorized_request');
  });

  it('a JARM callback on login/end is refused; a page load is not', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const jarm = await spa.json('POST', '/oauth-agent/login/end', { form: { response: 'eyJhbGciOiJSUzI1NiJ9.e30.c2ln' } });
    expect(jarm.status).toBe(400);
    expect(jarm.body).toEqual({ error_code: 'invalid_request', detailed_error: 'JWT-secured authorization responses (JARM) are not supported' });
    const pageLoad = await spa.json('POST', '/oauth-agent/login/end');
    expect(pageLoad.status).toBe(200);
    expect(pageLoad.body).toEqual({ is_logged_in: false });
  });
});
