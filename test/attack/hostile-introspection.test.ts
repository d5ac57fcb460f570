/**
 * Phantom tokens against a provider whose introspection endpoint misbehaves (the hostile-provider
 * TEST DOUBLE), through the real app: for every refusal the contract's error (status, code,
 * shape), the reason in the log, nothing sent upstream, never a 500. Also Curity's
 * `Accept: application/jwt` mode, which only this double speaks (oidc-provider does RFC 9701, see
 * test/app/phantom-token.test.ts), and the cache: hits, both bounds, nothing cached when inactive
 * or failed, one introspection for concurrent calls. The last test sweeps every log line and
 * answer for the tokens and JWTs the provider handed out.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HOSTILE_API_AUDIENCE, startHostileProvider, type HostileProvider, type Mutators } from './hostile-provider.js';
import {
  CLIENT_ID,
  REDIRECT_URI,
  attackApp,
  cookieKeysFor,
  createRecorder,
  expectContractError,
  hostileLogin,
  lastRejection,
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

const INTROSPECT = { TH_API_ROUTE_OPTIONS: '/api=introspect' };
const now = () => Math.floor(Date.now() / 1000);

/** A fresh app (no cached discovery, keys or introspections) and a logged-in SPA. */
async function loggedIn(overrides: Record<string, string> = {}, deps: Parameters<typeof attackApp>[4] = {}, before: Mutators = {}) {
  const app = attackApp(provider, recorder, cookieKeys, { ...INTROSPECT, ...overrides }, deps);
  const spa = spaFor(app, recorder);
  provider.mutators = before;
  const login = await hostileLogin(spa);
  expect(login.status, JSON.stringify(login.body)).toBe(200);
  return spa;
}

const upstreamBearer = () => provider.upstream.at(-1)!.headers['authorization']!.replace(/^Bearer /, '');

interface Refusal {
  readonly name: string;
  readonly mutators: () => Mutators;
  /** Mutators already in place at login (discovery is read then, and cached). */
  readonly before?: () => Mutators;
  readonly status: number;
  readonly code: string;
  readonly reason: string;
  readonly settings?: Record<string, string>;
}

const raw = (status: number, body: string, contentType?: string, chunked?: boolean): Mutators => ({
  raw: { introspect: { status, body, ...(contentType ? { contentType } : {}), ...(chunked ? { chunked } : {}) } },
});
const edit = (change: (claims: Record<string, unknown>, header: Record<string, unknown>) => void): Mutators => ({ introspection: change });
const inner = (change: (details: Record<string, unknown>) => void): Mutators => edit((claims) => change(claims['token_introspection'] as Record<string, unknown>));
const INACTIVE = { status: 401, code: 'unauthorized_request', reason: 'token_inactive' } as const;
const broken = (reason: string) => ({ status: 502, code: 'authorization_server_error', reason }) as const;

