/**
 * The general JWT validator, under a logout-token shaped profile (OIDC Back-Channel Logout 1.0
 * §2.4/§2.6: typ logout+jwt, an `events` claim, no `nonce`, `sub` or `sid`), which the back-channel
 * logout endpoint will use; and the ID token's typ rule through the same validator. Keys are made
 * here; the IdP's metadata and key set come from the fake-idp test double through the real
 * discovery and size-limited fetch.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { TokenHandlerError } from '../../../src/core/errors.js';
import { createDiscovery } from '../../../src/core/oidc/discovery.js';
import { idTokenProfile } from '../../../src/core/oidc/id-token.js';
import { createIdpFetch } from '../../../src/core/oidc/idp-fetch.js';
import { createJwtValidator, type JwtProfile, type JwtValidator } from '../../../src/core/oidc/jwt-validation.js';
import { testConfig } from '../../helpers/config.js';
import { ISSUER, fakeIdp, unsigned, type FakeIdp, type FakeIdpOptions } from './fake-idp.js';

const NOW = Date.UTC(2026, 5, 1, 12, 0, 0);
const SECONDS = Math.floor(NOW / 1000);
const CLIENT_ID = 'client-1';
const SKEW = 60;
const config = testConfig({ TH_ISSUER: ISSUER, TH_CLIENT_ID: CLIENT_ID, TH_CLOCK_SKEW: String(SKEW) });
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token profile as the back-channel logout endpoint will declare it. */
const LOGOUT: JwtProfile = {
  kind: 'logout_token',
  maxLength: 16 * 1024,
  algorithms: ['ES256', 'RS256'],
  typ: { expected: 'logout+jwt' },
  requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'events'],
  forbiddenClaims: ['nonce'],
  oneOfClaims: ['sub', 'sid'],
};

let signing: CryptoKey;
let signingJwk: JWK;
let other: CryptoKey;
let otherJwk: JWK;

beforeAll(async () => {
  const a = await generateKeyPair('ES256');
  signing = a.privateKey;
  signingJwk = { ...(await exportJWK(a.publicKey)), kid: 'es-1', alg: 'ES256', use: 'sig' };
  const b = await generateKeyPair('ES256');
  other = b.privateKey;
  otherJwk = { ...(await exportJWK(b.publicKey)), kid: 'es-2', alg: 'ES256', use: 'sig' };
});

function setup(options: FakeIdpOptions = {}, clock = { now: NOW }): { validator: JwtValidator; idp: FakeIdp; clock: { now: number } } {
  const idp = fakeIdp({ defaultKeys: () => [signingJwk], ...options });
  const now = () => clock.now;
  const discovery = createDiscovery(config, { idp: createIdpFetch(config, idp.fetch), now });
  const validator = createJwtValidator({ issuer: ISSUER, audience: CLIENT_ID, clockSkew: SKEW, now, discovery });
  return { validator, idp, clock };
}

function logoutClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: CLIENT_ID,
    iat: SECONDS,
    exp: SECONDS + 120,
    jti: 'jti-1',
    sub: 'user-1',
    sid: 'sid-1',
    events: { [BACKCHANNEL_EVENT]: {} },
    ...overrides,
  };
}

function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}, key: CryptoKey | Uint8Array = signing): Promise<string> {
  // Claims set to undefined are left out, so a test can drop a required one.
  const present = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined));
  return new SignJWT(present).setProtectedHeader({ alg: 'ES256', kid: 'es-1', typ: 'logout+jwt', ...header } as never).sign(key);
}

/** `code:reason` of the refusal, or `accepted`. */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TokenHandlerError);
    return `${(error as TokenHandlerError).code}:${(error as TokenHandlerError).reason}`;
  }
  return 'accepted';
}

