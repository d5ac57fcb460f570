/**
 * DPoP (TH_DPOP=on) through the built Lambda@Edge bundle with CloudFront events, against the real
 * oidc-provider (binding tokens, demanding its nonce) and the example API (verifying every proof):
 * the function makes the proofs for the token endpoint itself (nonce challenge retried there) and
 * the proxied call's proof in origin-request, for the URL CloudFront will call. CloudFront forwards
 * the call, so an API's nonce challenge cannot be retried: it reaches the SPA (README, DPoP).
 */
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startExampleApi, type ApiRequestInfo, type ExampleApi } from '../../../examples/api.js';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { createSealer, type Sealer } from '../../../src/core/session/cookie-seal.js';
import type { AccessTokenData } from '../../../src/core/session/session-cookies.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { EdgeSpa, isRequest, loadBuiltHandler } from './cloudfront.js';

let stack: TestStack;
let strict: ExampleApi;
const strictRequests: ApiRequestInfo[] = [];
let edge: { handler: EdgeHandler; remove(): Promise<void> };
let sealer: Sealer;
const logs: string[] = [];
const port = (url: string) => new URL(url).port;

beforeAll(async () => {
  stack = await startTestStack({ dpop: { providerNonce: true } });
  // An API that demands its own nonce in every proof.
  strict = await startExampleApi({ port: 0, issuer: stack.provider.issuer, audience: 'http://127.0.0.1:8082', dpop: { requireNonce: true }, onRequest: (r) => strictRequests.push(r) });
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(String(line)));
  // Plain secrets in the bundle (the build warns): KMS is handler.test.ts's concern, not this one's.
  edge = await loadBuiltHandler({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    // Names, as CloudFront origins must be (localhost is the APIs on loopback).
    TH_API_ROUTES: `/api=http://localhost:${port(stack.api.url)}/api,/strict=http://localhost:${port(strict.url)}/api`,
    TH_DPOP: 'on',
    TH_LOG_LEVEL: 'debug',
  });
  sealer = createSealer(stack.config.cookieKeys, Date.now);
});

afterAll(async () => {
  vi.restoreAllMocks();
  await edge?.remove();
  await strict?.close();
  await stack?.close();
});

const header = (headers: Record<string, { value: string }[]> | undefined, name: string) => headers?.[name]?.map((h) => h.value);

async function loggedIn(): Promise<{ spa: EdgeSpa; session: AccessTokenData }> {
  const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
  const callback = await spa.loginAtProvider();
  const end = await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
  expect(end.status, JSON.stringify(end.body)).toBe(200);
  const opened = await sealer.unseal<AccessTokenData>('at', spa.cookies.get('__Host-th-at')?.value);
  expect(opened?.data.k).toBeDefined();
  return { spa, session: opened!.data };
}

describe('Lambda@Edge with DPoP', () => {
  it('logs in and refreshes with proofs, and hands CloudFront a call with its own proof', async () => {
    const { spa, session } = await loggedIn();
    const whoami = await spa.send('GET', '/api/whoami?view=full', { headers: [['DPoP', 'planted']] });
    expect(isRequest(whoami.result)).toBe(true);
    const forwarded = whoami.forwarded!;
    expect(header(forwarded.headers, 'authorization')).toEqual([`DPoP ${session.t}`]);
    const proof = header(forwarded.headers, 'dpop')!;
    expect(proof).toHaveLength(1);
    expect(decodeProtectedHeader(proof[0]!)).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: session.k!.x, y: session.k!.y } });
    expect(decodeJwt(proof[0]!)).toMatchObject({ htm: 'GET', htu: `http://localhost:${port(stack.api.url)}/api/whoami` });
    expect(whoami.status).toBe(200);
    expect(JSON.parse(whoami.body)).toMatchObject({ sub: 'demo' });

    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const again = await spa.send('GET', '/api/whoami');
    expect(again.status).toBe(200);
    expect(header(again.forwarded!.headers, 'authorization')![0]).not.toBe(`DPoP ${session.t}`);
  });

  it('passes an API nonce challenge to the SPA: CloudFront forwards the call, so there is no second send', async () => {
    const { spa } = await loggedIn();
    const from = strictRequests.length;
    for (let i = 0; i < 2; i++) {
      const challenged = await spa.send('GET', '/strict/whoami');
      expect(challenged.status).toBe(401);
      expect(header(challenged.headers, 'www-authenticate')![0]).toMatch(/^DPoP error="use_dpop_nonce"/);
    }
    expect(strictRequests.slice(from).map((r) => decodeJwt(r.headers['dpop']!)['nonce'])).toEqual([undefined, undefined]);
  });

  it('logs no private key, token or secret', async () => {
    const { spa, session } = await loggedIn();
    expect((await spa.send('GET', '/api/whoami')).status).toBe(200);
    const visible = [...logs, ...spa.exchanges.filter((x) => !isRequest(x.result)).map((x) => x.body + JSON.stringify(x.headers))].join('\n');
    for (const secret of [session.k!.d, session.t, stack.clientSecret, stack.cookieKeys.split(':')[1]!]) expect(visible).not.toContain(secret);
    expect(logs.length).toBeGreaterThan(3);
  });
});
