/**
 * The built Lambda@Edge bundle (npm run build:edge, with its secrets as KMS ciphertext) invoked
 * with CloudFront origin-request and origin-response events: the whole login flow against the real
 * oidc-provider, the API proxy handing rewritten requests back to CloudFront (forwarded here to
 * the real example API), and what the function must refuse on its own.
 */
import type { CloudFrontRequest, CloudFrontResultResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EdgeHandler } from '../../../src/adapters/lambda-edge/handler.js';
import { encryptionContext } from '../../../src/config/kms-secrets.js';
import { logoutAtProvider } from '../../helpers/browser.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import {
  BEHAVIOUR_ORIGIN,
  EdgeSpa,
  ORIGIN_SECRET_HEADER,
  READ_ONLY,
  customOrigin,
  expectAcceptableToCloudFront,
  isGeneratedResponse,
  isRequest,
  loadBuiltHandler,
  originRequestEvent,
  originResponseEvent,
} from './cloudfront.js';
import { FAKE_CREDENTIALS, startFakeKms, type FakeKms } from './fake-kms.js';

const TRUSTED_OTHER_ORIGIN = 'https://app.example.test';
/** Headers CloudFront refuses in a generated response (disallowed or hop-by-hop framing). */
const FORBIDDEN_IN_RESPONSE = /^(?:connection|expect|keep-alive|proxy-.+|trailer|upgrade|transfer-encoding|via|x-accel-.+|x-amz-cf-.+|x-amzn-.+|x-cache|x-edge-.+|x-forwarded-proto|x-real-ip)$/;

let stack: TestStack;
let kms: FakeKms;
let edge: { handler: EdgeHandler; remove(): Promise<void> };
let apiPort: string;
const logs: string[] = [];
const savedEnv = { ...process.env };

beforeAll(async () => {
  stack = await startTestStack();
  kms = await startFakeKms();
  // What Lambda puts in the environment for the SDK's default credential chain (dummies here).
  process.env['AWS_ACCESS_KEY_ID'] = FAKE_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = FAKE_CREDENTIALS.secretAccessKey;
  process.env['AWS_EC2_METADATA_DISABLED'] = 'true';
  apiPort = new URL(stack.api.url).port;
  vi.spyOn(console, 'log').mockImplementation((line: unknown) => void logs.push(String(line)));
  edge = await loadBuiltHandler(
    {
      TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
      TH_TRUSTED_ORIGINS: TRUSTED_OTHER_ORIGIN,
      TH_ISSUER: stack.provider.issuer,
      TH_CLIENT_ID: CLIENT_ID,
      TH_CLIENT_SECRET: `kms:${kms.encrypt(stack.clientSecret, encryptionContext('TH_CLIENT_SECRET'))}`,
      TH_COOKIE_KEYS: `kms:${kms.encrypt(stack.cookieKeys, encryptionContext('TH_COOKIE_KEYS'))}`,
      TH_KMS_KEY_ID: kms.aliasName,
      // A name, as a CloudFront origin must be (localhost is the example API on loopback).
      TH_API_ROUTES: `/api=http://localhost:${apiPort}/api`,
      TH_LOG_LEVEL: 'debug',
    },
    kms.url,
  );
});

afterAll(async () => {
  vi.restoreAllMocks();
  process.env = savedEnv;
  await edge?.remove();
  await kms?.close();
  await stack?.close();
});

function expectAcceptableGeneratedResponse(response: CloudFrontResultResponse): void {
  expect(Number(response.status)).toBeGreaterThanOrEqual(200);
  expect(Number(response.status)).toBeLessThanOrEqual(599);
  for (const [name, entries] of Object.entries(response.headers ?? {})) {
    expect(name).toBe(name.toLowerCase());
    expect(FORBIDDEN_IN_RESPONSE.test(name), `${name} in a generated response`).toBe(false);
    for (const entry of entries) expect(typeof entry.value).toBe('string');
  }
  if (response.status === '204') expect(response.body ?? '').toBe('');
}

