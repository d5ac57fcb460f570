/**
 * The demo provider (examples/provider.ts) started per test file, with a confidential client (a
 * secret) and a private_key_jwt client, and the small helpers its suites share: a PKCE pair, an
 * authorization URL, a login through its HTML forms, the token request. Importing it registers
 * the hooks that start and stop the provider, for the importing file.
 */
import { createHash, randomBytes, generateKeyPairSync } from 'node:crypto';
import { createRemoteJWKSet } from 'jose';
import { afterAll, beforeAll, expect } from 'vitest';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import { loginAtProvider, TestBrowser } from '../helpers/browser.js';

export const API_AUDIENCE = 'https://api.example.test';
export const REDIRECT_URI = 'https://bff.test/callback';
export const POST_LOGOUT_REDIRECT_URI = 'https://bff.test/';
export const CLIENT_ID = 'bff';
export const CLIENT_SECRET = 'bff-secret-bff-secret-bff-secret-0123456789';
export const ACCESS_TOKEN_TTL = 120;

// A private_key_jwt client: its private key stays here, the provider gets the public JWK.
export const pkjKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const PKJ_PUBLIC = { ...pkjKeys.publicKey.export({ format: 'jwk' }), kid: 'pkj-1', alg: 'ES256', use: 'sig' };
export const PKJ_PRIVATE = { ...pkjKeys.privateKey.export({ format: 'jwk' }), kid: 'pkj-1', alg: 'ES256' };

export type Discovery = Record<string, unknown> & {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  revocation_endpoint: string;
  end_session_endpoint: string;
  pushed_authorization_request_endpoint: string;
};

export type TokenResponse = {
  access_token: string;
  token_type: string;
  expires_in: number;
  id_token?: string;
  refresh_token?: string;
  scope?: string;
};

export let op: DemoProvider;
export let discovery: Discovery;

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

export function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  return { verifier, challenge };
}

export function authorizationUrl(params: Record<string, string>): string {
  const url = new URL(discovery.authorization_endpoint);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

export function startLogin(extra: Record<string, string> = {}) {
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

export const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;

export async function tokenRequest(
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

export async function loginAndExchange(browser = new TestBrowser()) {
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

export const jwks = () => createRemoteJWKSet(new URL(discovery.jwks_uri));
