/**
 * src/core/oidc/dpop.ts as plain functions: the session key, the proof (RFC 9449 §4.2, checked
 * with jose as a server would), the nonce memory, and the challenge parser.
 */
import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createDpopKeys, createNonceMemory, generateDpopKey, htuOf, isDpopKeyData, isUseDpopNonce, parseChallenges } from '../../../src/core/oidc/dpop.js';

const NOW = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('the session key', () => {
  it('is a fresh P-256 key each time, as three base64url members', async () => {
    const [a, b] = [await generateDpopKey(), await generateDpopKey()];
    expect(Object.keys(a).sort()).toEqual(['d', 'x', 'y']);
    for (const member of Object.values(a)) expect(member).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.d).not.toBe(b.d);
    expect(isDpopKeyData(a)).toBe(true);
  });

  it.each([
    ['no d', { x: 'a'.repeat(43), y: 'a'.repeat(43) }],
    ['a short member', { x: 'a'.repeat(42), y: 'a'.repeat(43), d: 'a'.repeat(43) }],
    ['a character outside base64url', { x: `${'a'.repeat(42)}=`, y: 'a'.repeat(43), d: 'a'.repeat(43) }],
    ['a number', { x: 1, y: 'a'.repeat(43), d: 'a'.repeat(43) }],
    ['null', null],
    ['a string', 'key'],
  ])('is recognised only in its own shape: not with %s', (_what, value) => {
    expect(isDpopKeyData(value)).toBe(false);
  });
});

describe('a proof', () => {
  it('carries typ, alg and the public jwk only, and htm, htu, iat, a random jti, ath and the nonce; its signature verifies', async () => {
    const key = await generateDpopKey();
    const keys = createDpopKeys(() => NOW);
    const token = 'access-token-value';
    const proof = await keys.proof(key, { htm: 'PATCH', url: 'https://api.example.test/v1/orders/7?expand=1#top', accessToken: token, nonce: 'server-nonce' });
    const header = decodeProtectedHeader(proof);
    expect(header).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: key.x, y: key.y } });
    const { payload } = await jwtVerify(proof, await importJWK(header.jwk!, 'ES256'), { typ: 'dpop+jwt', algorithms: ['ES256'], currentDate: new Date(NOW) });
    expect(payload).toEqual({
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      htm: 'PATCH',
      htu: 'https://api.example.test/v1/orders/7',
      iat: NOW / 1000,
      ath: createHash('sha256').update(token).digest('base64url'),
      nonce: 'server-nonce',
    });
    const again = decodeProtectedHeader(await keys.proof(key, { htm: 'PATCH', url: 'https://api.example.test/v1/orders/7' }));
    expect(again).toEqual(header);
  });

  it('has no ath without a token and no nonce without one, and a new jti every time', async () => {
    const key = await generateDpopKey();
    const keys = createDpopKeys(() => NOW);
    const claims = async () => (await jwtVerify(await keys.proof(key, { htm: 'POST', url: 'https://idp.example.test/token' }), await importJWK({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y }, 'ES256'), { currentDate: new Date(NOW) })).payload;
    const [a, b] = [await claims(), await claims()];
    expect(Object.keys(a).sort()).toEqual(['htm', 'htu', 'iat', 'jti']);
    expect(a.jti).not.toBe(b.jti);
  });

  it('hashes whichever token it is given, also after another one', async () => {
    const key = await generateDpopKey();
    const keys = createDpopKeys(() => NOW);
    const ath = async (token: string) => (await jwtVerify(await keys.proof(key, { htm: 'GET', url: 'https://a.test/', accessToken: token }), await importJWK({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y }, 'ES256'), { currentDate: new Date(NOW) })).payload['ath'];
    const hash = (token: string) => createHash('sha256').update(token).digest('base64url');
    expect(await ath('one')).toBe(hash('one'));
    expect(await ath('two')).toBe(hash('two'));
    expect(await ath('one')).toBe(hash('one'));
  });

  it('is signed with the session key: another key does not verify it', async () => {
    const [key, other] = [await generateDpopKey(), await generateDpopKey()];
    const proof = await createDpopKeys(() => NOW).proof(key, { htm: 'GET', url: 'https://a.test/x' });
    await expect(jwtVerify(proof, await importJWK({ kty: 'EC', crv: 'P-256', x: other.x, y: other.y }, 'ES256'), { currentDate: new Date(NOW) })).rejects.toThrow();
  });

  it('takes iat from the injected clock', async () => {
    let now = NOW;
    const key = await generateDpopKey();
    const keys = createDpopKeys(() => now);
    now += 90_500;
    const proof = await keys.proof(key, { htm: 'GET', url: 'https://a.test/' });
    expect(JSON.parse(Buffer.from(proof.split('.')[1]!, 'base64url').toString())['iat']).toBe(Math.floor(now / 1000));
  });

  it('gives oauth4webapi the key pair: the private half not extractable, the public half as the proofs name it', async () => {
    const key = await generateDpopKey();
    const keys = createDpopKeys(() => NOW);
    const pair = await keys.keyPair(key);
    expect(pair.privateKey.extractable).toBe(false);
    expect(pair.privateKey.usages).toEqual(['sign']);
    const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    expect([jwk.x, jwk.y, jwk.d]).toEqual([key.x, key.y, undefined]);
    expect(await keys.thumbprint(key)).toBe(await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y }));
    // Imported once per instance.
    expect(await keys.keyPair(key)).toEqual(pair);
    expect((await keys.keyPair(key)).privateKey).toBe(pair.privateKey);
  });
});