describe('a logout-token profile', () => {
  it('accepts a good logout token and returns its header and claims', async () => {
    const { validator } = setup();
    const { header, payload } = await validator.verify(await sign(logoutClaims()), LOGOUT);
    expect(header.typ).toBe('logout+jwt');
    expect(payload['sid']).toBe('sid-1');
    expect(payload['events']).toEqual({ [BACKCHANNEL_EVENT]: {} });
  });

  it.each([
    ['only sid', { sub: undefined }, {}],
    ['only sub', { sid: undefined }, {}],
    ['typ with the media type prefix, in odd case (RFC 7515 §4.1.9)', {}, { typ: 'application/Logout+JWT' }],
    ['an exp just past, within the clock skew', { exp: SECONDS - 30 }, {}],
    ['an aud array holding only us', { aud: [CLIENT_ID] }, {}],
  ])('accepts %s', async (_name, claims, header) => {
    const { validator } = setup();
    expect(await outcome(validator.verify(await sign(logoutClaims(claims), header), LOGOUT))).toBe('accepted');
  });

  it.each([
    // The typ rule: an ID token or an untyped JWT is never a logout token.
    ['typed as an ID token (JWT)', {}, { typ: 'JWT' }, 'logout_token_wrong_typ'],
    ['without typ', {}, { typ: undefined }, 'logout_token_wrong_typ'],
    ['typed as an access token', {}, { typ: 'at+jwt' }, 'logout_token_wrong_typ'],
    // The claims its kind needs, and the one it must not have.
    ['without events', { events: undefined }, {}, 'logout_token_err_jwt_claim_validation_failed'],
    ['without jti', { jti: undefined }, {}, 'logout_token_err_jwt_claim_validation_failed'],
    ['with a nonce (it would pass for an ID token)', { nonce: 'n-1' }, {}, 'logout_token_forbidden_claim'],
    ['with neither sub nor sid', { sub: undefined, sid: undefined }, {}, 'logout_token_missing_claim'],
    ['with an empty sid and no sub', { sub: undefined, sid: '' }, {}, 'logout_token_missing_claim'],
    // iss, aud and the clock.
    ['from another issuer', { iss: 'https://evil.example.test' }, {}, 'logout_token_err_jwt_claim_validation_failed'],
    ['for another client', { aud: 'other-client' }, {}, 'logout_token_err_jwt_claim_validation_failed'],
    ['also for another audience', { aud: [CLIENT_ID, 'other-client'] }, {}, 'logout_token_extra_audience'],
    ['expired beyond the skew', { exp: SECONDS - SKEW - 1 }, {}, 'logout_token_err_jwt_expired'],
    ['not valid yet (nbf)', { nbf: SECONDS + 3600 }, {}, 'logout_token_err_jwt_claim_validation_failed'],
    ['issued in the future', { iat: SECONDS + 3600, exp: SECONDS + 7200 }, {}, 'logout_token_iat_in_future'],
  ])('refuses a token %s', async (_name, claims, header, reason) => {
    const { validator } = setup();
    const token = await sign(logoutClaims(claims), header);
    expect(await outcome(validator.verify(token, LOGOUT))).toBe(`invalid_request:${reason}`);
  });

  it('answers a refusal with the contract error and a bland detail naming the kind', async () => {
    const { validator } = setup();
    const error = await validator.verify(await sign(logoutClaims({ nonce: 'n' })), LOGOUT).catch((e: unknown) => e as TokenHandlerError);
    expect(error).toMatchObject({ status: 400, code: 'invalid_request', wireCode: 'invalid_request', detail: 'The logout token is invalid' });
  });

  it('refuses alg none, and HS256 keyed with the public key, before any key is fetched', async () => {
    const { validator, idp } = setup();
    expect(await outcome(validator.verify(unsigned(logoutClaims(), { alg: 'none', typ: 'logout+jwt' }), LOGOUT))).toBe('invalid_request:logout_token_alg_not_allowed');
    const hs = await sign(logoutClaims(), { alg: 'HS256' }, new TextEncoder().encode(JSON.stringify(signingJwk)));
    expect(await outcome(validator.verify(hs, LOGOUT))).toBe('invalid_request:logout_token_alg_not_allowed');
    // An algorithm the IdP uses but this profile does not list.
    const rs = await generateKeyPair('RS256');
    expect(await outcome(validator.verify(await sign(logoutClaims(), { alg: 'RS256' }, rs.privateKey), { ...LOGOUT, algorithms: ['ES256'] }))).toBe('invalid_request:logout_token_alg_not_allowed');
    expect(idp.counts.jwks).toBe(0);
  });

  it('refuses a token signed by another key under the published kid', async () => {
    const { validator } = setup();
    expect(await outcome(validator.verify(await sign(logoutClaims(), {}, other), LOGOUT))).toBe('invalid_request:logout_token_err_jws_signature_verification_failed');
  });

  it('refuses oversized and malformed tokens without fetching anything', async () => {
    const { validator, idp } = setup();
    expect(await outcome(validator.verify(await sign(logoutClaims({ padding: 'x'.repeat(20_000) })), LOGOUT))).toBe('invalid_request:logout_token_too_large');
    for (const bad of ['', 'a.b', 'not.a.jwt']) expect(await outcome(validator.verify(bad, LOGOUT))).toBe('invalid_request:logout_token_malformed');
    expect(idp.counts.discovery).toBe(0);
  });
});

