/**
 * `GET {agent}/userinfo` against a provider whose userinfo endpoint misbehaves (the hostile-provider
 * test double: oidc-provider will not), through the real app. Each refusal is the contract's error
 * (status, code, shape), with its reason in the log, no session cookie set and the session left as
 * it was; never a 500. Signed userinfo answers (`application/jwt`) that verify are used, the others
 * are refused like any JWT of the provider. The happy path and the expiry rules against the real
 * provider are test/app/userinfo.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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
  type JsonAnswer,
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

const now = () => Math.floor(Date.now() / 1000);

/** A fresh app (no cached discovery) and a session at the well-behaved provider; then `mutators` apply. */
async function loggedIn(mutators: Mutators = {}, overrides: Record<string, string> = {}) {
  const spa = spaFor(attackApp(provider, recorder, cookieKeys, overrides), recorder);
  // Discovery is read once, at login: a change to it must be in place before.
  provider.mutators = mutators.discovery ? { discovery: mutators.discovery } : {};
  const login = await hostileLogin(spa);
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  provider.mutators = mutators;
  return spa;
}

function expectRefused(answer: JsonAnswer, status: number, code: string, reason: string): void {
  expect(answer.status).not.toBe(500);
  expectContractError(answer, status, code);
  expect(sessionCookiesSet(answer.response)).toEqual([]);
  expect(answer.response.headers.getSetCookie()).toEqual([]);
  const logged = lastRejection(recorder);
  expect(logged?.['reason']).toBe(reason);
  expect(logged?.['status']).toBe(status);
}

describe('userinfo answers that are used', () => {
  it('JSON for the session’s subject: the claims, with the access token as the bearer', async () => {
    const spa = await loggedIn();
    const before = provider.count('userinfo');
    const answer = await spa.json('GET', '/oauth-agent/userinfo');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toEqual({ sub: 'alice', name: 'Alice Hostile', email: 'alice@hostile.example' });
    expect(provider.count('userinfo')).toBe(before + 1);
  });

  it('a signed userinfo response that verifies: its claims', async () => {
    const spa = await loggedIn({ userinfoJwt: true });
    const answer = await spa.json('GET', '/oauth-agent/userinfo');
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({ sub: 'alice', name: 'Alice Hostile', iss: provider.issuer, aud: CLIENT_ID });
  });

  it('TH_HIDDEN_CLAIMS hides claims of the answer too', async () => {
    const spa = await loggedIn({}, { TH_HIDDEN_CLAIMS: 'email' });
    expect((await spa.json('GET', '/oauth-agent/userinfo')).body).toEqual({ sub: 'alice', name: 'Alice Hostile' });
  });
});

interface Refusal {
  name: string;
  mutators: () => Mutators;
  status: number;
  code: string;
  reason: string;
  overrides?: Record<string, string>;
  /** Text from the provider's answer that must not reach the log. */
  notInLog?: string;
}

const json = (status: number, body: string, contentType = 'application/json') => ({ status, contentType, body });
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const advertise = (...algs: string[]) => (doc: Record<string, unknown>) => {
  // A hostile provider advertises its own weak algorithms, so only the token handler's allow-list stands in the way.
  doc['id_token_signing_alg_values_supported'] = ['RS256', ...algs];
};

