/**
 * The example API's DPoP check (examples/dpop-verifier.ts), one rule of RFC 9449 §4.3 and §7.1 at a
 * time: a good proof passes, and each way of breaking it is refused with its own reason.
 */
import { createHash } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDpopVerifier, type DpopProofCheck } from '../../examples/dpop-verifier.js';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);
const URL_CALLED = 'http://127.0.0.1:8082/api/whoami';
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.signature';

let key: { privateKey: CryptoKey; publicKey: CryptoKey };
let jwk: JWK;
let jkt: string;
let other: { privateKey: CryptoKey; publicKey: CryptoKey };

beforeAll(async () => {
  key = await generateKeyPair('ES256', { extractable: true });
  other = await generateKeyPair('ES256');
  jwk = await exportJWK(key.publicKey);
  jkt = await calculateJwkThumbprint(jwk);
});

let counter = 0;
const ath = (token: string) => createHash('sha256').update(token).digest('base64url');

/** A proof as the token handler makes it, with `change` applied to its claims and header. */
async function proof(change: { claims?: Record<string, unknown>; header?: Record<string, unknown>; signWith?: CryptoKey } = {}): Promise<string> {
  const claims = { jti: `jti-${++counter}`, htm: 'GET', htu: URL_CALLED, iat: NOW / 1000, ath: ath(TOKEN), ...change.claims };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete (claims as Record<string, unknown>)[k];
  return new SignJWT(claims).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk, ...change.header } as never).sign(change.signWith ?? key.privateKey);
}

const request = (dpop: string | null, more: Partial<DpopProofCheck> = {}): DpopProofCheck => ({ method: 'GET', url: URL_CALLED, proof: dpop, accessToken: TOKEN, jkt, ...more });
const verifier = (options: Parameters<typeof createDpopVerifier>[0] = {}) => createDpopVerifier({ now: () => NOW, ...options });
const refused = (description: string) => ({ ok: false, error: 'invalid_dpop_proof', description });

describe('the example API verifies DPoP proofs', () => {
  it('takes a good proof, also when the URL called has a query', async () => {
    const v = verifier();
    expect(await v.check(request(await proof()))).toEqual({ ok: true });
    expect(await v.check(request(await proof(), { url: `${URL_CALLED}?x=1` }))).toEqual({ ok: true });
  });

  it('refuses a request without a proof, or with two', async () => {
    const v = verifier();
    expect(await v.check(request(null))).toEqual(refused('DPoP proof missing'));
    expect(await v.check(request(`${await proof()}, ${await proof()}`))).toEqual(refused('more than one DPoP proof'));
    expect(await v.check(request('not a jwt'))).toEqual(refused('DPoP proof is not a JWT'));
  });

  it('refuses another typ', async () => {
    expect(await verifier().check(request(await proof({ header: { typ: 'JWT' } })))).toEqual(refused('DPoP proof typ must be dpop+jwt'));
  });

  it('refuses alg none and HMAC', async () => {
    const v = verifier();
    const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk })}.${b64({ jti: 'n', htm: 'GET', htu: URL_CALLED, iat: NOW / 1000, ath: ath(TOKEN) })}.`;
    expect(await v.check(request(unsigned))).toEqual(refused('DPoP proof alg not allowed'));
    const hmac = await new SignJWT({ jti: 'h', htm: 'GET', htu: URL_CALLED, iat: NOW / 1000 }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'HS256', jwk } as never).sign(new Uint8Array(32));
    expect(await v.check(request(hmac))).toEqual(refused('DPoP proof alg not allowed'));
  });

  it('refuses a proof without a jwk, or with a private one', async () => {
    const v = verifier();
    expect(await v.check(request(await proof({ header: { jwk: undefined } })))).toEqual(refused('DPoP proof has no jwk'));
    const withPrivate = { ...(await exportJWK(key.privateKey)) };
    expect(await v.check(request(await proof({ header: { jwk: withPrivate } })))).toEqual(refused('DPoP proof jwk holds a private key'));
  });

  it('refuses a signature by another key than the jwk', async () => {
    expect(await verifier().check(request(await proof({ signWith: other.privateKey })))).toEqual(refused('DPoP proof signature invalid'));
  });

  it('refuses a key other than the one the token is bound to (cnf.jkt)', async () => {
    const otherJwk = await exportJWK(other.publicKey);
    const v = verifier();
    expect(await v.check(request(await proof({ header: { jwk: otherJwk }, signWith: other.privateKey })))).toEqual(refused('DPoP proof key is not the one the access token is bound to'));
    expect(await v.check(request(await proof(), { jkt: undefined }))).toEqual(refused('DPoP proof key is not the one the access token is bound to'));
  });

  it('refuses another method or URL', async () => {
    const v = verifier();
    expect(await v.check(request(await proof({ claims: { htm: 'POST' } })))).toEqual(refused('DPoP proof htm mismatch'));
    for (const htu of ['http://127.0.0.1:8082/api/echo', 'http://localhost:8082/api/whoami', 'https://127.0.0.1:8082/api/whoami', 'not a url', 42]) {
      expect(await v.check(request(await proof({ claims: { htu } }))), String(htu)).toEqual(refused('DPoP proof htu mismatch'));
    }
  });

  it('refuses an old proof, one from the future, and one without iat', async () => {
    const v = verifier({ maxAge: 60 });
    expect(await v.check(request(await proof({ claims: { iat: NOW / 1000 - 60 } })))).toEqual({ ok: true });
    expect(await v.check(request(await proof({ claims: { iat: NOW / 1000 - 61 } })))).toEqual(refused('DPoP proof iat outside the accepted window'));
    expect(await v.check(request(await proof({ claims: { iat: NOW / 1000 + 6 } })))).toEqual(refused('DPoP proof iat outside the accepted window'));
    expect(await v.check(request(await proof({ claims: { iat: undefined } })))).toEqual(refused('DPoP proof iat outside the accepted window'));
  });

  it('refuses a proof for another token (ath), or without ath', async () => {
    const v = verifier();
    expect(await v.check(request(await proof({ claims: { ath: ath('another token') } })))).toEqual(refused('DPoP proof ath mismatch'));
    expect(await v.check(request(await proof({ claims: { ath: undefined } })))).toEqual(refused('DPoP proof ath mismatch'));
  });

  it('refuses a replayed proof, and one without a jti', async () => {
    const v = verifier();
    const once = await proof();
    expect(await v.check(request(once))).toEqual({ ok: true });
    expect(await v.check(request(once))).toEqual(refused('DPoP proof replayed'));
    expect(await v.check(request(await proof({ claims: { jti: undefined } })))).toEqual(refused('DPoP proof jti invalid'));
  });

  it('asks for its nonce when it requires one, and then takes it', async () => {
    const v = verifier({ requireNonce: true });
    const challenge = { ok: false, error: 'use_dpop_nonce', description: 'Resource server requires nonce in DPoP proof' };
    expect(await v.check(request(await proof()))).toEqual(challenge);
    expect(await v.check(request(await proof({ claims: { nonce: 'not-the-nonce' } })))).toEqual(challenge);
    expect(v.nonce()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await v.check(request(await proof({ claims: { nonce: v.nonce() } })))).toEqual({ ok: true });
  });
});