describe('the key set', () => {
  it('an unknown kid makes it fetch the metadata and keys again, once, and then picks up a rotated key', async () => {
    let keys = [signingJwk];
    const { validator, idp, clock } = setup({ keys: () => keys });
    expect(await outcome(validator.verify(await sign(logoutClaims()), LOGOUT))).toBe('accepted');
    expect(idp.counts).toEqual({ discovery: 1, jwks: 1 });
    keys = [signingJwk, otherJwk];
    clock.now += 120_000;
    const rotated = await sign(logoutClaims({ iat: SECONDS + 120, exp: SECONDS + 240 }), { kid: 'es-2' }, other);
    expect(await outcome(validator.verify(rotated, LOGOUT))).toBe('accepted');
    expect(idp.counts).toEqual({ discovery: 2, jwks: 2 });
  });

  it('an unknown kid that stays unknown is refused after one refetch, not a loop', async () => {
    const { validator, idp, clock } = setup();
    await validator.verify(await sign(logoutClaims()), LOGOUT);
    clock.now += 120_000;
    const stranger = await sign(logoutClaims({ iat: SECONDS + 120, exp: SECONDS + 240 }), { kid: 'es-2' }, other);
    expect(await outcome(validator.verify(stranger, LOGOUT))).toBe('invalid_request:logout_token_err_jwks_no_matching_key');
    expect(idp.counts).toEqual({ discovery: 2, jwks: 2 });
  });

  it('the refetch is rate-limited: within a minute of the last fetch an unknown kid is refused at once', async () => {
    const { validator, idp, clock } = setup();
    await validator.verify(await sign(logoutClaims()), LOGOUT);
    clock.now += 10_000;
    const stranger = await sign(logoutClaims(), { kid: 'es-2' }, other);
    expect(await outcome(validator.verify(stranger, LOGOUT))).toBe('invalid_request:logout_token_err_jwks_no_matching_key');
    expect(idp.counts.discovery).toBe(1);
  });

  it.each([
    ['answers 500', () => new Response('oops', { status: 500 })],
    ['answers HTML', () => new Response('<html></html>', { headers: { 'content-type': 'text/html' } })],
    ['answers a malformed key set', () => Response.json({ keys: 'none' })],
    ['cannot be reached', () => { throw new TypeError('fetch failed'); }],
  ])('a key set that %s is the IdP failing: 502 jwks_unavailable, not a bad token', async (_name, jwks) => {
    const { validator } = setup({ jwks });
    const error = await validator.verify(await sign(logoutClaims()), LOGOUT).catch((e: unknown) => e as TokenHandlerError);
    expect(error).toMatchObject({ status: 502, code: 'authorization_server_error', reason: 'jwks_unavailable' });
  });
});

describe('the ID token profile through the same validator', () => {
  const ID = idTokenProfile(config);
  const idClaims = (overrides: Record<string, unknown> = {}) => ({ iss: ISSUER, sub: 'user-1', aud: CLIENT_ID, iat: SECONDS, exp: SECONDS + 300, nonce: 'n-1', ...overrides });

  it.each([['JWT'], ['jwt'], [undefined]])('accepts typ %s', async (typ) => {
    const { validator } = setup();
    expect(await outcome(validator.verify(await sign(idClaims(), { typ }), ID))).toBe('accepted');
  });

  it.each([['logout+jwt'], ['application/logout+jwt'], ['AT+JWT'], ['token-introspection+jwt']])('refuses a foreign typ %s', async (typ) => {
    const { validator } = setup();
    expect(await outcome(validator.verify(await sign(idClaims(), { typ }), ID))).toBe('invalid_request:id_token_wrong_typ');
  });

  it('a logout token is not an ID token, and an ID token is not a logout token', async () => {
    const { validator } = setup();
    expect(await outcome(validator.verify(await sign(logoutClaims()), ID))).toBe('invalid_request:id_token_wrong_typ');
    expect(await outcome(validator.verify(await sign(idClaims(), { typ: 'JWT' }), LOGOUT))).toBe('invalid_request:logout_token_wrong_typ');
  });
});