const rfc9701Refusals: Refusal[] = [
  // The user's: the token is not active. The SPA refreshes.
  { name: 'a signed answer saying inactive', mutators: () => ({ introspectionInactive: true }), ...INACTIVE },
  { name: 'a plain JSON answer saying inactive (the Accept header ignored)', mutators: () => raw(200, '{"active":false}', 'application/json'), ...INACTIVE },
  { name: 'a 204 (Curity for an inactive token)', mutators: () => raw(204, ''), ...INACTIVE },
  { name: 'active: false inside token_introspection', mutators: () => inner((d) => void (d['active'] = false)), ...INACTIVE },
  // The IdP's: down, broken, or not what was asked for.
  { name: 'a plain JSON answer saying active, with no JWT to forward', mutators: () => raw(200, '{"active":true,"sub":"alice"}', 'application/json'), ...broken('introspection_jwt_missing') },
  { name: 'a 500', mutators: () => raw(500, '{"error":"server_error"}', 'application/json'), ...broken('introspection_endpoint_500') },
  { name: 'a 503 with an HTML page', mutators: () => raw(503, '<html>down</html>', 'text/html'), ...broken('introspection_endpoint_503') },
  { name: 'a 401 invalid_client (our credentials refused)', mutators: () => raw(401, '{"error":"invalid_client"}', 'application/json'), ...broken('introspection_endpoint_401') },
  { name: 'a redirect', mutators: () => raw(302, ''), ...broken('introspection_endpoint_302') },
  { name: 'a 200 with HTML', mutators: () => raw(200, '<html><body>Welcome</body></html>', 'text/html'), ...broken('introspection_response_malformed') },
  { name: 'a 200 with malformed JSON', mutators: () => raw(200, '{"active":', 'application/json'), ...broken('introspection_response_malformed') },
  { name: 'a 200 JSON whose active is not a boolean', mutators: () => raw(200, '{"active":"yes"}', 'application/json'), ...broken('introspection_response_malformed') },
  { name: 'a 200 JSON array', mutators: () => raw(200, '[true]', 'application/json'), ...broken('introspection_response_malformed') },
  { name: 'a 202 with a JWT type', mutators: () => raw(202, 'a.b.c', 'application/token-introspection+jwt'), ...broken('introspection_response_malformed') },
  { name: 'the other JWT media type (application/jwt)', mutators: () => raw(200, 'a.b.c', 'application/jwt'), ...broken('introspection_response_malformed') },
  { name: 'a body that is not UTF-8', mutators: () => ({ raw: { introspect: { status: 200, body: 'eyJ\u00ff.\u00fe.x', contentType: 'application/token-introspection+jwt', latin1: true } } }), ...broken('introspection_response_malformed') },
  { name: 'a JWT media type with no JWT in it', mutators: () => raw(200, 'not a jwt', 'application/token-introspection+jwt'), ...broken('introspection_jwt_malformed') },
  { name: 'an answer of 1 MB (Content-Length declared)', mutators: () => raw(200, 'x'.repeat(1024 * 1024), 'application/token-introspection+jwt'), ...broken('idp_response_too_large') },
  { name: 'an answer of 1 MB streamed without Content-Length', mutators: () => raw(200, 'x'.repeat(1024 * 1024), 'application/token-introspection+jwt', true), ...broken('idp_response_too_large') },
  // A JWT that does not verify: the IdP is broken, not the user (502).
  { name: 'signed by a key not in the JWKS', mutators: () => ({ introspectionSignWith: 'other_key' }), ...broken('introspection_jwt_err_jws_signature_verification_failed') },
  { name: 'alg none', mutators: () => ({ introspectionSignWith: 'none' }), ...broken('introspection_jwt_alg_not_allowed') },
  { name: 'HS256 keyed with the provider public key', mutators: () => ({ introspectionSignWith: 'hs256_public_key' }), ...broken('introspection_jwt_alg_not_allowed') },
  { name: 'typ JWT instead of token-introspection+jwt', mutators: () => edit((_c, h) => void (h['typ'] = 'JWT')), ...broken('introspection_jwt_wrong_typ') },
  { name: 'no typ', mutators: () => edit((_c, h) => void delete h['typ']), ...broken('introspection_jwt_wrong_typ') },
  { name: 'typ logout+jwt', mutators: () => edit((_c, h) => void (h['typ'] = 'logout+jwt')), ...broken('introspection_jwt_wrong_typ') },
  { name: 'another iss', mutators: () => edit((c) => void (c['iss'] = 'https://evil.example')), ...broken('introspection_jwt_err_jwt_claim_validation_failed') },
  { name: 'another aud', mutators: () => edit((c) => void (c['aud'] = 'another-client')), ...broken('introspection_jwt_err_jwt_claim_validation_failed') },
  { name: 'an aud array with an extra audience', mutators: () => edit((c) => void (c['aud'] = [CLIENT_ID, 'another-client'])), ...broken('introspection_jwt_extra_audience') },
  { name: 'no iat', mutators: () => edit((c) => void delete c['iat']), ...broken('introspection_jwt_err_jwt_claim_validation_failed') },
  { name: 'an iat ten minutes old (a replayed answer)', mutators: () => edit((c) => void (c['iat'] = now() - 600)), ...broken('introspection_response_stale') },
  { name: 'an iat in the future', mutators: () => edit((c) => void (c['iat'] = now() + 3600)), ...broken('introspection_jwt_iat_in_future') },
  { name: 'an exp in the past', mutators: () => edit((c) => void (c['exp'] = now() - 600)), ...broken('introspection_jwt_err_jwt_expired') },
  {
    name: 'no token_introspection member (the claims at the top level instead)',
    mutators: () => edit((c) => {
      const details = c['token_introspection'] as Record<string, unknown>;
      delete c['token_introspection'];
      Object.assign(c, { ...details, iss: c['iss'], aud: c['aud'], iat: c['iat'] });
    }),
    ...broken('introspection_response_malformed'),
  },
  { name: 'a token_introspection that is a string', mutators: () => edit((c) => void (c['token_introspection'] = '{"active":true}')), ...broken('introspection_response_malformed') },
  { name: 'a token_introspection without active', mutators: () => inner((d) => void delete d['active']), ...broken('introspection_response_malformed') },
  { name: 'a JWT over 16 KB', mutators: () => edit((c) => void (c['padding'] = 'x'.repeat(20_000))), ...broken('introspection_jwt_too_large') },
  // Discovery, read at login.
  { name: 'metadata without an introspection endpoint', before: () => ({ discovery: (d) => void delete d['introspection_endpoint'] }), mutators: () => ({}), ...broken('introspection_endpoint_missing') },
  { name: 'an http introspection endpoint on a public host', before: () => ({ discovery: (d) => void (d['introspection_endpoint'] = 'http://idp.example.com/introspect') }), mutators: () => ({}), ...broken('introspection_endpoint_missing') },
  { name: 'an introspection endpoint that refuses connections', before: () => ({ discovery: (d) => void (d['introspection_endpoint'] = 'http://127.0.0.1:1/introspect') }), mutators: () => ({}), ...broken('introspection_unreachable') },
];

