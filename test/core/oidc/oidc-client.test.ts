/**
 * Unit tests of the OIDC client with a frozen clock and an injected fetch. The "IdP" here is a
 * test double (fake-idp.ts: metadata and keys served from memory, tokens minted with jose).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { createOidcClient } from '../../../src/core/oidc/oidc-client.js';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { testConfig } from '../../helpers/config.js';
import { ISSUER, fakeIdp as fakeIdpWith, unsigned, type FakeIdpOptions } from './fake-idp.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const config = testConfig({ TH_ISSUER: ISSUER, TH_CLIENT_ID: 'client-1', TH_CLOCK_SKEW: '60' });

let signingKey: CryptoKey;
let publicJwk: JWK;
let otherKey: CryptoKey;
let otherJwk: JWK;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  signingKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  const other = await generateKeyPair('RS256');
  otherKey = other.privateKey;
  otherJwk = { ...(await exportJWK(other.publicKey)), kid: 'key-2', alg: 'RS256', use: 'sig' };
});

const fakeIdp = (options: FakeIdpOptions = {}) => fakeIdpWith({ ...options, defaultKeys: () => [publicJwk] });

function idToken(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key: CryptoKey = signingKey) {
  const now = Math.floor(NOW / 1000);
  return new SignJWT({ iss: ISSUER, sub: 'user-1', aud: 'client-1', iat: now, exp: now + 300, nonce: 'n-1', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'key-1', ...header })
    .sign(key);
}

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenHandlerError);
    return `${(error as TokenHandlerError).code}:${(error as TokenHandlerError).reason}`;
  }
  return 'accepted';
}

describe('validateIdToken', () => {
  const client = (idp = fakeIdp(), now = NOW) => createOidcClient(config, { fetch: idp.fetch, now: () => now });

  it('accepts a good token and returns its claims', async () => {
    const claims = await client().validateIdToken(await idToken(), { nonce: 'n-1' });
    expect(claims.sub).toBe('user-1');
  });

  it.each([
    ['wrong iss', { iss: 'https://evil.example.test' }, {}],
    ['wrong aud', { aud: 'other-client' }, {}],
    ['extra audience', { aud: ['client-1', 'other-client'] }, {}],
    ['azp of another client', { azp: 'other-client' }, {}],
    ['expired beyond the skew', { exp: Math.floor(NOW / 1000) - 61 }, {}],
    ['iat in the future', { iat: Math.floor(NOW / 1000) + 3600 }, {}],
    ['nbf in the future', { nbf: Math.floor(NOW / 1000) + 3600 }, {}],
    ['missing sub', { sub: undefined }, {}],
    ['typed as a logout token', {}, { typ: 'logout+jwt' }],
    ['typed as an access token', {}, { typ: 'at+jwt' }],
    ['nonce mismatch', { nonce: 'other' }, {}],
    ['missing nonce', { nonce: undefined }, {}],
  ])('refuses %s', async (_name, claims, header) => {
    const result = await reason(client().validateIdToken(await idToken(claims, header), { nonce: 'n-1' }));
    expect(result).toMatch(/^invalid_request:id_token_/);
  });

  it('accepts an expiry within the allowed clock skew', async () => {
    const token = await idToken({ exp: Math.floor(NOW / 1000) - 30 });
    expect(await reason(client().validateIdToken(token, { nonce: 'n-1' }))).toBe('accepted');
  });

  it('refuses alg none and HS256 keyed with the public key', async () => {
    const now = Math.floor(NOW / 1000);
    const claims = { iss: ISSUER, sub: 'user-1', aud: 'client-1', iat: now, exp: now + 300, nonce: 'n-1' };
    expect(await reason(client().validateIdToken(unsigned(claims, { alg: 'none' }), { nonce: 'n-1' }))).toBe('invalid_request:id_token_alg_not_allowed');
    const hmacKey = new TextEncoder().encode(JSON.stringify(publicJwk));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'key-1' }).sign(hmacKey);
    expect(await reason(client().validateIdToken(hs, { nonce: 'n-1' }))).toBe('invalid_request:id_token_alg_not_allowed');
  });

  it('refuses a token signed by a key that is not in the JWKS', async () => {
    const token = await idToken({}, { kid: 'key-2' }, otherKey);
    expect(await reason(client().validateIdToken(token, { nonce: 'n-1' }))).toMatch(/^invalid_request:id_token_/);
    const sameKidWrongKey = await idToken({}, {}, otherKey);
    expect(await reason(client().validateIdToken(sameKidWrongKey, { nonce: 'n-1' }))).toMatch(/^invalid_request:id_token_/);
  });

  it('refuses a refreshed ID token for another subject', async () => {
    const token = await idToken({ sub: 'user-2', nonce: undefined });
    expect(await reason(client().validateIdToken(token, { sub: 'user-1' }))).toBe('invalid_request:id_token_sub_changed');
  });

  it('refuses malformed and oversized tokens cleanly', async () => {
    for (const bad of ['', 'a.b', 'not.a.jwt', 'x'.repeat(20_000)]) {
      expect(await reason(client().validateIdToken(bad, { nonce: 'n-1' }))).toMatch(/^invalid_request:id_token_/);
    }
  });

  it('picks up a rotated key: an unknown kid makes it look at the keys again', async () => {
    let keys = [publicJwk];
    const idp = fakeIdp({ keys: () => keys });
    let now = NOW;
    const c = createOidcClient(config, { fetch: idp.fetch, now: () => now });
    expect(await reason(c.validateIdToken(await idToken(), { nonce: 'n-1' }))).toBe('accepted');
    keys = [publicJwk, otherJwk];
    now += 120_000;
    const rotated = await new SignJWT({ iss: ISSUER, sub: 'user-1', aud: 'client-1', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 300, nonce: 'n-1' })
      .setProtectedHeader({ alg: 'RS256', kid: 'key-2' })
      .sign(otherKey);
    expect(await reason(c.validateIdToken(rotated, { nonce: 'n-1' }))).toBe('accepted');
  });
});

describe('discovery', () => {
  it('is fetched once and cached, then refetched after an hour', async () => {
    const idp = fakeIdp();
    let now = NOW;
    const c = createOidcClient(config, { fetch: idp.fetch, now: () => now });
    await c.getServer();
    await c.getServer();
    await c.buildAuthorizationRequest({});
    expect(idp.counts.discovery).toBe(1);
    now += 3601_000;
    await c.getServer();
    expect(idp.counts.discovery).toBe(2);
  });

  it('is single-flight under concurrent first use', async () => {
    const idp = fakeIdp();
    const c = createOidcClient(config, { fetch: idp.fetch, now: () => NOW });
    await Promise.all(Array.from({ length: 10 }, () => c.getServer()));
    expect(idp.counts.discovery).toBe(1);
  });

  it('refuses metadata that names another issuer (RFC 8414 §3.3)', async () => {
    const c = createOidcClient(config, { fetch: fakeIdp({ metadata: { issuer: 'https://evil.example.test' } }).fetch, now: () => NOW });
    expect(await reason(c.getServer())).toMatch(/^authorization_server_error:/);
  });

  it('refuses an IdP that says it lacks PKCE S256', async () => {
    const c = createOidcClient(config, { fetch: fakeIdp({ metadata: { code_challenge_methods_supported: ['plain'] } }).fetch, now: () => NOW });
    expect(await reason(c.getServer())).toBe('authorization_server_error:discovery_no_s256');
  });

  it('does not hammer a failing IdP: failures are remembered for a few seconds', async () => {
    const idp = fakeIdp({ failDiscovery: true });
    let now = NOW;
    const c = createOidcClient(config, { fetch: idp.fetch, now: () => now });
    for (let i = 0; i < 5; i++) expect(await reason(c.getServer())).toMatch(/^authorization_server_error:/);
    expect(idp.counts.discovery).toBe(1);
    now += 6000;
    await reason(c.getServer());
    expect(idp.counts.discovery).toBe(2);
  });
});

describe('buildAuthorizationRequest', () => {
  it('uses PKCE S256 and fresh random state, nonce and verifier every time', async () => {
    const c = createOidcClient(config, { fetch: fakeIdp().fetch, now: () => NOW });
    const a = await c.buildAuthorizationRequest({});
    const b = await c.buildAuthorizationRequest({});
    const url = new URL(a.url);
    expect(url.origin + url.pathname).toBe(`${ISSUER}/authorize`);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(a.codeVerifier)));
    expect(url.searchParams.get('code_challenge')).toBe(Buffer.from(digest).toString('base64url'));
    for (const value of [a.state, a.nonce, a.codeVerifier]) expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.state).not.toBe(b.state);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.codeVerifier).not.toBe(b.codeVerifier);
    expect(url.searchParams.has('code_verifier')).toBe(false);
  });
});

describe('revokeRefreshToken and endSessionUrl', () => {
  it('never throws: an IdP whose metadata cannot be loaded is a failed revocation', async () => {
    const c = createOidcClient(config, { fetch: fakeIdp({ failDiscovery: true }).fetch, now: () => NOW });
    expect(await c.revokeRefreshToken('rt')).toEqual({ revoked: false, reason: 'revocation_failed' });
  });

  it('names the client, never a token, in the end-session URL, and has none without the endpoint', async () => {
    const withEndpoint = createOidcClient(config, { fetch: fakeIdp({ metadata: { end_session_endpoint: `${ISSUER}/logout?ui=1` } }).fetch, now: () => NOW });
    const url = new URL((await withEndpoint.endSessionUrl())!);
    expect(url.origin + url.pathname).toBe(`${ISSUER}/logout`);
    expect(Object.fromEntries(url.searchParams)).toEqual({ ui: '1', client_id: 'client-1', post_logout_redirect_uri: config.postLogoutRedirectUri });
    expect(await createOidcClient(config, { fetch: fakeIdp().fetch, now: () => NOW }).endSessionUrl()).toBeUndefined();
  });
});

describe('verifyJwt', () => {
  it('checks another kind of JWT with the same issuer, audience and keys', async () => {
    const c = createOidcClient(config, { fetch: fakeIdp().fetch, now: () => NOW });
    const profile = { kind: 'logout_token', maxLength: 16 * 1024, algorithms: ['RS256'], typ: { expected: 'logout+jwt' }, requiredClaims: ['iss', 'aud', 'iat', 'events'] } as const;
    const token = await idToken({ nonce: undefined, events: {} }, { typ: 'logout+jwt' });
    expect((await c.verifyJwt(token, profile)).payload.sub).toBe('user-1');
    expect(await reason(c.verifyJwt(await idToken({ iss: 'https://evil.example.test' }, { typ: 'logout+jwt' }), profile))).toBe('invalid_request:logout_token_err_jwt_claim_validation_failed');
  });
});
