import { createHash, randomBytes, generateKeyPairSync } from 'node:crypto';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, SignJWT, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import {
  loginAtProvider,
  logoutAtProvider,
  parseForm,
  sameEndpoint,
  TestBrowser,
} from '../helpers/browser.js';

const API_AUDIENCE = 'https://api.example.test';
const REDIRECT_URI = 'https://bff.test/callback';
const POST_LOGOUT_REDIRECT_URI = 'https://bff.test/';
const CLIENT_ID = 'bff';
const CLIENT_SECRET = 'bff-secret-bff-secret-bff-secret-0123456789';
const ACCESS_TOKEN_TTL = 120;

// A private_key_jwt client: its private key stays here, the provider gets the public JWK.
const pkjKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PKJ_PUBLIC = { ...pkjKeys.publicKey.export({ format: 'jwk' }), kid: 'pkj-1', alg: 'ES256', use: 'sig' };
const PKJ_PRIVATE = { ...pkjKeys.privateKey.export({ format: 'jwk' }), kid: 'pkj-1', alg: 'ES256' };

type Discovery = Record<string, unknown> & {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  revocation_endpoint: string;
  end_session_endpoint: string;
  pushed_authorization_request_endpoint: string;
};

type TokenResponse = {
  access_token: string;
  token_type: string;
  expires_in: number;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
};

let op: DemoProvider;
let discovery: Discovery;

beforeAll(async () => {
  op = await startDemoProvider({
    port: 0,
    accessTokenTtl: ACCESS_TOKEN_TTL,
    apiAudience: API_AUDIENCE,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
      },
      {
        client_id: 'bff-pkj',
        jwks: { keys: [PKJ_PUBLIC] },
        token_endpoint_auth_method: 'private_key_jwt',
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
      },
    ],
  });
  discovery = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as Discovery;
});

afterAll(async () => {
  await op?.close();
});

// ---------------------------------------------------------------------------------------------
// A tiny OAuth client, written out so the tests show exactly what goes over the wire.

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