const jwtModeRefusals: Refusal[] = [
  { name: 'a 204 (inactive)', mutators: () => ({ introspectionInactive: true }), ...INACTIVE },
  { name: 'a plain JSON answer saying inactive', mutators: () => raw(200, '{"active":false}', 'application/json'), ...INACTIVE },
  { name: 'a plain JSON answer saying active', mutators: () => raw(200, '{"active":true}', 'application/json'), ...broken('introspection_jwt_missing') },
  { name: 'the RFC 9701 media type instead', mutators: () => raw(200, 'a.b.c', 'application/token-introspection+jwt'), ...broken('introspection_response_malformed') },
  { name: 'a 503', mutators: () => raw(503, '', 'text/plain'), ...broken('introspection_endpoint_503') },
  { name: 'a phantom JWT signed by a foreign key', mutators: () => ({ introspectionSignWith: 'other_key' }), ...broken('introspection_jwt_err_jws_signature_verification_failed') },
  { name: 'a phantom JWT with alg none', mutators: () => ({ introspectionSignWith: 'none' }), ...broken('introspection_jwt_alg_not_allowed') },
  { name: 'a phantom JWT from another issuer', mutators: () => edit((c) => void (c['iss'] = 'https://evil.example')), ...broken('introspection_jwt_err_jwt_claim_validation_failed') },
  { name: 'an expired phantom JWT', mutators: () => edit((c) => void Object.assign(c, { iat: now() - 3600, exp: now() - 600 })), ...broken('introspection_jwt_err_jwt_expired') },
  { name: 'a phantom JWT without exp', mutators: () => edit((c) => void delete c['exp']), ...broken('introspection_jwt_err_jwt_claim_validation_failed') },
  { name: 'a phantom JWT typed logout+jwt', mutators: () => edit((_c, h) => void (h['typ'] = 'logout+jwt')), ...broken('introspection_jwt_wrong_typ') },
  { name: 'a phantom JWT typed token-introspection+jwt', mutators: () => edit((_c, h) => void (h['typ'] = 'token-introspection+jwt')), ...broken('introspection_jwt_wrong_typ') },
  { name: 'a phantom JWT with an nbf in the future', mutators: () => edit((c) => void (c['nbf'] = now() + 3600)), ...broken('introspection_jwt_err_jwt_claim_validation_failed') },
];

