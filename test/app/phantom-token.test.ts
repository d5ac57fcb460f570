/**
 * The phantom token pattern (contract §7) against the real oidc-provider issuing opaque access
 * tokens: the `/api` route introspects the session's token (RFC 7662, asking for RFC 9701's signed
 * response), forwards that JWT as the bearer token, and the example API validates it (signature,
 * typ, iss, aud, and the token's own claims). With every client authentication method the agent
 * has, the cache in front of introspection, refresh, and a token revoked at the provider.
 *
 * Runs twice: in Node against the Node app, and in the workerd project (vitest.config.ts) against
 * the Worker inside workerd, where `../helpers/stack.js` is test/runtime/workers/worker-stack.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { parseCookieHeader } from '../../src/core/session/cookie-table.js';
import { SpaClient, startTestStack, type TestStack } from '../helpers/stack.js';

type App = TestStack['app'];

/** The IdP fetch with a record of the introspection requests it sent. */
function recordingFetch() {
  const introspections: { accept: string | null; authorization: string | null; form: URLSearchParams }[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (new URL(url).pathname.endsWith('/introspection')) {
      const headers = new Headers(init?.headers);
      introspections.push({ accept: headers.get('accept'), authorization: headers.get('authorization'), form: new URLSearchParams(init?.body as URLSearchParams) });
    }
    return fetch(input, init);
  };
  return { fetch: fetchFn, introspections };
}

async function opaqueTokenOf(app: App, spa: SpaClient): Promise<string> {
  const at = await app.agent.readAccessToken(parseCookieHeader(spa.cookieHeader('/api')));
  return at!.token;
}

function lastUpstreamBearer(stack: TestStack): string {
  const authorization = stack.upstreamRequests.at(-1)!.headers['authorization']!;
  expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  return authorization.slice('Bearer '.length);
}

describe('phantom tokens with client_secret_basic', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ opaqueAccessTokens: true });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('forwards the signed introspection response, never the opaque token; the API validates it', async () => {
    const idp = recordingFetch();
    const app = stack.makeApp({}, { fetch: idp.fetch });
    const spa = new SpaClient(app);
    expect((await spa.login()).status).toBe(200);
    const opaque = await opaqueTokenOf(app, spa);
    expect(opaque.split('.')).toHaveLength(1);

    const whoami = await spa.json('GET', '/api/whoami');
    expect(whoami.status, JSON.stringify(whoami.body)).toBe(200);
    expect(whoami.body['sub']).toBe('demo');
    expect(String(whoami.body['scope'])).toContain('openid');

    const jwt = lastUpstreamBearer(stack);
    expect(jwt).not.toContain(opaque);
    expect(decodeProtectedHeader(jwt).typ).toBe('token-introspection+jwt');
    const claims = decodeJwt(jwt);
    expect(claims).toMatchObject({ iss: stack.provider.issuer, aud: stack.config.clientId });
    expect(claims['token_introspection']).toMatchObject({ active: true, sub: 'demo', client_id: stack.config.clientId });

    // One introspection, as RFC 7662 and RFC 9701 say, authenticated as the client.
    expect(idp.introspections).toHaveLength(1);
    const [call] = idp.introspections;
    expect(call!.accept).toBe('application/token-introspection+jwt');
    expect(call!.form.get('token_type_hint')).toBe('access_token');
    expect(call!.form.get('token')).toBe(opaque);
    expect(call!.authorization).toMatch(/^Basic /);
    expect(call!.form.has('client_secret')).toBe(false);

    // The answer is cached: the next calls introspect no more.
    expect((await spa.json('GET', '/api/echo')).body['authorization']).toBe('valid');
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect(idp.introspections).toHaveLength(1);

    // Neither the opaque token nor the JWT (nor a 16-character piece of either) in a log line or an answer.
    const logs = stack.logs.join('\n');
    const answers = spa.responses.map((r) => JSON.stringify([r.headers.filter(([name]) => name !== 'set-cookie'), r.body])).join('\n');
    for (const secret of [opaque, jwt]) {
      for (let i = 0; i + 16 <= secret.length; i += 16) {
        expect(logs.includes(secret.slice(i, i + 16))).toBe(false);
        expect(answers.includes(secret.slice(i, i + 16))).toBe(false);
      }
    }
  });

  it('introspects the new token after a refresh', async () => {
    const idp = recordingFetch();
    const app = stack.makeApp({}, { fetch: idp.fetch });
    const spa = new SpaClient(app);
    await spa.login();
    expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    const before = await opaqueTokenOf(app, spa);
    expect((await spa.json('POST', '/oauth-agent/refresh')).status).toBe(200);
    const after = await opaqueTokenOf(app, spa);
    expect(after).not.toBe(before);
    expect((await spa.json('GET', '/api/whoami')).body['sub']).toBe('demo');
    expect(idp.introspections.map((c) => c.form.get('token'))).toEqual([before, after]);
  });

  it('with TH_INTROSPECTION_CACHE_TTL=0 introspects every call', async () => {
    const idp = recordingFetch();
    const app = stack.makeApp({ TH_INTROSPECTION_CACHE_TTL: '0' }, { fetch: idp.fetch });
    const spa = new SpaClient(app);
    await spa.login();
    for (let i = 0; i < 3; i++) expect((await spa.json('GET', '/api/whoami')).status).toBe(200);
    expect(idp.introspections).toHaveLength(3);
  });

  it('a token revoked at the provider is refused (401, nothing upstream) once no cached answer covers it', async () => {
    const caching = stack.makeApp();
    const uncached = stack.makeApp({ TH_INTROSPECTION_CACHE_TTL: '0' });
    const spa = new SpaClient(uncached);
    await spa.login();
    const cookie = spa.cookieHeader('/api');
    const call = (app: App) => new SpaClient(app).json('GET', '/api/whoami', { headers: { cookie } });
    expect((await call(caching)).status).toBe(200);

    // Logout revokes the refresh token, and oidc-provider then revokes the whole grant.
    expect((await spa.json('POST', '/oauth-agent/logout')).status).toBe(200);
    const upstreamBefore = stack.upstreamRequests.length;
    // Another instance, which has no record of the logout in its own store (logout also revokes the
    // session in the store shared by instances that have one): here only introspection can tell.
    const refused = await call(stack.makeApp({ TH_INTROSPECTION_CACHE_TTL: '0' }));
    expect(refused.status).toBe(401);
    expect(refused.body['error_code']).toBe('unauthorized_request');
    expect(stack.upstreamRequests.length).toBe(upstreamBefore);
    const rejected = stack.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((l) => l['msg'] === 'request_rejected').at(-1);
    expect(rejected?.['reason']).toBe('token_inactive');

    // The documented window: an answer already cached is reused until TH_INTROSPECTION_CACHE_TTL.
    expect((await call(caching)).status).toBe(200);
  });
});