function authorizationUrl(params: Record<string, string>): string {
  const url = new URL(discovery.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

function startLogin(extra: Record<string, string> = {}) {
  const { verifier, challenge } = pkce();
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const url = authorizationUrl({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile offline_access',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  });
  return { url, verifier, state, nonce };
}

const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;

async function tokenRequest(
  fields: Record<string, string>,
  auth: string | null = basic,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth) headers.authorization = auth;
  const response = await fetch(discovery.token_endpoint, {
    method: 'POST',
    headers,
    body: new URLSearchParams(fields),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function loginAndExchange(browser = new TestBrowser()) {
  const login = startLogin();
  const callback = await loginAtProvider(browser, login.url, {
    username: 'demo',
    password: 'demo',
    redirectUri: REDIRECT_URI,
  });
  const code = callback.searchParams.get('code');
  expect(code).toBeTruthy();
  const { status, body } = await tokenRequest({
    grant_type: 'authorization_code',
    code: code as string,
    redirect_uri: REDIRECT_URI,
    code_verifier: login.verifier,
  });
  expect(status, JSON.stringify(body)).toBe(200);
  return { tokens: body as unknown as TokenResponse, login, callback, browser };
}

const jwks = () => createRemoteJWKSet(new URL(discovery.jwks_uri));

// ---------------------------------------------------------------------------------------------

describe('demo provider: discovery', () => {
  it('advertises what the token handler needs', () => {
    expect(op.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(discovery.issuer).toBe(op.issuer);
    expect(discovery.authorization_response_iss_parameter_supported).toBe(true);
    expect(discovery.code_challenge_methods_supported).toEqual(['S256']);
    expect(discovery.pushed_authorization_request_endpoint).toBe(`${op.issuer}/request`);
    expect(discovery.revocation_endpoint).toBe(`${op.issuer}/token/revocation`);
    expect(discovery.end_session_endpoint).toBe(`${op.issuer}/session/end`);
    expect(discovery.token_endpoint).toBe(`${op.issuer}/token`);
    expect(discovery.grant_types_supported).toEqual(
      expect.arrayContaining(['authorization_code', 'refresh_token']),
    );
    expect(discovery.scopes_supported).toEqual(
      expect.arrayContaining(['openid', 'profile', 'email', 'offline_access']),
    );
    expect(discovery.require_pushed_authorization_requests).not.toBe(true);
  });

  it('publishes an RS256 signing key with a kid and no private parts', async () => {
    const body = (await (await fetch(discovery.jwks_uri)).json()) as { keys: Record<string, unknown>[] };
    expect(body.keys).toHaveLength(1);
    const [key] = body.keys;
    expect(key).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(typeof key?.kid).toBe('string');
    expect(key).not.toHaveProperty('d');
    expect(key).not.toHaveProperty('p');
  });
});

describe('demo provider: login through the HTML forms', () => {
  it('signs in, consents, and the code exchange gives a JWT access token for the API and an ID token', async () => {
    const browser = new TestBrowser();
    const login = startLogin();

    // The login page is a plain form: username, password, a "Sign in" button.
    const first = await browser.get(login.url);
    expect(first.status).toBe(200);
    expect(first.url).toMatch(new RegExp(`^${op.issuer}/interaction/[\\w-]+$`));
    const form = parseForm(first.body, first.url);
    expect(form?.method).toBe('POST');
    expect(form?.inputs.map((i) => i.name)).toEqual(['username', 'password']);
    expect(form?.buttons.map((b) => b.label)).toContain('Sign in');
    expect(first.body).not.toMatch(/<script/i);

    const callback = await loginAtProvider(browser, login.url, {
      username: 'demo',
      password: 'demo',
      redirectUri: REDIRECT_URI,
    });
    expect(sameEndpoint(callback.href, REDIRECT_URI)).toBe(true);
    expect(callback.searchParams.get('state')).toBe(login.state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    const code = callback.searchParams.get('code');
    expect(code).toBeTruthy();

    const { status, body } = await tokenRequest({
      grant_type: 'authorization_code',
      code: code as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: login.verifier,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    const tokens = body as unknown as TokenResponse;
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.expires_in).toBeGreaterThan(ACCESS_TOKEN_TTL - 5);
    expect(tokens.expires_in).toBeLessThanOrEqual(ACCESS_TOKEN_TTL);
    expect(typeof tokens.refresh_token).toBe('string');

    // The access token is a JWT an API can validate on its own.
    expect(decodeProtectedHeader(tokens.access_token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const at = await jwtVerify(tokens.access_token, jwks(), {
      issuer: op.issuer,
      audience: API_AUDIENCE,
      algorithms: ['RS256'],
    });
    expect(at.payload.sub).toBe('demo');
    expect(at.payload.client_id).toBe(CLIENT_ID);
    expect(String(at.payload.scope).split(' ')).toEqual(expect.arrayContaining(['openid', 'profile']));
    expect((at.payload.exp as number) - (at.payload.iat as number)).toBe(ACCESS_TOKEN_TTL);

    // The ID token is for the client, carries the nonce and the profile claims.
    const id = await jwtVerify(tokens.id_token as string, jwks(), {
      issuer: op.issuer,
      audience: CLIENT_ID,
      algorithms: ['RS256'],
    });
    expect(id.payload).toMatchObject({
      sub: 'demo',
      nonce: login.nonce,
      name: 'Demo User',
      given_name: 'Demo',
      family_name: 'User',
    });

    // The code is single-use.
    const again = await tokenRequest({
      grant_type: 'authorization_code',
      code: code as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: login.verifier,
    });
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
  });

  it('asks for consent listing the scopes, and only once per grant', async () => {
    const browser = new TestBrowser();
    const login = startLogin({ scope: 'openid profile email' });
    const page = await browser.get(login.url);
    const form = parseForm(page.body, page.url);
    const consent = await browser.submit(form!, { username: 'demo', password: 'demo' });
    expect(consent.status).toBe(200);
    expect(consent.body).toContain('Allow');
    for (const scope of ['openid', 'profile', 'email']) expect(consent.body).toContain(`<li>${scope}</li>`);
    const consentForm = parseForm(consent.body, consent.url);
    expect(consentForm?.buttons.map((b) => b.label)).toEqual(['Allow']);
    const done = await browser.submit(consentForm!, {}, { stopAt: (u) => sameEndpoint(u, REDIRECT_URI) });
    expect(done.stopped).toBe(true);
    expect(new URL(done.url).searchParams.get('code')).toBeTruthy();

    // Same browser, same OP session: straight back with a code, no form.
    const second = await browser.get(startLogin({ scope: 'openid profile email' }).url, {
      stopAt: (u) => sameEndpoint(u, REDIRECT_URI),
    });
    expect(second.stopped).toBe(true);
    expect(new URL(second.url).searchParams.get('code')).toBeTruthy();
  });

  it('re-shows the login form with an error on a wrong password, and issues no code', async () => {
    const browser = new TestBrowser();
    const login = startLogin();
    const page = await browser.get(login.url);
    const form = parseForm(page.body, page.url);
    expect(form).toBeDefined();

    const stopAt = (u: string) => sameEndpoint(u, REDIRECT_URI);
    const wrong = await browser.submit(form!, { username: 'demo', password: 'not-the-password' }, { stopAt });
    expect(wrong.stopped).toBe(false);
    expect(wrong.status).toBe(200);
    expect(wrong.body).toContain('Invalid username or password.');
    expect(parseForm(wrong.body, wrong.url)?.inputs.some((i) => i.type === 'password')).toBe(true);
    expect(wrong.visited.some((u) => u.includes('code='))).toBe(false);

    // Output is escaped: a hostile username comes back as text, not markup.
    const hostile = await browser.submit(form!, { username: '"><script>alert(1)</script>', password: 'x' }, { stopAt });
    expect(hostile.body).not.toContain('<script>alert(1)</script>');
    expect(hostile.body).toContain('&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;');

    // The helper reports the failure rather than returning a callback.
    await expect(
      loginAtProvider(new TestBrowser(), startLogin().url, {
        username: 'demo',
        password: 'wrong',
        redirectUri: REDIRECT_URI,
      }),
    ).rejects.toThrow(/sign-in failed.*Invalid username or password/);

    // The same interaction still accepts the right password afterwards.
    const ok = await browser.submit(form!, { username: 'demo', password: 'demo' }, { stopAt });
    const consentForm = parseForm(ok.body, ok.url);
    const done = await browser.submit(consentForm!, {}, { stopAt });
    expect(done.stopped).toBe(true);
    expect(new URL(done.url).searchParams.get('state')).toBe(login.state);
  });

  it('refuses an authorization request without PKCE, or with the plain method', async () => {
    const browser = new TestBrowser();
    const stopAt = (u: string) => sameEndpoint(u, REDIRECT_URI);
    const base = {
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid',
      state: 's1',
    };

    const none = await browser.get(authorizationUrl(base), { stopAt });
    expect(none.stopped).toBe(true);
    const noneUrl = new URL(none.url);
    expect(noneUrl.searchParams.get('error')).toBe('invalid_request');
    expect(noneUrl.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(noneUrl.searchParams.get('code')).toBeNull();
    expect(noneUrl.searchParams.get('state')).toBe('s1');
    expect(noneUrl.searchParams.get('iss')).toBe(op.issuer);

    const plain = await browser.get(
      authorizationUrl({ ...base, code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }),
      { stopAt },
    );
    expect(plain.stopped).toBe(true);
    expect(new URL(plain.url).searchParams.get('error')).toBe('invalid_request');
    expect(new URL(plain.url).searchParams.get('code')).toBeNull();
  });

  it('refuses a code exchange with the wrong PKCE verifier or without client authentication', async () => {
    const browser = new TestBrowser();
    const login = startLogin();
    const callback = await loginAtProvider(browser, login.url, {
      username: 'demo',
      password: 'demo',
      redirectUri: REDIRECT_URI,
    });
    const code = callback.searchParams.get('code') as string;
    const fields = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI };

    const unauthenticated = await tokenRequest({ ...fields, code_verifier: login.verifier }, null);
    expect(unauthenticated.status).toBe(400);
    expect(unauthenticated.body.error).toBe('invalid_request');
    expect(unauthenticated.body.error_description).toMatch(/no client authentication/);

    const noSecret = await tokenRequest({ ...fields, code_verifier: login.verifier, client_id: CLIENT_ID }, null);
    expect(noSecret.status).toBe(401);
    expect(noSecret.body.error).toBe('invalid_client');

    const wrongVerifier = await tokenRequest({ ...fields, code_verifier: pkce().verifier });
    expect(wrongVerifier.status).toBe(400);
    expect(wrongVerifier.body.error).toBe('invalid_grant');
  });

  it('gives the API audience when the token request names the resource explicitly', async () => {
    const browser = new TestBrowser();
    const login = startLogin({ resource: API_AUDIENCE });
    const callback = await loginAtProvider(browser, login.url, {
      username: 'demo',
      password: 'demo',
      redirectUri: REDIRECT_URI,
    });
    const { status, body } = await tokenRequest({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: login.verifier,
      resource: API_AUDIENCE,
    });
    expect(status, JSON.stringify(body)).toBe(200);
    const at = await jwtVerify(body.access_token as string, jwks(), { issuer: op.issuer, audience: API_AUDIENCE });
    expect(at.payload.sub).toBe('demo');

    // An unknown resource is refused at the authorization endpoint.
    const unknown = await browser.get(startLogin({ resource: 'https://other.example.test' }).url, {
      stopAt: (u) => sameEndpoint(u, REDIRECT_URI),
    });
    expect(unknown.stopped).toBe(true);
    expect(new URL(unknown.url).searchParams.get('error')).toBe('invalid_target');
  });

  it('authenticates a private_key_jwt client at the token endpoint', async () => {
    const browser = new TestBrowser();
    const { verifier, challenge } = pkce();
    const callback = await loginAtProvider(
      browser,
      authorizationUrl({
        response_type: 'code',
        client_id: 'bff-pkj',
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile',
        state: 'pkj',
        nonce: 'n',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      }),
      { username: 'demo', password: 'demo', redirectUri: REDIRECT_URI },
    );
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'pkj-1' })
      .setIssuer('bff-pkj')
      .setSubject('bff-pkj')
      .setAudience(op.issuer)
      .setJti(randomBytes(16).toString('base64url'))
      .setIssuedAt()
      .setExpirationTime('1m')
      .sign(await importJWK(PKJ_PRIVATE, 'ES256'));
    const { status, body } = await tokenRequest(
      {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') as string,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      },
      null,
    );
    expect(status, JSON.stringify(body)).toBe(200);
    const id = await jwtVerify(body.id_token as string, jwks(), { issuer: op.issuer, audience: 'bff-pkj' });
    expect(id.payload.sub).toBe('demo');
  });
});

describe('demo provider: refresh and revocation', () => {
  it('rotates the refresh token on every use; the old one then fails with invalid_grant', async () => {
    const { tokens } = await loginAndExchange();
    const rt1 = tokens.refresh_token as string;
    expect(rt1).toBeTruthy();

    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: rt1 });
    expect(refreshed.status, JSON.stringify(refreshed.body)).toBe(200);
    const rt2 = refreshed.body.refresh_token as string;
    expect(rt2).toBeTruthy();
    expect(rt2).not.toBe(rt1);
    expect(refreshed.body.id_token).toBeTruthy();
    // The refreshed access token is a JWT for the API too (no `resource` was sent).
    const at = await jwtVerify(refreshed.body.access_token as string, jwks(), {
      issuer: op.issuer,
      audience: API_AUDIENCE,
    });
    expect(at.payload.sub).toBe('demo');
    expect(refreshed.body.access_token).not.toBe(tokens.access_token);

    // The newest refresh token works...
    const refreshedAgain = await tokenRequest({ grant_type: 'refresh_token', refresh_token: rt2 });
    expect(refreshedAgain.status).toBe(200);
    const rt3 = refreshedAgain.body.refresh_token as string;

    // ...a consumed one does not, and its reuse revokes the whole grant (reuse detection).
    const reused = await tokenRequest({ grant_type: 'refresh_token', refresh_token: rt1 });
    expect(reused.status).toBe(400);
    expect(reused.body.error).toBe('invalid_grant');
    const afterReuse = await tokenRequest({ grant_type: 'refresh_token', refresh_token: rt3 });
    expect(afterReuse.status).toBe(400);
    expect(afterReuse.body.error).toBe('invalid_grant');
  });

  it('a revoked refresh token no longer works', async () => {
    const { tokens } = await loginAndExchange();
    const response = await fetch(discovery.revocation_endpoint, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.refresh_token as string, token_type_hint: 'refresh_token' }),
    });
    expect(response.status).toBe(200);

    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string });
    expect(refreshed.status).toBe(400);
    expect(refreshed.body.error).toBe('invalid_grant');
  });

  it('refuses a refresh by another client', async () => {
    const { tokens } = await loginAndExchange();
    const refreshed = await tokenRequest(
      { grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string },
      `Basic ${Buffer.from(`${CLIENT_ID}:wrong-secret`).toString('base64')}`,
    );
    expect(refreshed.status).toBe(401);
    expect(refreshed.body.error).toBe('invalid_client');
  });
});

describe('demo provider: RP-initiated logout', () => {
  it('confirms through a plain form, returns to the post-logout redirect, and ends the OP session', async () => {
    const { tokens, browser } = await loginAndExchange();

    const endSession = new URL(discovery.end_session_endpoint);
    endSession.searchParams.set('id_token_hint', tokens.id_token as string);
    endSession.searchParams.set('client_id', CLIENT_ID);
    endSession.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_REDIRECT_URI);
    endSession.searchParams.set('state', 'bye');

    // The confirmation step is a form with a hidden xsrf field and a logout=yes button.
    const confirm = await browser.get(endSession);
    expect(confirm.status).toBe(200);
    const form = parseForm(confirm.body, confirm.url);
    expect(form?.method).toBe('POST');
    expect(form?.action).toBe(`${op.issuer}/session/end/confirm`);
    expect(Object.keys(form?.hidden ?? {})).toContain('xsrf');
    expect(form?.buttons.find((b) => b.name === 'logout')?.value).toBe('yes');

    const back = await logoutAtProvider(browser, endSession, { postLogoutRedirectUri: POST_LOGOUT_REDIRECT_URI });
    expect(sameEndpoint(back.href, POST_LOGOUT_REDIRECT_URI)).toBe(true);
    expect(back.searchParams.get('state')).toBe('bye');

    // The OP session is gone: a silent login now needs the user.
    const silent = await browser.get(startLogin({ prompt: 'none' }).url, {
      stopAt: (u) => sameEndpoint(u, REDIRECT_URI),
    });
    expect(silent.stopped).toBe(true);
    expect(new URL(silent.url).searchParams.get('error')).toBe('login_required');

    // And the session-bound refresh token died with it.
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token as string });
    expect(refreshed.status).toBe(400);
    expect(refreshed.body.error).toBe('invalid_grant');
  });

  it('returns to the post-logout redirect even from a browser without an OP session', async () => {
    const endSession = new URL(discovery.end_session_endpoint);
    endSession.searchParams.set('client_id', CLIENT_ID);
    endSession.searchParams.set('post_logout_redirect_uri', POST_LOGOUT_REDIRECT_URI);
    endSession.searchParams.set('state', 'no-session');
    const back = await logoutAtProvider(new TestBrowser(), endSession, {
      postLogoutRedirectUri: POST_LOGOUT_REDIRECT_URI,
    });
    expect(back.href).toBe(`${POST_LOGOUT_REDIRECT_URI}?state=no-session`);
  });

  it('refuses a post-logout redirect URI that is not registered', async () => {
    const { tokens, browser } = await loginAndExchange();
    const endSession = new URL(discovery.end_session_endpoint);
    endSession.searchParams.set('id_token_hint', tokens.id_token as string);
    endSession.searchParams.set('post_logout_redirect_uri', 'https://evil.example/');
    const response = await browser.get(endSession);
    expect(response.status).toBe(400);
    expect(response.body).toContain('post_logout_redirect_uri not registered');
    expect(response.body).not.toContain('<script');
  });
});

