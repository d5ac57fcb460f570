import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { startExampleApi, type ApiRequestInfo, type ExampleApi } from '../../examples/api.js';
import { startDemoProvider, type DemoProvider } from '../../examples/provider.js';
import { loginAtProvider, TestBrowser } from '../helpers/browser.js';

const API_AUDIENCE = 'https://api.example.test';
const REDIRECT_URI = 'https://bff.test/callback';
const CLIENT_ID = 'bff';
const CLIENT_SECRET = 'bff-secret-bff-secret-bff-secret-0123456789';

let op: DemoProvider;
let api: ExampleApi;
const seen: ApiRequestInfo[] = [];
let tokens: { access_token: string; id_token: string; expires_in: number };

async function fetchTokens() {
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${op.issuer}/auth`);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile offline_access',
    state: randomBytes(8).toString('base64url'),
    nonce: randomBytes(8).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  })) {
    authorize.searchParams.set(k, v);
  }
  const callback = await loginAtProvider(new TestBrowser(), authorize, {
    username: 'demo',
    password: 'demo',
    redirectUri: REDIRECT_URI,
  });
  const response = await fetch(`${op.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as typeof tokens;
}

beforeAll(async () => {
  op = await startDemoProvider({
    port: 0,
    apiAudience: API_AUDIENCE,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [REDIRECT_URI],
        post_logout_redirect_uris: ['https://bff.test/'],
      },
    ],
  });
  api = await startExampleApi({
    port: 0,
    issuer: op.issuer,
    audience: API_AUDIENCE,
    onRequest: (info) => seen.push(info),
  });
  tokens = await fetchTokens();
});

afterAll(async () => {
  await api?.close();
  await op?.close();
});

afterEach(() => {
  vi.useRealTimers();
});

function whoami(authorization?: string) {
  return fetch(`${api.url}/api/whoami`, {
    headers: authorization === undefined ? {} : { authorization },
  });
}

async function expectInvalidToken(response: Response) {
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  expect(await response.json()).toEqual({ error: 'invalid_token' });
}

describe('example API: /api/whoami', () => {
  it('listens on 127.0.0.1', () => {
    expect(api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers 401 invalid_token without a token', async () => {
    await expectInvalidToken(await whoami());
  });

  it('answers 401 invalid_token for malformed and foreign tokens', async () => {
    await expectInvalidToken(await whoami('Bearer not-a-jwt'));
    await expectInvalidToken(await whoami(`Basic ${Buffer.from('a:b').toString('base64')}`));
    await expectInvalidToken(await whoami(`Bearer ${tokens.access_token}x`));
    // A token from the right issuer but for another audience (the ID token is for the client).
    await expectInvalidToken(await whoami(`Bearer ${tokens.id_token}`));

    // Right iss and aud, signed by a key the provider never published.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const forged = await new SignJWT({ scope: 'openid' })
      .setProtectedHeader({ alg: 'RS256', kid: 'forged' })
      .setIssuer(op.issuer)
      .setAudience(API_AUDIENCE)
      .setSubject('demo')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    await expectInvalidToken(await whoami(`Bearer ${forged}`));

    // alg "none".
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
    const payload = Buffer.from(
      JSON.stringify({ iss: op.issuer, aud: API_AUDIENCE, sub: 'demo', exp: Math.floor(Date.now() / 1000) + 300 }),
    ).toString('base64url');
    await expectInvalidToken(await whoami(`Bearer ${header}.${payload}.`));
  });

  it('answers 200 with the subject, scope and expiry for a token from the provider', async () => {
    const response = await whoami(`Bearer ${tokens.access_token}`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain(tokens.access_token);
    const body = JSON.parse(text) as { sub: string; scope: string; exp: number; expires_in: number };
    expect(body.sub).toBe('demo');
    expect(body.scope.split(' ')).toEqual(expect.arrayContaining(['openid', 'profile']));
    expect(body.exp).toBeGreaterThan(Date.now() / 1000);
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.expires_in).toBeLessThanOrEqual(300);
    expect(response.headers.get('cache-control')).toBe('no-store');
  });

  it('answers 401 once the token has expired', async () => {
    expect((await whoami(`Bearer ${tokens.access_token}`)).status).toBe(200);
    // Only Date is faked: jose reads the clock from it, sockets and timers keep working.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 60 * 60 * 1000);
    await expectInvalidToken(await whoami(`Bearer ${tokens.access_token}`));
  });
});

describe('example API: /api/echo', () => {
  it('reports what arrived without echoing the Authorization value', async () => {
    const response = await fetch(`${api.url}/api/echo/orders/42?x=1&x=2&y=%20z`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${tokens.access_token}`,
        'x-custom': 'hello',
        cookie: 'other=1',
        'content-type': 'application/json',
      },
      body: JSON.stringify({ a: 1 }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain(tokens.access_token);
    const body = JSON.parse(text) as Record<string, any>;
    expect(body).toMatchObject({
      method: 'PATCH',
      path: '/api/echo/orders/42',
      query: { x: ['1', '2'], y: ' z' },
      search: '?x=1&x=2&y=%20z',
      authorization: 'valid',
      body_size: 7,
    });
    expect(body.headers).toMatchObject({ 'x-custom': 'hello', cookie: 'other=1' });
    expect(body.headers).not.toHaveProperty('authorization');
  });

  it('reports invalid and absent Authorization, and still answers 200', async () => {
    const invalid = await fetch(`${api.url}/api/echo`, { headers: { authorization: 'Bearer secret-looking-value' } });
    expect(invalid.status).toBe(200);
    const invalidText = await invalid.text();
    expect(invalidText).not.toContain('secret-looking-value');
    expect(JSON.parse(invalidText)).toMatchObject({ authorization: 'invalid', path: '/api/echo', method: 'GET' });

    const absent = await fetch(`${api.url}/api/echo`, { method: 'DELETE' });
    expect(await absent.json()).toMatchObject({ authorization: 'absent', method: 'DELETE', body_size: 0 });
  });

  it('counts a 1 MB body', async () => {
    const size = 1024 * 1024;
    const response = await fetch(`${api.url}/api/echo/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array(size).fill(7),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { body_size: number }).body_size).toBe(size);
  });

  it('counts a streamed (chunked) body', async () => {
    const chunk = new Uint8Array(64 * 1024).fill(1);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 16) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${api.url}/api/echo/stream`, {
      method: 'PUT',
      body: stream,
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    const body = (await response.json()) as { body_size: number; headers: Record<string, string> };
    expect(body.body_size).toBe(16 * 64 * 1024);
    expect(body.headers['transfer-encoding']).toBe('chunked');
  });

  it('calls onRequest with what reached it (Authorization included, in-process only)', async () => {
    seen.length = 0;
    await fetch(`${api.url}/api/echo/hook?q=1`, {
      method: 'POST',
      headers: { authorization: 'Bearer abc.def.ghi', 'x-trace': 't1' },
      body: 'hi',
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      path: '/api/echo/hook',
      headers: { authorization: 'Bearer abc.def.ghi', 'x-trace': 't1' },
    });
  });

  it('answers 404 JSON elsewhere', async () => {
    const response = await fetch(`${api.url}/api/other`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'not_found' });
  });
});

describe('example API: lifecycle', () => {
  it('close() stops listening', async () => {
    const temp = await startExampleApi({ port: 0, issuer: op.issuer, audience: API_AUDIENCE });
    expect((await fetch(`${temp.url}/api/echo`)).status).toBe(200);
    await temp.close();
    await expect(fetch(`${temp.url}/api/echo`)).rejects.toThrow();
  });
});
