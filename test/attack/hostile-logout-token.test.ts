/**
 * Back-channel logout tokens that break a rule (OIDC BCL §2.4, §2.6; contract §6.2), minted by the
 * hostile-provider test double (oidc-provider only signs good ones), against the real app: each is
 * refused with 400 in the specification's shape, its reason in the log, and the session lives on.
 * A good token for the same session, sent last, does end it (so each refusal is for its own rule),
 * and sending that token again is a replay. The end-to-end case against oidc-provider is
 * test/app/backchannel-logout.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHostileProvider, type HostileProvider } from './hostile-provider.js';
import { CLIENT_ID, REDIRECT_URI, attackApp, cookieKeysFor, createRecorder, hostileLogin, logLines, spaFor } from './harness.js';
import { PUBLIC_ORIGIN, type SpaClient } from '../helpers/spa-client.js';
import type { NodeTokenHandler } from '../../src/adapters/node/server.js';

const SID = 'idp-session-1';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const recorder = createRecorder();
const cookieKeys = cookieKeysFor(recorder);
let provider: HostileProvider;
let app: NodeTokenHandler;
let spa: SpaClient;

beforeAll(async () => {
  provider = await startHostileProvider({ clientId: CLIENT_ID, redirectUri: REDIRECT_URI });
  app = attackApp(provider, recorder, cookieKeys, { TH_BACKCHANNEL_LOGOUT: 'on', TH_REVOCATION_CACHE_TTL: '0' });
  spa = spaFor(app, recorder);
  provider.mutators = { idToken: (claims) => void (claims['sid'] = SID) };
  const login = await hostileLogin(spa);
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  provider.reset();
});
afterAll(async () => {
  await provider?.close();
});

async function send(token: string): Promise<{ status: number; body: Record<string, unknown>; cacheControl: string | null }> {
  const response = await app.request(`${PUBLIC_ORIGIN}/oauth-agent/backchannel-logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, cacheControl: response.headers.get('cache-control') };
}

const now = () => Math.floor(Date.now() / 1000);
type Change = (claims: Record<string, unknown>, header: Record<string, unknown>) => void;
const CASES: [string, string, Change | undefined, ('other_key' | 'none' | 'hs256_public_key')?][] = [
  ['signed with another key', 'logout_token_err_jws_signature_verification_failed', undefined, 'other_key'],
  ['alg none', 'logout_token_alg_not_allowed', undefined, 'none'],
  ['HS256 keyed with the public key', 'logout_token_alg_not_allowed', undefined, 'hs256_public_key'],
  ['another issuer', 'logout_token_err_jwt_claim_validation_failed', (c) => void (c['iss'] = 'https://evil.example')],
  ['another audience', 'logout_token_err_jwt_claim_validation_failed', (c) => void (c['aud'] = 'someone-else')],
  ['iat in the future', 'logout_token_iat_in_future', (c) => void (c['iat'] = now() + 3600)],
  ['no events claim', 'logout_token_err_jwt_claim_validation_failed', (c) => void delete c['events']],
  ['events without the back-channel member', 'backchannel_logout_events_missing', (c) => void (c['events'] = { 'http://schemas.openid.net/event/other': {} })],
  ['events member not an object', 'backchannel_logout_events_missing', (c) => void (c['events'] = { [EVENT]: 'yes' })],
  ['neither sid nor sub', 'logout_token_missing_claim', (c) => void delete c['sid']],
  ['a nonce', 'logout_token_forbidden_claim', (c) => void (c['nonce'] = 'n-1')],
  ['typ JWT (an ID token is not a logout token)', 'logout_token_wrong_typ', (_c, h) => void (h['typ'] = 'JWT')],
  ['expired', 'logout_token_err_jwt_expired', (c) => void Object.assign(c, { iat: now() - 900, exp: now() - 600 })],
];

describe('back-channel logout tokens that break a rule', () => {
  it.each(CASES)('refuses one %s (%s) with 400 in the specification shape; the session lives on', async (_name, reason, change, signWith) => {
    const answer = await send(await provider.mintLogoutToken(SID, change, signWith));
    expect(answer.status).toBe(400);
    expect(answer.cacheControl).toBe('no-store');
    expect(answer.body['error']).toBe('invalid_request');
    expect(logLines(recorder, { event: 'backchannel_logout_refused' }).at(-1)?.['reason']).toBe(reason);
    expect((await spa.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
  });

  it('takes a good one for the session (typ may be absent), which ends it; the same token again is a replay', async () => {
    const token = await provider.mintLogoutToken(SID, (_c, h) => void delete h['typ']);
    const answer = await send(token);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.cacheControl).toBe('no-store');
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });

    const again = await send(token);
    expect(again.status).toBe(400);
    expect(logLines(recorder, { event: 'backchannel_logout_refused' }).at(-1)?.['reason']).toBe('backchannel_logout_jti_replayed');
  });

  it('by sub alone: ends the sessions of that subject that logged in before the token', async () => {
    const other = spaFor(app, recorder);
    expect((await hostileLogin(other)).status).toBe(200);
    const answer = await send(await provider.mintLogoutToken(SID, (c) => Object.assign(c, { sid: undefined, sub: 'alice', iat: now() + 1 })));
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect((await other.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
  });
});