describe('demo provider: pushed authorization requests', () => {
  let parOp: DemoProvider;

  beforeAll(async () => {
    parOp = await startDemoProvider({
      port: 0,
      apiAudience: API_AUDIENCE,
      requirePar: true,
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          token_endpoint_auth_method: 'client_secret_post',
          redirect_uris: [REDIRECT_URI],
          post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
        },
      ],
    });
  });

  afterAll(async () => {
    await parOp?.close();
  });

  it('requires PAR when asked to, and completes a login through it', async () => {
    const meta = (await (await fetch(`${parOp.issuer}/.well-known/openid-configuration`)).json()) as Discovery;
    expect(meta.require_pushed_authorization_requests).toBe(true);
    expect(parOp.issuer).not.toBe(op.issuer);

    const { verifier, challenge } = pkce();
    const params = {
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: 'openid profile offline_access',
      state: 'par-state',
      nonce: 'par-nonce',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    };

    // A plain authorization request is refused.
    const browser = new TestBrowser();
    const direct = new URL(meta.authorization_endpoint);
    for (const [k, v] of Object.entries(params)) direct.searchParams.set(k, v);
    const refused = await browser.get(direct, { stopAt: (u) => sameEndpoint(u, REDIRECT_URI) });
    expect(refused.stopped).toBe(true);
    const refusedUrl = new URL(refused.url);
    expect(refusedUrl.searchParams.get('error')).toBe('invalid_request');
    expect(refusedUrl.searchParams.get('error_description')).toMatch(/Pushed Authorization Request must be used/);
    expect(refusedUrl.searchParams.get('code')).toBeNull();

    // Pushed (with client authentication), then only client_id + request_uri in the URL.
    const pushed = await fetch(meta.pushed_authorization_request_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...params, client_secret: CLIENT_SECRET }),
    });
    expect(pushed.status).toBe(201);
    const { request_uri } = (await pushed.json()) as { request_uri: string };
    expect(request_uri).toMatch(/^urn:ietf:params:oauth:request_uri:/);

    const url = new URL(meta.authorization_endpoint);
    url.searchParams.set('client_id', CLIENT_ID);
    url.searchParams.set('request_uri', request_uri);
    const callback = await loginAtProvider(browser, url, {
      username: 'demo',
      password: 'demo',
      redirectUri: REDIRECT_URI,
    });
    expect(callback.searchParams.get('state')).toBe('par-state');
    expect(callback.searchParams.get('iss')).toBe(parOp.issuer);

    const response = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') as string,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
      }),
    });
    const tokens = (await response.json()) as TokenResponse;
    expect(response.status, JSON.stringify(tokens)).toBe(200);
    expect(tokens.refresh_token).toBeTruthy();
    const at = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(meta.jwks_uri)), {
      issuer: parOp.issuer,
      audience: API_AUDIENCE,
    });
    expect(at.payload.sub).toBe('demo');
    // The access-token lifetime defaults to 300 seconds.
    expect(tokens.expires_in).toBeGreaterThan(290);
    expect(tokens.expires_in).toBeLessThanOrEqual(300);
  });
});

