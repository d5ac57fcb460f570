/**
 * The demo provider with opaque access tokens and the example API in its phantom token mode: the
 * provider introspects (RFC 7662) and answers with a signed JWT (RFC 9701) when asked, and the API
 * accepts only such a JWT, for an active token meant for it, addressed to the token handler's client
 * id, and refuses everything else, the opaque token itself first. What oidc-provider will not sign
 * (an inactive answer that still names a subject and expiry, a JWT of another type) comes from the
 * hostile-provider TEST DOUBLE.
 */
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startExampleApi, type ExampleApi } from '../../examples/api.js';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import { loginAtProvider, TestBrowser } from '../helpers/browser.js';
import { HOSTILE_API_AUDIENCE, startHostileProvider, type HostileProvider } from '../attack/hostile-provider.js';

const API_AUDIENCE = 'https://api.example.test';
const REDIRECT_URI = 'https://bff.test/callback';
const CLIENT_ID = 'bff';
const CLIENT_SECRET = 'bff-secret-bff-secret-bff-secret-0123456789';
const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;

let op: DemoProvider;
let api: ExampleApi;
let tokens: { access_token: string; id_token: string };
let introspectionEndpoint: string;

async function fetchTokens() {
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${op.issuer}/auth`);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile offline_access',
    state: randomBytes(8).toString('base64url'),
    nonce: randomBytes(8).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(k, v);
  }
  const callback = await loginAtProvider(new TestBrowser(), authorize, { username: 'demo', password: 'demo', redirectUri: REDIRECT_URI });
  const response = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as typeof tokens;
}

async function introspect(token: string, accept = 'application/token-introspection+jwt') {
  return fetch(introspectionEndpoint, {
    method: 'POST',
    headers: { authorization: basic, accept, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
  });
}

beforeAll(async () => {
  op = await startDemoProvider({
    port: 0,
    apiAudience: API_AUDIENCE,
    opaqueAccessTokens: true,
    clients: [
      { client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token_endpoint_auth_method: 'client_secret_basic', redirect_uris: [REDIRECT_URI], post_logout_redirect_uris: ['https://bff.test/'] },
    ],
  });
  const discovery = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as { introspection_endpoint: string };
  introspectionEndpoint = discovery.introspection_endpoint;
  api = await startExampleApi({ port: 0, issuer: op.issuer, audience: API_AUDIENCE, introspectionAudience: CLIENT_ID });
  tokens = await fetchTokens();
});

afterAll(async () => {
  await api?.close();
  await op?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

const whoami = (authorization: string, target: ExampleApi = api) => fetch(`${target.url}/api/whoami`, { headers: { authorization } });

describe('the demo provider with opaque access tokens', () => {
  it('issues an opaque access token and introspects it into a signed JWT for the client', async () => {
    expect(tokens.access_token.split('.')).toHaveLength(1);
    const response = await introspect(tokens.access_token);
    expect(response.headers.get('content-type')).toMatch(/^application\/token-introspection\+jwt/);
    const jwt = await response.text();
    expect(decodeProtectedHeader(jwt)).toMatchObject({ typ: 'token-introspection+jwt', alg: 'RS256' });
    expect(decodeJwt(jwt)).toMatchObject({
      iss: op.issuer,
      aud: CLIENT_ID,
      token_introspection: { active: true, sub: 'demo', client_id: CLIENT_ID, aud: API_AUDIENCE, iss: op.issuer },
    });
    // Plain RFC 7662 JSON for a client that asks for it, and inactive for a token it never issued.
    expect(await (await introspect(tokens.access_token, 'application/json')).json()).toMatchObject({ active: true, sub: 'demo' });
    expect(decodeJwt(await (await introspect('not-a-token-it-issued-0123456789')).text())['token_introspection']).toEqual({ active: false });
  });
});

describe('the example API with introspectionAudience (phantom tokens)', () => {
  let introspected: string;
  beforeAll(async () => {
    introspected = await (await introspect(tokens.access_token)).text();
  });

  it('answers 200 with the claims of the token the JWT describes', async () => {
    const response = await whoami(`Bearer ${introspected}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { sub: string; scope: string; exp: number };
    expect(body.sub).toBe('demo');
    expect(body.scope.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile']));
    expect(body.exp).toBe((decodeJwt(introspected)['token_introspection'] as { exp: number }).exp);
  });

  it('refuses the opaque token, the ID token, and an introspection JWT saying inactive', async () => {
    expect((await whoami(`Bearer ${tokens.access_token}`)).status).toBe(401);
    // Right issuer, key and aud (the client), but no introspection response.
    expect((await whoami(`Bearer ${tokens.id_token}`)).status).toBe(401);
    const inactive = await (await introspect('not-a-token-it-issued-0123456789')).text();
    expect((await whoami(`Bearer ${inactive}`)).status).toBe(401);
  });

  it('refuses a JWT for another client or describing a token for another API', async () => {
    const otherClient = await startExampleApi({ port: 0, issuer: op.issuer, audience: API_AUDIENCE, introspectionAudience: 'another-client' });
    const otherApi = await startExampleApi({ port: 0, issuer: op.issuer, audience: 'https://other-api.example.test', introspectionAudience: CLIENT_ID });
    try {
      expect((await whoami(`Bearer ${introspected}`, otherClient)).status).toBe(401);
      expect((await whoami(`Bearer ${introspected}`, otherApi)).status).toBe(401);
    } finally {
      await otherClient.close();
      await otherApi.close();
    }
  });

  it('refuses a look-alike signed by a key the provider never published', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await new SignJWT({ token_introspection: { active: true, sub: 'demo', aud: API_AUDIENCE, iss: op.issuer, exp: Math.floor(Date.now() / 1000) + 300 } })
      .setProtectedHeader({ alg: 'RS256', kid: decodeProtectedHeader(introspected).kid!, typ: 'token-introspection+jwt' })
      .setIssuer(op.issuer)
      .setAudience(CLIENT_ID)
      .setIssuedAt()
      .sign(privateKey);
    expect((await whoami(`Bearer ${forged}`)).status).toBe(401);
  });

  it('refuses it once the token it describes has expired', async () => {
    expect((await whoami(`Bearer ${introspected}`)).status).toBe(200);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60 * 60 * 1000);
    expect((await whoami(`Bearer ${introspected}`)).status).toBe(401);
  });
});

