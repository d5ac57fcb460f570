/**
 * The demo provider as a real OpenID provider: its discovery document, and a login through its HTML forms with every rule a client relies on.
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, importJWK } from 'jose';
import { loginAtProvider, parseForm, sameEndpoint, TestBrowser } from '../helpers/browser.js';
import { ACCESS_TOKEN_TTL, API_AUDIENCE, CLIENT_ID, PKJ_PRIVATE, REDIRECT_URI, type TokenResponse, authorizationUrl, discovery, jwks, op, pkce, startLogin, tokenRequest } from './provider-harness.js';

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