const refusals: Refusal[] = [
  // The provider refuses the token: the SPA should refresh.
  { name: '401 invalid_token', mutators: () => ({ raw: { userinfo: json(401, '{"error":"invalid_token"}') } }), status: 401, code: 'token_expired', reason: 'userinfo_invalid_token' },
  { name: '401 without a body', mutators: () => ({ raw: { userinfo: { status: 401, body: '' } } }), status: 401, code: 'token_expired', reason: 'userinfo_invalid_token' },
  // Another refusal.
  { name: '403 insufficient_scope', mutators: () => ({ raw: { userinfo: json(403, '{"error":"insufficient_scope"}') } }), status: 400, code: 'authorization_error', reason: 'userinfo_refused' },
  // A provider that is down, or answers nonsense.
  { name: '500', mutators: () => ({ raw: { userinfo: json(500, '{"error":"server_error"}') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_server_error' },
  { name: '503 with an HTML page', mutators: () => ({ raw: { userinfo: json(503, '<html>down</html>', 'text/html') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_server_error' },
  { name: '200 with HTML', mutators: () => ({ raw: { userinfo: json(200, '<html><body>Welcome</body></html>', 'text/html') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '200 without a content type', mutators: () => ({ raw: { userinfo: { status: 200, body: '{"sub":"alice"}' } } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '200 with malformed JSON', mutators: () => ({ raw: { userinfo: json(200, '{"sub":"alice","name":') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  {
    name: '200 application/json with a bare token (the parser must not quote it into the log)',
    mutators: () => ({ raw: { userinfo: json(200, 'tok_SECRETBARETOKEN_0123456789') } }),
    status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed', notInLog: 'SECRET',
  },
  { name: '200 with a JSON array', mutators: () => ({ raw: { userinfo: json(200, '[{"sub":"alice"}]') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '200 with JSON null', mutators: () => ({ raw: { userinfo: json(200, 'null') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '200 without sub', mutators: () => ({ userinfo: (c) => void delete c['sub'] }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '200 with a numeric sub', mutators: () => ({ userinfo: (c) => void (c['sub'] = 42) }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: 'a redirect', mutators: () => ({ raw: { userinfo: { status: 302, body: '' } } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '201 with a userinfo body', mutators: () => ({ raw: { userinfo: json(201, '{"sub":"alice"}') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '200 with a JSON string', mutators: () => ({ raw: { userinfo: json(200, '"alice"') } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  { name: '204 No Content', mutators: () => ({ raw: { userinfo: { status: 204, body: '' } } }), status: 502, code: 'authorization_server_error', reason: 'userinfo_malformed' },
  {
    name: '1 MB (Content-Length declared)',
    mutators: () => ({ userinfo: (c) => void (c['padding'] = 'x'.repeat(1024 * 1024)) }),
    status: 502, code: 'authorization_server_error', reason: 'idp_response_too_large',
  },
  {
    name: '1 MB streamed without Content-Length',
    mutators: () => ({ raw: { userinfo: { status: 200, contentType: 'application/json', chunked: true, body: JSON.stringify({ sub: 'alice', padding: 'x'.repeat(1024 * 1024) }) } } }),
    status: 502, code: 'authorization_server_error', reason: 'idp_response_too_large',
  },
  { name: 'an endpoint that cannot be reached', mutators: () => ({ discovery: (d) => void (d['userinfo_endpoint'] = 'http://127.0.0.1:9/userinfo') }), status: 502, code: 'authorization_server_error', reason: 'userinfo_unreachable' },
  { name: 'no userinfo endpoint in the metadata', mutators: () => ({ discovery: (d) => void delete d['userinfo_endpoint'] }), status: 404, code: 'not_found', reason: 'userinfo_no_endpoint' },
  // OIDC Core 5.3.2: the answer must be about the session's subject.
  { name: 'JSON for another subject', mutators: () => ({ userinfo: (c) => void (c['sub'] = 'mallory') }), status: 400, code: 'invalid_request', reason: 'userinfo_sub_mismatch' },
  { name: 'a signed answer for another subject', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void (c['sub'] = 'mallory') }), status: 400, code: 'invalid_request', reason: 'userinfo_sub_mismatch' },
  // Signed answers are verified like every JWT of the provider.
  { name: 'a signed answer with alg none', mutators: () => ({ userinfoJwt: true, signWith: 'none', discovery: advertise('none') }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_alg_not_allowed' },
  { name: 'a signed answer with HS256 keyed with the provider public key', mutators: () => ({ userinfoJwt: true, signWith: 'hs256_public_key', discovery: advertise('HS256') }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_alg_not_allowed' },
  { name: 'a signed answer by a key not in the JWKS', mutators: () => ({ userinfoJwt: true, signWith: 'other_key' }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_err_jws_signature_verification_failed' },
  { name: 'a signed answer from another issuer', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void (c['iss'] = 'https://evil.example') }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_err_jwt_claim_validation_failed' },
  { name: 'a signed answer for another client', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void (c['aud'] = 'another-client') }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_err_jwt_claim_validation_failed' },
  { name: 'a signed answer without aud', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void delete c['aud'] }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_err_jwt_claim_validation_failed' },
  { name: 'a signed answer without sub', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void delete c['sub'] }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_err_jwt_claim_validation_failed' },
  { name: 'a signed answer also for another audience', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void (c['aud'] = [CLIENT_ID, 'another-client']) }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_extra_audience' },
  { name: 'a signed answer that has expired', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void Object.assign(c, { iat: now() - 3600, exp: now() - 600 }) }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_err_jwt_expired' },
  { name: 'a signed answer typed logout+jwt', mutators: () => ({ userinfoJwt: true, userinfo: (_c, h) => void (h['typ'] = 'logout+jwt') }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_wrong_typ' },
  { name: 'application/jwt that is no JWT', mutators: () => ({ raw: { userinfo: json(200, 'not-a-jwt', 'application/jwt') } }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_malformed' },
  {
    name: 'an encrypted answer (JWE), which is not supported',
    mutators: () => ({ raw: { userinfo: json(200, `${b64({ alg: 'RSA-OAEP-256', enc: 'A256GCM' })}.a2V5.aXY.Y2lwaGVydGV4dA.dGFn`, 'application/jwt') } }),
    status: 400, code: 'invalid_request', reason: 'userinfo_jwt_alg_not_allowed',
  },
  { name: 'a signed answer of 100 KB', mutators: () => ({ userinfoJwt: true, userinfo: (c) => void (c['padding'] = 'x'.repeat(100_000)) }), status: 400, code: 'invalid_request', reason: 'userinfo_jwt_too_large' },
];

describe('userinfo answers that are refused', () => {
  // A loop rather than it.each: it.each clips long names to 40 characters.
  for (const c of refusals) it(c.name, async () => {
    const spa = await loggedIn(c.mutators(), c.overrides);
    const answer = await spa.json('GET', '/oauth-agent/userinfo');
    expectRefused(answer, c.status, c.code, c.reason);
    if (c.notInLog) expect(recorder.logs.join('\n')).not.toContain(c.notInLog);
    // The session is untouched: still logged in, and userinfo works again once the provider does.
    expect((await spa.json('GET', '/oauth-agent/session')).body['is_logged_in']).toBe(true);
    if (!c.mutators().discovery) {
      provider.reset();
      expect((await spa.json('GET', '/oauth-agent/userinfo')).status).toBe(200);
    }
  });
});

describe('a slow userinfo endpoint is cut off (TH_IDP_TIMEOUT=1)', () => {
  it('an answer after 2.5 s is 502 authorization_server_error', async () => {
    const spa = await loggedIn({ delayMs: { userinfo: 2500 } }, { TH_IDP_TIMEOUT: '1' });
    expectRefused(await spa.json('GET', '/oauth-agent/userinfo'), 502, 'authorization_server_error', 'userinfo_unreachable');
  });
});

describe('the log', () => {
  it('holds no token, code, secret or cookie value, and no answer does either', () => {
    // Runs last, over every log line and answer of the tests above (those that ran, under a filter).
    const swept = sweepForLeaks(recorder, [provider]);
    expect(swept.answers).toBeGreaterThan(refusals.length);
  });
});