describe('the example API against introspection JWTs no real provider signs (hostile-provider TEST DOUBLE)', () => {
  let hostile: HostileProvider;
  let strictApi: ExampleApi;
  let accessToken: string;

  beforeAll(async () => {
    hostile = await startHostileProvider({ clientId: CLIENT_ID, redirectUri: REDIRECT_URI });
    strictApi = await startExampleApi({ port: 0, issuer: hostile.issuer, audience: HOSTILE_API_AUDIENCE, introspectionAudience: CLIENT_ID });
    const verifier = randomBytes(32).toString('base64url');
    const query = new URLSearchParams({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid',
      state: 'state-1',
      nonce: 'nonce-1',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const redirect = await fetch(`${hostile.issuer}/authorize?${query}`, { redirect: 'manual' });
    const code = new URL(redirect.headers.get('location')!).searchParams.get('code')!;
    const token = await fetch(`${hostile.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${hostile.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI, code_verifier: verifier }),
    });
    accessToken = ((await token.json()) as { access_token: string }).access_token;
  });
  afterAll(async () => {
    await strictApi?.close();
    await hostile?.close();
  });

  const signed = async () => {
    const response = await fetch(`${hostile.issuer}/introspect`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${hostile.clientSecret}`).toString('base64')}`, accept: 'application/token-introspection+jwt', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: accessToken, token_type_hint: 'access_token' }),
    });
    return response.text();
  };

  it("accepts the double's well-formed answer (so each refusal below is for its one change)", async () => {
    hostile.reset();
    expect((await whoami(`Bearer ${await signed()}`, strictApi)).status).toBe(200);
  });

  it('refuses active: false even with a subject and an expiry', async () => {
    hostile.mutators = { introspection: (claims) => void ((claims['token_introspection'] as Record<string, unknown>)['active'] = false) };
    expect((await whoami(`Bearer ${await signed()}`, strictApi)).status).toBe(401);
  });

  it('refuses a JWT typed other than token-introspection+jwt', async () => {
    hostile.mutators = { introspection: (_claims, header) => void (header['typ'] = 'JWT') };
    expect((await whoami(`Bearer ${await signed()}`, strictApi)).status).toBe(401);
  });
});
