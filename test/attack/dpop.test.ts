/**
 * DPoP (TH_DPOP=on) against the hostile provider: a provider that answers a proof with a bearer
 * token is refused (no silent downgrade), one that keeps asking for a nonce gets one retry, the
 * proofs it receives are well-formed, the key fits the cookie budget beside large tokens, a session
 * from before the switch upgrades at its next refresh, and no private key reaches a log or answer.
 */
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_SESSION_COOKIE_BYTES } from '../../src/core/agent/agent.js';
import { MAX_COOKIE_NAME_VALUE } from '../../src/core/session/cookie-table.js';
import type { AccessTokenData } from '../../src/core/session/session-cookies.js';
import type { SpaClient } from '../helpers/spa-client.js';
import { startHostileProvider, type HostileProvider, type Mutators } from './hostile-provider.js';
import {
  CLIENT_ID,
  REDIRECT_URI,
  attackApp,
  cookieKeysFor,
  createRecorder,
  expectContractError,
  hostileLogin,
  lastRejection,
  sessionCookiesSet,
  spaFor,
  sweepForLeaks,
} from './harness.js';

const recorder = createRecorder();
const cookieKeys = cookieKeysFor(recorder);
let provider: HostileProvider;

beforeAll(async () => {
  provider = await startHostileProvider({ clientId: CLIENT_ID, redirectUri: REDIRECT_URI });
});
afterAll(async () => {
  await provider?.close();
});
beforeEach(() => provider.reset());

const dpopApp = () => attackApp(provider, recorder, cookieKeys, { TH_DPOP: 'on' });
/** What a provider that binds tokens answers. */
const bound: Mutators['tokenResponse'] = (body) => void (body['token_type'] = 'DPoP');

/** The access-token cookie's contents; its DPoP key is registered for the leak sweep. */
async function sealed(spa: SpaClient, app = dpopApp()): Promise<AccessTokenData> {
  const { parseCookieHeader, readCookieValue } = await import('../../src/core/session/cookie-table.js');
  const opened = await app.agent.sealer.unseal<AccessTokenData>('at', readCookieValue(parseCookieHeader(spa.cookieHeader('/')), app.agent.names.at));
  expect(opened).toBeDefined();
  if (opened!.data.k) recorder.secrets.add(opened!.data.k.d);
  return opened!.data;
}

describe('the token endpoint with DPoP', () => {
  it('sends a proof for the token endpoint: POST, its URL, no ath, the session key', async () => {
    const spa = spaFor(dpopApp(), recorder);
    provider.mutators = { tokenResponse: bound };
    expect((await hostileLogin(spa)).status).toBe(200);
    const proof = provider.calls.filter((c) => c.endpoint === 'token').at(-1)!.dpop!;
    const { k } = await sealed(spa);
    expect(decodeProtectedHeader(proof)).toEqual({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: k!.x, y: k!.y } });
    const claims = decodeJwt(proof);
    expect(Object.keys(claims).sort()).toEqual(['htm', 'htu', 'iat', 'jti']);
    expect(claims).toMatchObject({ htm: 'POST', htu: `${provider.issuer}/token` });
  });

  it('refuses a bearer token given for a proof, at login: no session', async () => {
    const spa = spaFor(dpopApp(), recorder);
    const answer = await hostileLogin(spa);
    expectContractError(answer, 400, 'invalid_request');
    expect(lastRejection(recorder)?.['reason']).toBe('token_not_dpop_bound');
    expect(sessionCookiesSet(answer.response)).toEqual([]);
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
  });

  it('refuses a bearer token given for a proof, at refresh: the session stays as it was', async () => {
    const spa = spaFor(dpopApp(), recorder);
    provider.mutators = { tokenResponse: bound };
    expect((await hostileLogin(spa)).status).toBe(200);
    const before = new Map([...spa.cookies].map(([k, v]) => [k, v.value]));
    provider.mutators = {};
    const answer = await spa.json('POST', '/oauth-agent/refresh');
    expectContractError(answer, 400, 'invalid_request');
    expect(lastRejection(recorder)?.['reason']).toBe('token_not_dpop_bound');
    expect(new Map([...spa.cookies].map(([k, v]) => [k, v.value]))).toEqual(before);
  });

  it('takes token_type DPoP in any letter case', async () => {
    const spa = spaFor(dpopApp(), recorder);
    provider.mutators = { tokenResponse: (body) => void (body['token_type'] = 'dPoP') };
    expect((await hostileLogin(spa)).status).toBe(200);
  });

  it('answers a use_dpop_nonce refusal once, with the nonce, and then gives up', async () => {
    const spa = spaFor(dpopApp(), recorder);
    provider.mutators = {
      raw: { token: { status: 400, contentType: 'application/json', headers: { 'dpop-nonce': 'idp-nonce-1' }, body: JSON.stringify({ error: 'use_dpop_nonce' }) } },
    };
    const before = provider.calls.length;
    const answer = await hostileLogin(spa);
    expectContractError(answer, 400, 'authorization_error');
    expect(lastRejection(recorder)?.['reason']).toBe('token_endpoint_use_dpop_nonce');
    const proofs = provider.calls.slice(before).filter((c) => c.endpoint === 'token').map((c) => decodeJwt(c.dpop!));
    expect(proofs.map((p) => p['nonce'])).toEqual([undefined, 'idp-nonce-1']);
    expect(proofs[0]!.jti).not.toBe(proofs[1]!.jti);
  });

  it('does not send again on a use_dpop_nonce refusal without a nonce', async () => {
    const spa = spaFor(dpopApp(), recorder);
    provider.mutators = { raw: { token: { status: 400, contentType: 'application/json', body: JSON.stringify({ error: 'use_dpop_nonce' }) } } };
    const before = provider.count('token');
    expectContractError(await hostileLogin(spa), 400, 'authorization_error');
    expect(provider.count('token') - before).toBe(1);
  });

  it('sends no proof with TH_DPOP off', async () => {
    const spa = spaFor(attackApp(provider, recorder, cookieKeys), recorder);
    expect((await hostileLogin(spa)).status).toBe(200);
    expect(provider.calls.filter((c) => c.endpoint === 'token').at(-1)!.dpop).toBeUndefined();
    expect((await sealed(spa)).k).toBeUndefined();
  });
});