describe('phantom tokens with the other client authentication methods', () => {
  it('client_secret_post: the secret in the form, no Authorization header', async () => {
    const stack = await startTestStack({ opaqueAccessTokens: true, client: { token_endpoint_auth_method: 'client_secret_post' }, env: { TH_CLIENT_AUTH: 'client_secret_post' } });
    try {
      const idp = recordingFetch();
      const spa = new SpaClient(stack.makeApp({}, { fetch: idp.fetch }));
      await spa.login();
      expect((await spa.json('GET', '/api/whoami')).body['sub']).toBe('demo');
      expect(idp.introspections).toHaveLength(1);
      expect(idp.introspections[0]!.authorization).toBeNull();
      expect(idp.introspections[0]!.form.get('client_id')).toBe(stack.config.clientId);
      expect(idp.introspections[0]!.form.get('client_secret')).toBe(stack.clientSecret);
    } finally {
      await stack.close();
    }
  });

  it('private_key_jwt: a client assertion for the issuer', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'pkj-phantom', alg: 'ES256', use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid: 'pkj-phantom', alg: 'ES256' };
    const stack = await startTestStack({
      opaqueAccessTokens: true,
      client: { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicJwk as JsonWebKey] } },
      env: { TH_CLIENT_AUTH: 'private_key_jwt', TH_CLIENT_PRIVATE_KEY: JSON.stringify(privateJwk), TH_CLIENT_SECRET: undefined },
    });
    try {
      const idp = recordingFetch();
      const spa = new SpaClient(stack.makeApp({}, { fetch: idp.fetch }));
      await spa.login();
      expect((await spa.json('GET', '/api/whoami')).body['sub']).toBe('demo');
      expect(idp.introspections).toHaveLength(1);
      const form = idp.introspections[0]!.form;
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      expect(decodeJwt(form.get('client_assertion')!)).toMatchObject({ iss: stack.config.clientId, sub: stack.config.clientId, aud: stack.provider.issuer });
    } finally {
      await stack.close();
    }
  });
});