describe('demo provider: without an API audience', () => {
  it('issues opaque access tokens and still puts the profile claims in the ID token', async () => {
    const plainOp = await startDemoProvider({
      port: 0,
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          token_endpoint_auth_method: 'client_secret_basic',
          redirect_uris: [REDIRECT_URI],
          post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
        },
      ],
    });
    try {
      const { verifier, challenge } = pkce();
      const authorize = new URL(`${plainOp.issuer}/auth`);
      for (const [k, v] of Object.entries({
        response_type: 'code',
        client_id: CLIENT_ID,
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile email',
        state: 's',
        nonce: 'n',
        code_challenge: challenge,
        code_challenge_method: 'S256',
      })) {
        authorize.searchParams.set(k, v);
      }
      const callback = await loginAtProvider(new TestBrowser(), authorize, {
        username: 'demo',
        password: 'demo',
        redirectUri: REDIRECT_URI,
      });
      const response = await fetch(`${plainOp.issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: callback.searchParams.get('code') as string,
          redirect_uri: REDIRECT_URI,
          code_verifier: verifier,
        }),
      });
      const tokens = (await response.json()) as TokenResponse;
      expect(response.status, JSON.stringify(tokens)).toBe(200);
      expect(tokens.access_token.split('.')).toHaveLength(1);
      expect(tokens.refresh_token).toBeTruthy();
      const id = await jwtVerify(tokens.id_token as string, createRemoteJWKSet(new URL(`${plainOp.issuer}/jwks`)), {
        issuer: plainOp.issuer,
        audience: CLIENT_ID,
      });
      expect(id.payload).toMatchObject({
        sub: 'demo',
        name: 'Demo User',
        email: 'demo@example.com',
        email_verified: true,
      });
    } finally {
      await plainOp.close();
    }
  });
});

describe('demo provider: lifecycle', () => {
  it('close() stops listening', async () => {
    const temp = await startDemoProvider({ port: 0, clients: [] });
    const ok = await fetch(`${temp.issuer}/.well-known/openid-configuration`);
    expect(ok.status).toBe(200);
    await temp.close();
    await expect(fetch(`${temp.issuer}/.well-known/openid-configuration`)).rejects.toThrow();
  });
});