describe('the key in the cookie budget', () => {
  const groups = Array.from({ length: 40 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
  const large: Mutators = { accessTokenLength: 8192, idToken: (c) => void (c['groups'] = groups), tokenResponse: bound };

  it('costs about 200 bytes beside an 8 KB token: every cookie and the whole session stay within their limits', async () => {
    const plain = spaFor(attackApp(provider, recorder, cookieKeys), recorder);
    provider.mutators = large;
    expect((await hostileLogin(plain)).status).toBe(200);
    const spa = spaFor(dpopApp(), recorder);
    const login = await hostileLogin(spa);
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect((await sealed(spa)).k).toBeDefined();
    for (const line of login.response.headers.getSetCookie()) expect(line.split(';')[0]!.length).toBeLessThanOrEqual(MAX_COOKIE_NAME_VALUE);
    const size = spa.cookieHeader('/oauth-agent/refresh').length;
    expect(size).toBeLessThanOrEqual(MAX_SESSION_COOKIE_BYTES);
    const cost = size - plain.cookieHeader('/oauth-agent/refresh').length;
    expect(cost).toBeGreaterThan(150);
    expect(cost).toBeLessThan(300);

    expect((await spa.json('GET', '/api/orders')).status).toBe(200);
    const sent = provider.upstream.at(-1)!.headers;
    expect(sent['authorization']).toMatch(/^DPoP [A-Za-z0-9_-]{8192}$/);
    expect(decodeJwt(sent['dpop']!)['ath']).toBe(createHash('sha256').update(sent['authorization']!.slice(5)).digest('base64url'));
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
  });
});

describe('switching TH_DPOP on and off', () => {
  it('a bearer session goes on as Bearer, and is bound to a new key at its next refresh', async () => {
    const spa = spaFor(attackApp(provider, recorder, cookieKeys), recorder);
    expect((await hostileLogin(spa)).status).toBe(200);
    spa.app = dpopApp();
    expect((await spa.json('GET', '/api/orders')).status).toBe(200);
    expect(provider.upstream.at(-1)!.headers['authorization']).toMatch(/^Bearer /);
    expect(provider.upstream.at(-1)!.headers['dpop']).toBeUndefined();

    provider.mutators = { tokenResponse: bound };
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    expect(provider.calls.filter((c) => c.endpoint === 'token').at(-1)!.dpop).toBeDefined();
    const { k } = await sealed(spa);
    expect(k).toBeDefined();
    expect((await spa.json('GET', '/api/orders')).status).toBe(200);
    expect(provider.upstream.at(-1)!.headers['authorization']).toMatch(/^DPoP /);
    expect(decodeProtectedHeader(provider.upstream.at(-1)!.headers['dpop']!).jwk).toMatchObject({ x: k!.x });
  });

  it('a DPoP session keeps its scheme when TH_DPOP goes off, until a refresh brings a bearer token and drops the key', async () => {
    const spa = spaFor(dpopApp(), recorder);
    provider.mutators = { tokenResponse: bound };
    expect((await hostileLogin(spa)).status).toBe(200);
    await sealed(spa);
    spa.app = attackApp(provider, recorder, cookieKeys);
    // A bound token is never presented as a bearer token (RFC 9449 §7.1).
    expect((await spa.json('GET', '/api/orders')).status).toBe(200);
    expect(provider.upstream.at(-1)!.headers['authorization']).toMatch(/^DPoP /);
    expect(provider.upstream.at(-1)!.headers['dpop']).toBeDefined();
    provider.mutators = {};
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    expect((await sealed(spa, attackApp(provider, recorder, cookieKeys))).k).toBeUndefined();
    expect((await spa.json('GET', '/api/orders')).status).toBe(200);
    expect(provider.upstream.at(-1)!.headers['authorization']).toMatch(/^Bearer /);
  });
});

describe('the log', () => {
  it('holds no token, code, secret, cookie value or DPoP private key, and no answer does either', () => {
    expect([...recorder.secrets].length).toBeGreaterThan(3);
    sweepForLeaks(recorder, [provider]);
  });
});
