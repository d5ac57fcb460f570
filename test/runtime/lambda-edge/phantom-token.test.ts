/**
 * Phantom tokens on Lambda@Edge, through the built bundle and CloudFront events against the real
 * oidc-provider issuing opaque access tokens: the origin-request function introspects and hands
 * CloudFront a request whose bearer token is the provider's introspection JWT, which the example
 * API validates. The cache lives in the container (one built bundle each here): a second call in
 * the same container does not ask again; with TH_INTROSPECTION_CACHE_TTL=0 every call asks; and a
 * token revoked at the provider is answered 401 by the function itself, nothing forwarded.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { EdgeSpa, loadBuiltHandler } from './cloudfront.js';

let stack: TestStack;
let cached: { handler: EdgeHandler; remove(): Promise<void> };
let uncached: { handler: EdgeHandler; remove(): Promise<void> };
let introspections = 0;

beforeAll(async () => {
  stack = await startTestStack({ opaqueAccessTokens: true });
  vi.spyOn(console, 'log').mockImplementation(() => {});
  // The bundle calls the global fetch for the provider; count its introspections.
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
    if (String(input instanceof Request ? input.url : input).endsWith('/token/introspection')) introspections++;
    return realFetch(input, init);
  });
  // Plain secrets in the bundle (the build warns): KMS is handler.test.ts's concern, not this one's.
  const settings = {
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    TH_API_ROUTES: `/api=http://localhost:${new URL(stack.api.url).port}/api`,
    TH_API_ROUTE_OPTIONS: '/api=introspect',
  };
  cached = await loadBuiltHandler(settings);
  uncached = await loadBuiltHandler({ ...settings, TH_INTROSPECTION_CACHE_TTL: '0' });
});

afterAll(async () => {
  vi.restoreAllMocks();
  await cached?.remove();
  await uncached?.remove();
  await stack?.close();
});

const bearer = (headers: Record<string, { value: string }[]> | undefined) => headers?.['authorization']?.map((h) => h.value);

describe('Lambda@Edge: phantom tokens in origin-request', () => {
  it('forwards the introspection JWT, caches it in the container, and refuses a revoked token itself', async () => {
    const spa = new EdgeSpa(cached.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    expect((await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status).toBe(200);

    const first = await spa.json('GET', '/api/whoami');
    expect(first.status, first.exchange.body).toBe(200);
    expect(first.body['sub']).toBe('demo');
    const [authorization] = bearer(first.exchange.forwarded?.headers)!;
    const jwt = authorization!.replace(/^Bearer /, '');
    expect(decodeProtectedHeader(jwt).typ).toBe('token-introspection+jwt');
    expect(decodeJwt(jwt)).toMatchObject({ iss: stack.provider.issuer, aud: CLIENT_ID, token_introspection: { active: true, sub: 'demo' } });
    expect(introspections).toBe(1);

    // The same container: answered from its cache, the same JWT forwarded.
    const second = await spa.json('GET', '/api/whoami');
    expect(second.status).toBe(200);
    expect(bearer(second.exchange.forwarded?.headers)).toEqual([authorization]);
    expect(introspections).toBe(1);

    // Another container with TH_INTROSPECTION_CACHE_TTL=0: every call introspects.
    const other = new EdgeSpa(uncached.handler, PUBLIC_ORIGIN);
    for (const [name, cookie] of spa.cookies) other.cookies.set(name, { ...cookie });
    expect((await other.json('GET', '/api/whoami')).status).toBe(200);
    expect((await other.json('GET', '/api/whoami')).status).toBe(200);
    expect(introspections).toBe(3);

    // Logout revokes the grant at the provider; the copy of the session is now inactive there.
    expect((await spa.json('POST', '/oauth-agent/logout')).status).toBe(200);
    const refused = await other.json('GET', '/api/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual({ error_code: 'unauthorized_request', detailed_error: expect.any(String) });
    expect(refused.exchange.forwarded).toBeUndefined();
    expect(introspections).toBe(4);
  });
});
