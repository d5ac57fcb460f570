/**
 * The token handler against a provider that misbehaves (the hostile-provider test double), through
 * the real app. For every refusal: the contract's error (status, code, shape), no session cookie,
 * the reason in the log, and never a 500. A few odd-but-legal answers must work instead.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHostileProvider, type HostileProvider, type Mutators } from './hostile-provider.js';
import {
  REDIRECT_URI,
  CLIENT_ID,
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

/** A fresh app per case, so no cached discovery or key set carries over between cases. */
const newApp = (overrides: Record<string, string> = {}) => attackApp(provider, recorder, cookieKeys, overrides);

const hour = 3600;
const now = () => Math.floor(Date.now() / 1000);

interface Refusal {
  name: string;
  mutators: () => Mutators;
  status: number;
  code: string;
  reason: string;
  /** Where it fails: at login/start (discovery) or login/end (everything after the redirect). */
  at?: 'start' | 'end';
  /** The token endpoint must not be called (the check comes before the code exchange). */
  noTokenCall?: boolean;
  /** Text from the provider's answer that must not reach the log. */
  notInLog?: string;
}

function expectRefused(answer: JsonAnswer, status: number, code: string, reason: string): void {
  expect(answer.status).not.toBe(500);
  expectContractError(answer, status, code);
  expect(sessionCookiesSet(answer.response)).toEqual([]);
  const logged = lastRejection(recorder);
  expect(logged?.['reason']).toBe(reason);
  expect(logged?.['status']).toBe(status);
}

const advertise = (...algs: string[]) => (doc: Record<string, unknown>) => {
  // A hostile provider advertises its own weak algorithms, so only the token handler's allow-list stands in the way.
  doc['id_token_signing_alg_values_supported'] = ['RS256', ...algs];
};