function refusalSuite(title: string, cases: Refusal[], settings: Record<string, string> = {}) {
  describe(title, () => {
    // A loop rather than it.each: it.each clips long names to 40 characters.
    for (const c of cases) it(c.name, async () => {
      const spa = await loggedIn({ ...settings, ...c.settings }, {}, c.before?.() ?? {});
      provider.mutators = { ...c.before?.(), ...c.mutators() };
      const upstreamBefore = provider.upstream.length;
      const answer = await spa.json('GET', '/api/ping');
      expect(answer.status).not.toBe(500);
      expectContractError(answer, c.status, c.code);
      expect(provider.upstream.length, 'nothing goes upstream').toBe(upstreamBefore);
      const logged = lastRejection(recorder);
      expect(logged?.['reason']).toBe(c.reason);
      expect(logged?.['status']).toBe(c.status);
      // A failure is not cached: the next call asks again.
      const calls = provider.count('introspect');
      if (c.before === undefined) {
        await spa.json('GET', '/api/ping');
        expect(provider.count('introspect')).toBe(calls + 1);
      }
    });
  });
}

refusalSuite('RFC 9701 introspection (the default) is refused when the provider misbehaves', rfc9701Refusals);
refusalSuite('application/jwt introspection (TH_INTROSPECTION_FORMAT=jwt) is refused when the provider misbehaves', jwtModeRefusals, { TH_INTROSPECTION_FORMAT: 'jwt' });

describe('a slow introspection endpoint is cut off (TH_IDP_TIMEOUT=1)', () => {
  it('answering after 2.5 s is a 502, and nothing goes upstream', async () => {
    const spa = await loggedIn({ TH_IDP_TIMEOUT: '1' });
    provider.mutators = { delayMs: { introspect: 2500 } };
    const upstreamBefore = provider.upstream.length;
    const answer = await spa.json('GET', '/api/ping');
    expectContractError(answer, 502, 'authorization_server_error');
    expect(lastRejection(recorder)?.['reason']).toBe('introspection_unreachable');
    expect(provider.upstream.length).toBe(upstreamBefore);
  });
});