const header = (headers: Record<string, { value: string }[]> | undefined, name: string) => headers?.[name]?.map((h) => h.value);

describe('Lambda@Edge: the built handler with CloudFront events', () => {
  it('runs the whole flow: login, session, API through CloudFront, refresh, logout; decrypts once; leaks nothing', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);

    const before = await spa.json('GET', '/oauth-agent/session');
    expect(before.body).toEqual({ is_logged_in: false });
    expect(header(before.exchange.headers, 'content-type')).toEqual(['application/json']);
    expect(header(before.exchange.headers, 'cache-control')).toEqual(['no-store']);

    // The host CloudFront hands over is the behaviour origin's; the redirect URI still comes from
    // TH_PUBLIC_ORIGIN, and the Origin check passes against it.
    const start = await spa.json('POST', '/oauth-agent/login/start');
    expect(start.status).toBe(200);
    expect(header(start.exchange.event.Records[0]!.cf.request.headers, 'host')).toEqual([BEHAVIOUR_ORIGIN]);
    const authorizationUrl = new URL(String(start.body['authorization_url']));
    expect(authorizationUrl.searchParams.get('redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(header(start.exchange.headers, 'set-cookie')).toHaveLength(1);

    const { loginAtProvider } = await import('../../helpers/browser.js');
    const callback = await loginAtProvider(spa.browser, authorizationUrl, { username: 'demo', password: 'demo', redirectUri: `${PUBLIC_ORIGIN}/` });
    const code = callback.searchParams.get('code')!;

    // login/end: the form body arrives base64 in the event; several Set-Cookie come back, one entry each.
    const end = await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
    const sentBody = end.exchange.event.Records[0]!.cf.request.body!;
    expect(sentBody.encoding).toBe('base64');
    expect(Buffer.from(sentBody.data, 'base64').toString()).toBe(new URLSearchParams(Object.fromEntries(callback.searchParams)).toString());
    expect(end.status).toBe(200);
    expect(end.body).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo', aud: CLIENT_ID } });
    const setCookies = header(end.exchange.headers, 'set-cookie')!;
    expect(setCookies.length).toBeGreaterThanOrEqual(4);
    expect(setCookies.find((c) => /^__Host-th-login-[A-Za-z0-9_-]{12}=;/.test(c))).toContain('Max-Age=0');
    for (const name of ['__Host-th-at', '__Secure-th-rt', '__Secure-th-id']) {
      expect(setCookies.filter((c) => c.startsWith(`${name}=`)), name).toHaveLength(1);
    }
    for (const line of setCookies) expect(line).toMatch(/; Secure; HttpOnly; SameSite=Strict$/);

    // Every cookie on its own `cookie` header line.
    const session = await spa.json('GET', '/oauth-agent/session');
    expect(session.exchange.event.Records[0]!.cf.request.headers['cookie']!.length).toBeGreaterThanOrEqual(3);
    expect(session.body).toMatchObject({ is_logged_in: true, id_token_claims: { sub: 'demo' } });

    // The proxy: the function hands the rewritten request back; CloudFront forwards it to the API.
    const whoami = await spa.send('GET', '/api/whoami?view=full', { extraCookies: [['Cookie', 'theme=dark']], headers: [['Authorization', 'Bearer spoofed'], ['X-Forwarded-Proto', 'http']] });
    expect(isRequest(whoami.result)).toBe(true);
    const forwarded = whoami.forwarded!;
    expect(forwarded.uri).toBe('/api/whoami');
    expect(forwarded.querystring).toBe('view=full');
    expect(forwarded.origin).toEqual({
      custom: { domainName: 'localhost', port: Number(apiPort), protocol: 'http', path: '', readTimeout: 30, keepaliveTimeout: 5, sslProtocols: ['TLSv1.2'], customHeaders: {} },
    });
    expect(header(forwarded.headers, 'host')).toEqual([`localhost:${apiPort}`]);
    expect(header(forwarded.headers, 'authorization')![0]).toMatch(/^Bearer ey/);
    expect(header(forwarded.headers, 'cookie')).toEqual(['theme=dark']);
    expect(forwarded.headers['token-handler-version']).toBeUndefined();
    expect(forwarded.headers['x-forwarded-proto']).toBeUndefined();
    expect(header(forwarded.headers, 'x-forwarded-host')).toEqual(['www.example.test']);
    expect(header(forwarded.headers, 'x-forwarded-for')).toEqual(['203.0.113.178']);
    // The behaviour origin's secret header stays with that origin.
    expect(forwarded.headers[ORIGIN_SECRET_HEADER]).toBeUndefined();
    expect(whoami.status).toBe(200);
    expect(JSON.parse(whoami.body)).toMatchObject({ sub: 'demo' });
    const arrived = stack.upstreamRequests.at(-1)!;
    expect(arrived.headers['authorization']).toBe(header(forwarded.headers, 'authorization')![0]);
    expect(arrived.headers['cookie']).toBe('theme=dark');
    const accessToken = arrived.headers['authorization']!.slice('Bearer '.length);

    // A POST body is not in the event (the API behaviour does not include it) and reaches the API whole.
    const echo = await spa.send('POST', '/api/echo', { body: JSON.stringify({ hello: 'world' }), headers: [['Content-Type', 'application/json']] });
    expect(echo.event.Records[0]!.cf.request.body).toBeUndefined();
    expect(echo.status).toBe(200);
    expect(JSON.parse(echo.body)).toMatchObject({ method: 'POST', body_size: 17 });

    const refreshed = await spa.json('POST', '/oauth-agent/refresh');
    expect(refreshed.status).toBe(200);
    expect(refreshed.body['access_token_expires_in']).toBeGreaterThan(200);
    expect(header(refreshed.exchange.headers, 'set-cookie')!.some((c) => c.startsWith('__Secure-th-rt='))).toBe(true);

    const logout = await spa.json('POST', '/oauth-agent/logout');
    expect(logout.status).toBe(200);
    const logoutUrl = new URL(String(logout.body['logout_url']));
    expect(logoutUrl.searchParams.get('post_logout_redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(spa.cookies.size).toBe(0);
    await logoutAtProvider(spa.browser, logoutUrl, { postLogoutRedirectUri: `${PUBLIC_ORIGIN}/` });
    expect((await spa.json('GET', '/oauth-agent/session')).body).toEqual({ is_logged_in: false });

    for (const exchange of spa.exchanges) {
      if (isGeneratedResponse(exchange.result)) expectAcceptableGeneratedResponse(exchange.result);
    }

    // One Decrypt per encrypted setting for the whole cold start, however many requests followed.
    const decrypts = kms.calls.filter((c) => c.target === 'TrentService.Decrypt');
    expect(decrypts.map((c) => (c.body['EncryptionContext'] as Record<string, string>)['setting']).sort()).toEqual(['TH_CLIENT_SECRET', 'TH_COOKIE_KEYS']);
    expect(decrypts.every((c) => c.body['KeyId'] === kms.aliasName)).toBe(true);

    // Nothing secret in the log, nor in any generated response except our own (sealed) cookies.
    const secrets = [stack.clientSecret, stack.cookieKeys.split(':')[1]!, code, accessToken];
    const visible = [
      ...logs,
      ...spa.exchanges.filter((x) => isGeneratedResponse(x.result)).map((x) => x.body + JSON.stringify(x.headers)),
    ].join('\n');
    for (const secret of secrets) expect(visible).not.toContain(secret);
    expect(logs.some((line) => line.includes('"msg":"request"'))).toBe(true);
  });

  it('answers on the edge what the proxy refuses (no session, CSRF), never handing it to CloudFront', async () => {
    const noSession = await edge.handler(originRequestEvent({ method: 'GET', target: '/api/whoami', headers: [['Token-Handler-Version', '1']] }));
    expect(isGeneratedResponse(noSession)).toBe(true);
    expect((noSession as CloudFrontResultResponse).status).toBe('401');
    expect(JSON.parse((noSession as CloudFrontResultResponse).body!)).toMatchObject({ error_code: 'unauthorized_request' });

    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    expect((await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status).toBe(200);
    const withoutCsrfHeader = await edge.handler(
      originRequestEvent({ method: 'POST', target: '/api/echo', headers: [['Origin', PUBLIC_ORIGIN], ...spa.cookieLines('/api/echo')], body: '{}' }),
    );
    expect((withoutCsrfHeader as CloudFrontResultResponse).status).toBe('401');
    expect(JSON.parse((withoutCsrfHeader as CloudFrontResultResponse).body!)).toMatchObject({ error_code: 'unauthorized_request' });
    const fromElsewhere = await edge.handler(
      originRequestEvent({ method: 'POST', target: '/api/echo', headers: [['Token-Handler-Version', '1'], ['Origin', 'https://evil.example'], ...spa.cookieLines('/api/echo')], body: '{}' }),
    );
    expect((fromElsewhere as CloudFrontResultResponse).status).toBe('401');
    // The same request with the header and a trusted Origin is handed to CloudFront.
    const allowed = await edge.handler(
      originRequestEvent({ method: 'POST', target: '/api/echo', headers: [['Token-Handler-Version', '1'], ['Origin', PUBLIC_ORIGIN], ...spa.cookieLines('/api/echo')], body: '{}' }),
    );
    expect(isRequest(allowed)).toBe(true);

    // A traversal in the URI as CloudFront received it is refused, though URL parsing would hide it.
    const traversal = await edge.handler(originRequestEvent({ method: 'GET', target: '/api/%2e%2e/oauth-agent/session', headers: spa.cookieLines('/api/x') }));
    expect((traversal as CloudFrontResultResponse).status).toBe('400');
    expect(JSON.parse((traversal as CloudFrontResultResponse).body!)).toMatchObject({ error_code: 'invalid_request' });
  });

  it('refuses a truncated body on the agent with a 413, and lets CloudFront forward a proxied one whole', async () => {
    const form = new URLSearchParams({ code: 'c'.repeat(20), state: 's'.repeat(43) }).toString();
    const headers: [string, string][] = [['Token-Handler-Version', '1'], ['Origin', PUBLIC_ORIGIN], ['Content-Type', 'application/x-www-form-urlencoded']];
    const truncated = (await edge.handler(originRequestEvent({ method: 'POST', target: '/oauth-agent/login/end', headers, body: form, truncated: true }))) as CloudFrontResultResponse;
    expect(truncated.status).toBe('413');
    expect(JSON.parse(truncated.body!)).toEqual({ error_code: 'request_too_large', detailed_error: 'The request body is too large' });
    expect(header(truncated.headers, 'content-type')).toEqual(['application/json']);
    expectAcceptableGeneratedResponse(truncated);
    expect(logs.some((line) => line.includes('"reason":"body_truncated"'))).toBe(true);
    // The same body, whole, is read (and refused for its unknown state, not for its size).
    const whole = (await edge.handler(originRequestEvent({ method: 'POST', target: '/oauth-agent/login/end', headers, body: form }))) as CloudFrontResultResponse;
    expect(whole.status).toBe('400');

    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
    const bigUpload = originRequestEvent(
      { method: 'PUT', target: '/api/echo', headers: [...headers, ...spa.cookieLines('/api/echo')], body: 'x'.repeat(2048), truncated: true },
      { includeBody: true, origin: customOrigin() },
    );
    const original = structuredClone(bigUpload.Records[0]!.cf.request);
    const passed = await edge.handler(bigUpload);
    expect(isRequest(passed)).toBe(true);
    expectAcceptableToCloudFront(original, passed as CloudFrontRequest);
  });

  it('switches an S3 behaviour origin to the upstream, keeps custom headers only for the same host, and never duplicates them', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
    const headers: [string, string][] = [['Token-Handler-Version', '1'], ...spa.cookieLines('/api/whoami')];

    const fromS3 = originRequestEvent(
      { method: 'GET', target: '/api/whoami', headers },
      { includeBody: false, origin: { s3: { authMethod: 'none', customHeaders: {}, domainName: 'spa-bucket.s3.amazonaws.com', path: '' } } },
    );
    const original = structuredClone(fromS3.Records[0]!.cf.request);
    const switched = (await edge.handler(fromS3)) as CloudFrontRequest;
    expectAcceptableToCloudFront(original, switched);
    expect(switched.origin).toEqual({ custom: expect.objectContaining({ domainName: 'localhost', port: Number(apiPort) }) });

    const sameHostOrigin = customOrigin({ [ORIGIN_SECRET_HEADER]: [{ key: 'X-Origin-Verify', value: 'behaviour-origin-secret' }] });
    sameHostOrigin.custom!.domainName = 'localhost';
    const sameHost = originRequestEvent({ method: 'GET', target: '/api/whoami', headers: [...headers, ['X-Origin-Verify', 'spoofed-by-viewer']] }, { includeBody: false, origin: sameHostOrigin });
    const kept = (await edge.handler(sameHost)) as CloudFrontRequest;
    expect(kept.origin?.custom?.customHeaders).toEqual({ [ORIGIN_SECRET_HEADER]: [{ key: 'X-Origin-Verify', value: 'behaviour-origin-secret' }] });
    expect(kept.headers[ORIGIN_SECRET_HEADER]).toBeUndefined();
  });

  it('keeps the read-only headers of an origin-request event exactly as they came', async () => {
    const spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
    const callback = await spa.loginAtProvider();
    await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) });
    const event = originRequestEvent({
      method: 'GET',
      target: '/api/whoami',
      headers: [
        ['Token-Handler-Version', '1'],
        ['Accept-Encoding', 'gzip'],
        ['Accept-Encoding', 'br'],
        ['If-None-Match', '"a"'],
        ['If-None-Match', '"b"'],
        ['If-Modified-Since', 'Wed, 21 Oct 2026 07:28:00 GMT'],
        ['Content-Length', '0'],
        ...spa.cookieLines('/api/whoami'),
      ],
    });
    const original = structuredClone(event.Records[0]!.cf.request);
    const returned = (await edge.handler(event)) as CloudFrontRequest;
    for (const name of READ_ONLY) expect(returned.headers[name], name).toEqual(original.headers[name]);
    expect(returned.headers['if-none-match']).toHaveLength(2);
  });

  it('on origin-response, drops Set-Cookie and Clear-Site-Data touching our cookies and adds CORS for a trusted origin', async () => {
    const forwarded = originRequestEvent({ method: 'GET', target: '/api/x', headers: [['Origin', TRUSTED_OTHER_ORIGIN]] }).Records[0]!.cf.request;
    const upstream = new Response('{}', { status: 200, headers: { 'content-type': 'application/json', 'clear-site-data': '"cookies"', 'access-control-allow-origin': '*' } });
    upstream.headers.append('set-cookie', '__Host-th-at=planted; Path=/; Secure');
    upstream.headers.append('set-cookie', '__Secure-th-rt.0=planted; Path=/oauth-agent; Secure');
    upstream.headers.append('set-cookie', 'api-session=kept; Path=/api; Secure');
    const event = await originResponseEvent(forwarded, upstream);
    event.Records[0]!.cf.response.headers['via'] = [{ key: 'Via', value: '1.1 origin' }];
    const response = (await edge.handler(event)) as { headers: Record<string, { value: string }[]>; status: string };
    expect(response.status).toBe('200');
    expect(header(response.headers, 'set-cookie')).toEqual(['api-session=kept; Path=/api; Secure']);
    expect(response.headers['clear-site-data']).toBeUndefined();
    expect(header(response.headers, 'via')).toEqual(['1.1 origin']);
    expect(header(response.headers, 'content-type')).toEqual(['application/json']);
    expect(header(response.headers, 'access-control-allow-origin')).toEqual([TRUSTED_OTHER_ORIGIN]);
    expect(header(response.headers, 'access-control-allow-credentials')).toEqual(['true']);
  });

  it('is a Node 24-safe handler (at most two parameters, no callback)', () => {
    expect(edge.handler.length).toBeLessThanOrEqual(2);
  });
});