const loginRefusals: Refusal[] = [
  // Signatures and keys.
  { name: 'an ID token with alg none', mutators: () => ({ signWith: 'none', discovery: advertise('none') }), status: 400, code: 'invalid_request', reason: 'id_token_alg_not_allowed' },
  { name: 'an ID token signed HS256 with the provider public key as the secret', mutators: () => ({ signWith: 'hs256_public_key', discovery: advertise('HS256') }), status: 400, code: 'invalid_request', reason: 'id_token_alg_not_allowed' },
  { name: 'an ID token signed by a key not in the JWKS (under the published kid)', mutators: () => ({ signWith: 'other_key' }), status: 400, code: 'invalid_request', reason: 'id_token_err_jws_signature_verification_failed' },
  { name: 'an ID token whose kid is unknown', mutators: () => ({ signWith: 'other_key', idToken: (_c, h) => void (h['kid'] = 'hostile-2') }), status: 400, code: 'invalid_request', reason: 'id_token_err_jwks_no_matching_key' },
  {
    name: 'an ID token without kid while the JWKS holds two keys',
    mutators: () => ({ idToken: (_c, h) => void delete h['kid'], jwks: (keys, spare) => [...keys, spare.other] }),
    status: 400, code: 'invalid_request', reason: 'id_token_err_jwks_multiple_matching_keys',
  },
  {
    name: 'an ID token whose kid is published twice, for two different keys',
    mutators: () => ({ jwks: (keys, spare) => [...keys, { ...spare.other, kid: spare.signing.kid! }] }),
    status: 400, code: 'invalid_request', reason: 'id_token_err_jwks_multiple_matching_keys',
  },
  {
    name: 'an ID token without kid signed by a key not in the JWKS',
    mutators: () => ({ signWith: 'other_key', idToken: (_c, h) => void delete h['kid'] }),
    status: 400, code: 'invalid_request', reason: 'id_token_err_jws_signature_verification_failed',
  },
  // Claims.
  { name: 'a wrong iss', mutators: () => ({ idToken: (c) => void (c['iss'] = 'https://evil.example') }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a wrong aud', mutators: () => ({ idToken: (c) => void (c['aud'] = 'another-client') }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'an aud array with an extra audience (and azp naming us)', mutators: () => ({ idToken: (c) => void Object.assign(c, { aud: [CLIENT_ID, 'another-client'], azp: CLIENT_ID }) }), status: 400, code: 'invalid_request', reason: 'id_token_extra_audience' },
  { name: 'an aud array with an extra audience and no azp', mutators: () => ({ idToken: (c) => void (c['aud'] = [CLIENT_ID, 'another-client']) }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'an azp naming another client', mutators: () => ({ idToken: (c) => void (c['azp'] = 'another-client') }), status: 400, code: 'invalid_request', reason: 'id_token_azp_mismatch' },
  { name: 'a wrong nonce', mutators: () => ({ idToken: (c) => void (c['nonce'] = 'attacker-chosen-nonce') }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a missing nonce', mutators: () => ({ idToken: (c) => void delete c['nonce'] }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'an exp in the past (beyond the clock skew)', mutators: () => ({ idToken: (c) => void Object.assign(c, { iat: now() - hour, exp: now() - 120 }) }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'an iat far in the future', mutators: () => ({ idToken: (c) => void Object.assign(c, { iat: now() + hour, exp: now() + 2 * hour }) }), status: 400, code: 'invalid_request', reason: 'id_token_iat_in_future' },
  { name: 'an nbf in the future', mutators: () => ({ idToken: (c) => void (c['nbf'] = now() + hour) }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a missing sub', mutators: () => ({ idToken: (c) => void delete c['sub'] }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a JWT typed logout+jwt', mutators: () => ({ idToken: (_c, h) => void (h['typ'] = 'logout+jwt') }), status: 400, code: 'invalid_request', reason: 'id_token_wrong_typ' },
  { name: 'a JWT typed at+jwt', mutators: () => ({ idToken: (_c, h) => void (h['typ'] = 'at+jwt') }), status: 400, code: 'invalid_request', reason: 'id_token_wrong_typ' },
  { name: 'an at_hash that does not match the access token', mutators: () => ({ idToken: (c) => void (c['at_hash'] = 'AAAAAAAAAAAAAAAAAAAAAA') }), status: 400, code: 'invalid_request', reason: 'id_token_at_hash_mismatch' },
  { name: 'an ID token too large to be real (over 16 KB)', mutators: () => ({ idToken: (c) => void (c['padding'] = 'x'.repeat(20_000)) }), status: 400, code: 'invalid_request', reason: 'id_token_too_large' },
  // Discovery and the authorization response.
  { name: 'a discovery document naming another issuer', mutators: () => ({ discovery: (d) => void (d['issuer'] = 'https://evil.example') }), status: 502, code: 'authorization_server_error', reason: 'discovery_failed', at: 'start' },
  { name: 'a discovery document without S256', mutators: () => ({ discovery: (d) => void (d['code_challenge_methods_supported'] = ['plain']) }), status: 502, code: 'authorization_server_error', reason: 'discovery_no_s256', at: 'start' },
  { name: 'an authorization response from another issuer (mix-up)', mutators: () => ({ authorize: (p) => p.set('iss', 'https://evil.example') }), status: 400, code: 'invalid_request', reason: 'iss_mismatch', noTokenCall: true },
  { name: 'an authorization response without iss although advertised', mutators: () => ({ authorize: (p) => p.delete('iss') }), status: 400, code: 'invalid_request', reason: 'iss_missing', noTokenCall: true },
  // The token response.
  { name: 'a token response without token_type', mutators: () => ({ tokenResponse: (b) => void delete b['token_type'] }), status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' },
  { name: 'a token response with token_type mac', mutators: () => ({ tokenResponse: (b) => void (b['token_type'] = 'mac') }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a token response without id_token', mutators: () => ({ tokenResponse: (b) => void delete b['id_token'] }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a token response with a negative expires_in', mutators: () => ({ tokenResponse: (b) => void (b['expires_in'] = -5) }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
  { name: 'a token response whose access_token is not a string', mutators: () => ({ tokenResponse: (b) => void (b['access_token'] = { nested: true }) }), status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' },
  // A broken provider.
  { name: 'a token endpoint answering 500', mutators: () => ({ raw: { token: { status: 500, contentType: 'application/json', body: '{"error":"server_error"}' } } }), status: 502, code: 'authorization_server_error', reason: 'token_endpoint_500' },
  { name: 'a token endpoint answering 503 with an HTML page', mutators: () => ({ raw: { token: { status: 503, contentType: 'text/html', body: '<html>down</html>' } } }), status: 502, code: 'authorization_server_error', reason: 'token_endpoint_503' },
  { name: 'a token endpoint answering 200 with HTML', mutators: () => ({ raw: { token: { status: 200, contentType: 'text/html', body: '<html><body>Welcome</body></html>' } } }), status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' },
  { name: 'a token endpoint answering 200 with malformed JSON', mutators: () => ({ raw: { token: { status: 200, contentType: 'application/json', body: '{"access_token":"abc","token_type":' } } }), status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' },
  {
    name: 'a token endpoint answering 200 application/json with a bare token (the parser error must not quote it into the log)',
    mutators: () => ({ raw: { token: { status: 200, contentType: 'application/json', body: 'tok_SECRETBARETOKEN_0123456789' } } }),
    status: 502, code: 'authorization_server_error', reason: 'token_response_malformed', notInLog: 'SECRET',
  },
  { name: 'a token endpoint answering 400 with HTML', mutators: () => ({ raw: { token: { status: 400, contentType: 'text/html', body: '<html>bad</html>' } } }), status: 400, code: 'authorization_error', reason: 'token_endpoint_400' },
  { name: 'a token endpoint answering with a redirect', mutators: () => ({ raw: { token: { status: 302, body: '' } } }), status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' },
  { name: 'a token endpoint error whose code is not a code', mutators: () => ({ raw: { token: { status: 400, contentType: 'application/json', body: '{"error":"see https://evil.example/?x=1 \\u0000 now"}' } } }), status: 400, code: 'authorization_error', reason: 'token_endpoint_other', notInLog: 'evil.example/?x=1' },
  {
    name: 'a token response of 1 MB (Content-Length declared)',
    mutators: () => ({ tokenResponse: (b) => void (b['padding'] = 'x'.repeat(1024 * 1024)) }),
    status: 502, code: 'authorization_server_error', reason: 'idp_response_too_large',
  },
  {
    name: 'a token response of 1 MB streamed without Content-Length',
    mutators: () => ({ raw: { token: { status: 200, contentType: 'application/json', chunked: true, body: JSON.stringify({ access_token: 'a', token_type: 'Bearer', padding: 'x'.repeat(1024 * 1024) }) } } }),
    status: 502, code: 'authorization_server_error', reason: 'idp_response_too_large',
  },
  {
    name: 'a JWKS of 1 MB',
    mutators: () => ({ jwks: (keys) => [...keys, ...Array.from({ length: 3000 }, (_, i) => ({ ...keys[0]!, kid: `padding-${i}` }))] }),
    status: 502, code: 'authorization_server_error', reason: 'idp_response_too_large',
  },
  { name: 'a discovery endpoint answering 500', mutators: () => ({ raw: { discovery: { status: 500, body: 'oops' } } }), status: 502, code: 'authorization_server_error', reason: 'discovery_failed', at: 'start' },
  { name: 'a discovery endpoint answering HTML', mutators: () => ({ raw: { discovery: { status: 200, contentType: 'text/html', body: '<html></html>' } } }), status: 502, code: 'authorization_server_error', reason: 'discovery_failed', at: 'start' },
  { name: 'a JWKS endpoint answering 500', mutators: () => ({ raw: { jwks: { status: 500, body: 'oops' } } }), status: 502, code: 'authorization_server_error', reason: 'jwks_unavailable' },
  { name: 'a JWKS endpoint answering HTML', mutators: () => ({ raw: { jwks: { status: 200, contentType: 'text/html', body: '<html></html>' } } }), status: 502, code: 'authorization_server_error', reason: 'jwks_unavailable' },
  { name: 'a JWKS endpoint answering a malformed key set', mutators: () => ({ raw: { jwks: { status: 200, contentType: 'application/json', body: '{"keys":"none"}' } } }), status: 502, code: 'authorization_server_error', reason: 'jwks_unavailable' },
];

describe('login against a hostile provider is refused', () => {
  // A loop rather than it.each: it.each clips long names to 40 characters.
  for (const c of loginRefusals) it(c.name, async () => {
    const spa = spaFor(newApp(), recorder);
    const tokenCallsBefore = provider.count('token');
    provider.mutators = c.mutators();
    const answer = await hostileLogin(spa);
    expectRefused(answer, c.status, c.code, c.reason);
    if (c.at === 'start') {
      expect(answer.callback).toBeUndefined();
      expect(spa.cookies.size).toBe(0);
    } else {
      expect(answer.callback).toBeDefined();
      // The used transaction is cleared whatever the outcome.
      expect(answer.response.headers.getSetCookie().some((line) => /^__Host-th-login-[A-Za-z0-9_-]{12}=;.*Max-Age=0/.test(line))).toBe(true);
      expect(spa.cookies.size).toBe(0);
    }
    if (c.noTokenCall) expect(provider.count('token')).toBe(tokenCallsBefore);
    if (c.notInLog) expect(recorder.logs.join('\n')).not.toContain(c.notInLog);
    // Logged out afterwards, not half logged in.
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });
  });
});

describe('a slow provider is cut off (TH_IDP_TIMEOUT=1)', () => {
  it.each([
    ['discovery', 'start', 'discovery_failed'],
    ['jwks', 'end', 'jwks_unavailable'],
    ['token', 'end', 'token_endpoint_unreachable'],
  ] as const)('a %s endpoint that answers after 2.5 s', async (endpoint, at, reason) => {
    const spa = spaFor(newApp({ TH_IDP_TIMEOUT: '1' }), recorder);
    provider.mutators = { delayMs: { [endpoint]: 2500 } };
    const answer = await hostileLogin(spa);
    expectRefused(answer, 502, 'authorization_server_error', reason);
    expect(answer.callback === undefined).toBe(at === 'start');
  });
});

describe('odd but legal token responses work', () => {
  async function loginWith(mutators: Mutators, overrides: Record<string, string> = {}) {
    const spa = spaFor(newApp(overrides), recorder);
    provider.mutators = mutators;
    const answer = await hostileLogin(spa);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body['is_logged_in']).toBe(true);
    return { spa, answer };
  }

  it('token_type in odd case ("bEaReR"): RFC 6749 §5.1 makes it case-insensitive', async () => {
    const { spa } = await loginWith({ tokenResponse: (b) => void (b['token_type'] = 'bEaReR') });
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.upstream.at(-1)!.headers['authorization']).toMatch(/^Bearer /);
  });

  it('no expires_in: logged in, and no access_token_expires_in anywhere', async () => {
    const { spa, answer } = await loginWith({ tokenResponse: (b) => void delete b['expires_in'] });
    expect(answer.body).not.toHaveProperty('access_token_expires_in');
    expect((await spa.json('GET', '/oauth-agent/session')).body).not.toHaveProperty('access_token_expires_in');
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toEqual({});
  });

  it('a huge expires_in is capped at the session lifetime, not trusted', async () => {
    const { spa, answer } = await loginWith({ tokenResponse: (b) => void (b['expires_in'] = 1e15) }, { TH_SESSION_LIFETIME: '3600' });
    expect(answer.body['access_token_expires_in']).toBeLessThanOrEqual(3600);
    expect(answer.body['access_token_expires_in']).toBeGreaterThan(3590);
    const at = answer.response.headers.getSetCookie().find((l) => l.startsWith('__Host-th-at='))!;
    expect(at).toContain('Max-Age=3600');
    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.body['access_token_expires_in']).toBeLessThanOrEqual(3600);
  });

  it('expires_in as a numeric string, and 0', async () => {
    const { answer } = await loginWith({ tokenResponse: (b) => void (b['expires_in'] = '300') });
    expect(answer.body['access_token_expires_in']).toBeGreaterThan(290);
    const zero = await loginWith({ tokenResponse: (b) => void (b['expires_in'] = 0) });
    expect(zero.answer.body['access_token_expires_in']).toBe(0);
    // A token the provider says is already expired is never sent upstream.
    expect((await zero.spa.json('GET', '/api/ping')).body['error_code']).toBe('token_expired');
  });

  it('an ID token without kid when the JWKS holds a single key', async () => {
    await loginWith({ idToken: (_c, h) => void delete h['kid'] });
  });

  it('an aud array holding only the client, and an at_hash that matches', async () => {
    await loginWith({ atHash: true, idToken: (c) => void (c['aud'] = [CLIENT_ID]) });
  });
});

describe('refresh against a hostile provider is refused, and keeps no new tokens', () => {
  async function loggedIn() {
    const spa = spaFor(newApp(), recorder);
    const answer = await hostileLogin(spa);
    expect(answer.status).toBe(200);
    return spa;
  }

  const refreshRefusals: Refusal[] = [
    { name: 'a refreshed ID token for another sub (OIDC Core 12.2)', mutators: () => ({ idToken: (c, _h, g) => void (g === 'refresh_token' && (c['sub'] = 'mallory')) }), status: 400, code: 'invalid_request', reason: 'id_token_sub_changed' },
    { name: 'a refreshed ID token from another issuer', mutators: () => ({ idToken: (c) => void (c['iss'] = 'https://evil.example') }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
    { name: 'a refreshed ID token with alg none', mutators: () => ({ signWith: 'none', discovery: advertise('none') }), status: 400, code: 'invalid_request', reason: 'token_response_invalid' },
    { name: 'a refreshed ID token signed by a foreign key', mutators: () => ({ signWith: 'other_key' }), status: 400, code: 'invalid_request', reason: 'id_token_err_jws_signature_verification_failed' },
    { name: 'a refresh answered 503', mutators: () => ({ raw: { token: { status: 503, body: '' } } }), status: 502, code: 'authorization_server_error', reason: 'token_endpoint_503' },
    { name: 'a refresh answered with HTML', mutators: () => ({ raw: { token: { status: 200, contentType: 'text/html', body: '<html></html>' } } }), status: 502, code: 'authorization_server_error', reason: 'token_response_malformed' },
    { name: 'a refresh answered invalid_grant', mutators: () => ({ raw: { token: { status: 400, contentType: 'application/json', body: '{"error":"invalid_grant"}' } } }), status: 401, code: 'session_expired', reason: 'refresh_invalid_grant' },
  ];
  for (const c of refreshRefusals) it(c.name, async () => {
    const spa = await loggedIn();
    const before = new Map([...spa.cookies].map(([k, v]) => [k, v.value]));
    provider.mutators = c.mutators();
    const answer = await spa.json('POST', '/oauth-agent/refresh');
    expectRefused(answer, c.status, c.code, c.reason);
    if (c.code !== 'session_expired') {
      // The old session stays as it was: nothing from the bad answer was stored.
      expect(new Map([...spa.cookies].map(([k, v]) => [k, v.value]))).toEqual(before);
    } else {
      expect(spa.cookies.size).toBe(0);
    }
  });
});

describe('the log', () => {
  it('holds no token, code, secret or cookie value the provider or the token handler made, and no answer does either', () => {
    // Runs last, over every log line and answer of the tests above (those that ran, under a filter).
    sweepForLeaks(recorder, [provider]);
  });
});
