/**
 * The demo provider after login: refresh with rotation and reuse detection, revocation, RP-initiated logout, pushed authorization requests, the API audience, and its lifecycle.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import { loginAtProvider, logoutAtProvider, parseForm, sameEndpoint, TestBrowser } from '../helpers/browser.js';
import { API_AUDIENCE, CLIENT_ID, CLIENT_SECRET, type Discovery, POST_LOGOUT_REDIRECT_URI, REDIRECT_URI, type TokenResponse, basic, discovery, jwks, loginAndExchange, op, pkce, startLogin, tokenRequest } from './provider-harness.js';

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