describe('what is asked and what is forwarded', () => {
  it('RFC 9701: asks with token_type_hint, Accept and client_secret_basic; forwards the signed answer', async () => {
    const spa = await loggedIn();
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.introspections.at(-1)).toEqual({ accept: 'application/token-introspection+jwt', tokenTypeHint: 'access_token', auth: 'basic' });
    const jwt = upstreamBearer();
    expect(provider.secrets.has(jwt)).toBe(true);
    expect(JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString())['typ']).toBe('token-introspection+jwt');
  });

  it('application/jwt: the body is forwarded exactly, whatever API audience it names; client_secret_post works too', async () => {
    const spa = await loggedIn({ TH_INTROSPECTION_FORMAT: 'jwt', TH_CLIENT_AUTH: 'client_secret_post' });
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.introspections.at(-1)).toEqual({ accept: 'application/jwt', tokenTypeHint: 'access_token', auth: 'post' });
    const jwt = upstreamBearer();
    expect(provider.secrets.has(jwt)).toBe(true);
    expect(JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString())['aud']).toBe(HOSTILE_API_AUDIENCE);
  });

  it('routes without the option still send the opaque token as it is', async () => {
    const spa = await loggedIn({ TH_API_ROUTES: `/api=${provider.issuer}/api,/plain=${provider.issuer}/api` });
    const before = provider.count('introspect');
    expect((await spa.json('GET', '/plain/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before);
    expect(upstreamBearer()).toMatch(/^[\w-]{43}$/);
  });

  it('an expired session cookie is refused before any introspection (token_expired)', async () => {
    let clock = Date.now();
    const spa = await loggedIn({}, { now: () => clock });
    clock += 301_000;
    const before = provider.count('introspect');
    const answer = await spa.json('GET', '/api/ping');
    expect(answer.body['error_code']).toBe('token_expired');
    expect(provider.count('introspect')).toBe(before);
  });
});

describe('the introspection cache', () => {
  it('serves later calls from the cache until TH_INTROSPECTION_CACHE_TTL, then asks again', async () => {
    let clock = Date.now();
    const spa = await loggedIn({ TH_INTROSPECTION_CACHE_TTL: '5' }, { now: () => clock });
    const before = provider.count('introspect');
    for (let i = 0; i < 3; i++) expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 1);
    const first = upstreamBearer();
    clock += 4_000;
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 1);
    expect(upstreamBearer()).toBe(first);
    clock += 2_000;
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 2);
  });

  it("never past the token's exp, when that comes first", async () => {
    let clock = Date.now();
    const spa = await loggedIn({ TH_INTROSPECTION_CACHE_TTL: '60' }, { now: () => clock });
    provider.mutators = inner((d) => void (d['exp'] = now() + 10));
    const before = provider.count('introspect');
    clock = Date.now();
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    clock += 8_000;
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 1);
    clock += 5_000;
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 2);
  });

  it('in the application/jwt mode, bounded by the phantom JWT exp', async () => {
    let clock = Date.now();
    const spa = await loggedIn({ TH_INTROSPECTION_FORMAT: 'jwt', TH_INTROSPECTION_CACHE_TTL: '60' }, { now: () => clock });
    provider.mutators = edit((c) => void (c['exp'] = now() + 10));
    const before = provider.count('introspect');
    clock = Date.now();
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    clock += 8_000;
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 1);
    clock += 5_000;
    provider.reset();
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 2);
  });

  it('does not cache an inactive answer', async () => {
    const spa = await loggedIn();
    provider.mutators = { introspectionInactive: true };
    expect((await spa.json('GET', '/api/ping')).status).toBe(401);
    provider.reset();
    expect((await spa.json('GET', '/api/ping')).status).toBe(200);
  });

  it('concurrent calls with one token share one introspection; two sessions get one each', async () => {
    const spa = await loggedIn();
    provider.mutators = { delayMs: { introspect: 200 } };
    const before = provider.count('introspect');
    const answers = await Promise.all(Array.from({ length: 5 }, () => spa.json('GET', '/api/ping')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(provider.count('introspect')).toBe(before + 1);

    const other = spaFor(attackApp(provider, recorder, cookieKeys, INTROSPECT), recorder);
    expect((await hostileLogin(other)).status).toBe(200);
    expect((await other.json('GET', '/api/ping')).status).toBe(200);
    expect((await other.json('GET', '/api/ping')).status).toBe(200);
    expect(provider.count('introspect')).toBe(before + 2);
  });
});

describe('the log', () => {
  it('holds no opaque token, introspection JWT, secret or cookie value, and no answer does either', () => {
    // Runs last, over every log line and answer of the tests above.
    const swept = sweepForLeaks(recorder, [provider]);
    expect(swept.logLines).toBeGreaterThan(100);
    expect([...provider.secrets].filter((s) => s.split('.').length === 3).length, 'introspection JWTs were registered').toBeGreaterThan(10);
  });
});