describe('htu', () => {
  it.each([
    ['https://api.test/a/b?c=d#e', 'https://api.test/a/b'],
    ['https://API.test:443/a', 'https://api.test/a'],
    ['http://127.0.0.1:8082/api/x%2Fy', 'http://127.0.0.1:8082/api/x%2Fy'],
    ['https://api.test', 'https://api.test/'],
  ])('of %s is %s', (url, htu) => {
    expect(htuOf(url)).toBe(htu);
  });
});

describe('the nonce memory', () => {
  it('keeps the last valid nonce per origin, and forgets the oldest origin past its bound', () => {
    const memory = createNonceMemory(2);
    expect(memory.learn('https://a.test', 'n1')).toBe('n1');
    expect(memory.learn('https://a.test', 'n2')).toBe('n2');
    expect(memory.learn('https://b.test', 'm1')).toBe('m1');
    expect(memory.get('https://a.test')).toBe('n2');
    memory.learn('https://c.test', 'o1');
    expect(memory.get('https://a.test')).toBeUndefined();
    expect([memory.get('https://b.test'), memory.get('https://c.test')]).toEqual(['m1', 'o1']);
  });

  it.each([null, '', 'has space', 'quote"d', 'back\\slash', 'x'.repeat(513), 'ümlaut'])('ignores %j', (header) => {
    const memory = createNonceMemory();
    memory.learn('https://a.test', 'kept');
    expect(memory.learn('https://a.test', header)).toBeUndefined();
    expect(memory.get('https://a.test')).toBe('kept');
  });
});

describe('WWW-Authenticate', () => {
  it('parses several challenges with quoted and bare parameters', () => {
    expect(parseChallenges('Bearer realm="api", error="invalid_token", DPoP algs="ES256 PS256", error=use_dpop_nonce, error_description="a \\"quoted\\" word"').map((c) => [c.scheme, Object.fromEntries(c.params)])).toEqual([
      ['bearer', { realm: 'api', error: 'invalid_token' }],
      ['dpop', { algs: 'ES256 PS256', error: 'use_dpop_nonce', error_description: 'a "quoted" word' }],
    ]);
  });

  it.each([
    ['DPoP error="use_dpop_nonce"', true],
    ['dpop ERROR=use_dpop_nonce', true],
    ['Bearer realm="x", DPoP error="use_dpop_nonce", error_description="nonce"', true],
    ['Bearer error="use_dpop_nonce", DPoP algs="ES256"', false],
    ['DPoP error="invalid_dpop_proof"', false],
    ['DPoP', false],
    ['Basic dXNlcjpwYXNz==', false],
    ['', false],
  ])('%j is a nonce challenge: %s', (header, expected) => {
    expect(isUseDpopNonce(header)).toBe(expected);
  });
});
