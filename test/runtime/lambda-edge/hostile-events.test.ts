/**
 * The outside review's header findings (issue 11, findings 2 to 6 and 8) on Lambda@Edge: the built
 * bundle invoked with CloudFront origin-request and origin-response events. Above all finding 3: an
 * event may hold any character in a header value (`lang=日本`, an emoji User-Agent), which a Fetch
 * `Headers` refuses; the function must answer as usual, hand CloudFront the value as it came, and
 * answer a header no `Headers` can hold with the contract's 400, never a function error.
 */
import http from 'node:http';
import type { CloudFrontRequest, CloudFrontResultResponse } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EdgeHandler, EdgeResult } from '../../../src/adapters/lambda-edge/handler.js';
import { CLIENT_ID, PUBLIC_ORIGIN, startTestStack, type TestStack } from '../../helpers/stack.js';
import { EdgeSpa, expectAcceptableToCloudFront, isGeneratedResponse, isRequest, loadBuiltHandler, originRequestEvent, originResponseEvent } from './cloudfront.js';

let stack: TestStack;
let edge: { handler: EdgeHandler; remove(): Promise<void> };
let spa: EdgeSpa;
let apiPort: string;

beforeAll(async () => {
  stack = await startTestStack();
  apiPort = new URL(stack.api.url).port;
  // Plaintext secrets: this file is about headers, not KMS (handler.test.ts covers that).
  edge = await loadBuiltHandler({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: stack.provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: stack.clientSecret,
    TH_COOKIE_KEYS: stack.cookieKeys,
    TH_API_ROUTES: `/api=http://localhost:${apiPort}/api,/docs=http://localhost:${apiPort}/docs`,
    TH_API_ROUTE_OPTIONS: '/docs=allow-sniffing',
    TH_LOG_LEVEL: 'warn',
  });
  spa = new EdgeSpa(edge.handler, PUBLIC_ORIGIN);
  const callback = await spa.loginAtProvider();
  expect((await spa.json('POST', '/oauth-agent/login/end', { form: Object.fromEntries(callback.searchParams) })).status).toBe(200);
});

afterAll(async () => {
  await edge?.remove();
  await stack?.close();
});

const at = () => spa.cookies.get('__Host-th-at')!.value;
const values = (headers: Record<string, { value: string }[]> | undefined, name: string) => headers?.[name]?.map((h) => h.value);
const upstreamCount = () => stack.upstreamRequests.length;

/** An origin-request event for the API with the session, plus these header lines. */
function apiEvent(target: string, headers: [string, string][] = [], method = 'GET') {
  return originRequestEvent({ method, target, headers: [['Token-Handler-Version', '1'], ['Cookie', `__Host-th-at=${at()}`], ...headers] });
}

function expectJsonError(result: EdgeResult, status: string, code: string) {
  expect(isGeneratedResponse(result), 'answered by the function').toBe(true);
  const response = result as CloudFrontResultResponse;
  expect(response.status).toBe(status);
  expect(values(response.headers, 'content-type')).toEqual(['application/json']);
  expect((JSON.parse(response.body!) as { error_code: string }).error_code).toBe(code);
}

/** CloudFront forwarding a returned request as HTTP does: header values go out as their UTF-8 bytes. */
function forwardAsUtf8(returned: CloudFrontRequest): Promise<number> {
  const origin = returned.origin!.custom!;
  const headers: [string, string][] = [];
  for (const [name, entries] of Object.entries(returned.headers)) {
    if (name === 'content-length' || name === 'transfer-encoding') continue;
    for (const { value } of entries) headers.push([name, Buffer.from(value, 'utf8').toString('latin1')]);
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: origin.port, method: returned.method, path: returned.uri, headers: headers.flat(), agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('header values outside Latin-1 (finding 3)', () => {
  const unrelated: [string, string][] = [
    ['Cookie', 'lang=日本'],
    ['User-Agent', 'Mozilla/5.0 😀'],
    ['Accept-Language', 'ja-JP,日本語'],
  ];

  it('the agent answers as usual: a tossed lang=日本 cookie on the parent domain breaks nothing', async () => {
    const session = await spa.json('GET', '/oauth-agent/session', { headers: unrelated });
    expect(session.status).toBe(200);
    expect(session.body).toMatchObject({ is_logged_in: true });
    const refresh = await spa.json('POST', '/oauth-agent/refresh', { headers: unrelated });
    expect(refresh.status).toBe(200);
  });

  it('a proxied call goes to CloudFront with the values exactly as they came, and the API gets the same bytes', async () => {
    const event = apiEvent('/api/echo', unrelated);
    const original = structuredClone(event.Records[0]!.cf.request);
    const result = await edge.handler(event);
    expect(isRequest(result)).toBe(true);
    const returned = result as CloudFrontRequest;
    expectAcceptableToCloudFront(original, returned);
    expect(values(returned.headers, 'cookie')).toEqual(['lang=日本']);
    expect(values(returned.headers, 'user-agent')).toEqual(['Mozilla/5.0 😀']);
    expect(values(returned.headers, 'accept-language')).toEqual(['ja-JP,日本語']);
    expect(values(returned.headers, 'authorization')![0]).toMatch(/^Bearer ey/);
    // The event the function was given is left as it came.
    expect(event.Records[0]!.cf.request.headers['user-agent']).toEqual(original.headers['user-agent']);

    const before = upstreamCount();
    expect(await forwardAsUtf8(returned)).toBe(200);
    const arrived = stack.upstreamRequests.slice(before)[0]!.headers;
    expect(Buffer.from(arrived['cookie']!, 'latin1').toString('utf8')).toBe('lang=日本');
    expect(Buffer.from(arrived['user-agent']!, 'latin1').toString('utf8')).toBe('Mozilla/5.0 😀');
  });

  it('keeps a read-only header holding such a value exactly as it came', async () => {
    const event = apiEvent('/api/echo', [['If-None-Match', '"日本"'], ['Accept-Encoding', 'gzip']]);
    const original = structuredClone(event.Records[0]!.cf.request);
    const returned = (await edge.handler(event)) as CloudFrontRequest;
    expect(returned.headers['if-none-match']).toEqual(original.headers['if-none-match']);
    expectAcceptableToCloudFront(original, returned);
  });

  it.each([
    ['a NUL in a value', 'X-Note', 'a\u0000b'],
    ['a line break in a value', 'X-Note', 'a\r\nX-Injected: 1'],
    ['a name outside the token set', 'X Bad', 'v'],
    ['a non-ASCII name', 'X-日本', 'v'],
  ])('answers %s with 400 invalid_request in JSON, on the agent and the API', async (_label, name, value) => {
    const before = upstreamCount();
    expectJsonError(await edge.handler(apiEvent('/api/echo', [[name, value]])), '400', 'invalid_request');
    expectJsonError(await edge.handler(originRequestEvent({ method: 'GET', target: '/oauth-agent/session', headers: [[name, value]] })), '400', 'invalid_request');
    expect(upstreamCount()).toBe(before);
  });

  it('on origin-response, passes such headers through and still judges a Set-Cookie that holds one', async () => {
    const forwarded = apiEvent('/api/x').Records[0]!.cf.request;
    const event = await originResponseEvent(forwarded, new Response('{}', { headers: { 'content-type': 'application/json' } }));
    event.Records[0]!.cf.response.headers['content-disposition'] = [{ key: 'Content-Disposition', value: 'attachment; filename="日本.txt"' }];
    event.Records[0]!.cf.response.headers['set-cookie'] = [
      { key: 'Set-Cookie', value: 'lang=日本; Path=/' },
      { key: 'Set-Cookie', value: '\u2000__Host-th-at=planted; Path=/' },
      { key: 'Set-Cookie', value: 'bad=a\u0000b' },
    ];
    const response = (await edge.handler(event)) as { status: string; headers: Record<string, { value: string }[]> };
    expect(response.status).toBe('200');
    expect(values(response.headers, 'content-disposition')).toEqual(['attachment; filename="日本.txt"']);
    expect(values(response.headers, 'set-cookie')).toEqual(['lang=日本; Path=/']);
  });
});

describe('cookie names with Unicode whitespace (finding 2)', () => {
  it.each([
    ['U+00A0', '\u00a0'],
    ['U+2000', '\u2000'],
    ['U+FEFF', '\ufeff'],
    ['U+3000', '\u3000'],
    ['U+200B', '\u200b'],
    ['a vertical tab', '\u000b'],
  ])('does not read %s before __Host-th-at as the session', async (_label, pad) => {
    const before = upstreamCount();
    for (const cookie of [`${pad}__Host-th-at=${at()}`, `__Host-th-at${pad}=${at()}`]) {
      const event = originRequestEvent({ method: 'GET', target: '/api/echo', headers: [['Token-Handler-Version', '1'], ['Cookie', cookie]] });
      expectJsonError(await edge.handler(event), '401', 'unauthorized_request');
    }
    expect(upstreamCount()).toBe(before);
  });

  it('uses the genuine cookie beside look-alikes, and hands none of them to CloudFront', async () => {
    const event = apiEvent('/api/echo', [['Cookie', `\u00a0__Host-th-at=planted; __HOST-th-at.0=planted; theme=dark; \u2000__Secure-th-rt=planted`]]);
    const returned = await edge.handler(event);
    expect(isRequest(returned)).toBe(true);
    expect(values((returned as CloudFrontRequest).headers, 'cookie')).toEqual(['theme=dark']);
  });
});

describe('the other findings on Lambda@Edge', () => {
  it('drops a nameless Set-Cookie that would come back as ours on origin-response (finding 4)', async () => {
    const upstream = new Response('{}', { headers: { 'content-type': 'application/json' } });
    for (const line of ['=__Host-th-at=planted', '  =__Host-th-at=planted', '=__Host-th-at.0=planted', '=__Secure-th-rt=planted; Path=/oauth-agent', '__Host-th-at; Path=/', 'app=1']) {
      upstream.headers.append('set-cookie', line);
    }
    const event = await originResponseEvent(apiEvent('/api/x').Records[0]!.cf.request, upstream);
    event.Records[0]!.cf.response.headers['set-cookie']!.push({ key: 'Set-Cookie', value: '=\u00a0__Host-th-at=planted' });
    const response = (await edge.handler(event)) as { headers: Record<string, { value: string }[]> };
    expect(values(response.headers, 'set-cookie')).toEqual(['app=1']);
  });

  it('hands CloudFront no URL, host or method override header (finding 5)', async () => {
    const overrides = ['X-Original-URL', 'X-Rewrite-URL', 'X-Override-URL', 'X-Original-URI', 'X-Forwarded-Uri', 'X-Host', 'X-Original-Host', 'X-Envoy-Original-Path', 'X-Middleware-Subrequest', 'X-HTTP-Method-Override'];
    const returned = (await edge.handler(apiEvent('/api/echo', overrides.map((name) => [name, '/admin'] as [string, string])))) as CloudFrontRequest;
    expect(isRequest(returned)).toBe(true);
    for (const name of overrides) expect(returned.headers[name.toLowerCase()], name).toBeUndefined();
  });

  it.each(['/api/a/..%20/x', '/api/a/..%2e%20/x', '/api/a/...', '/api/a/..%20./x', '/api/..::$INDEX_ALLOCATION/x'])('refuses the IIS dot segment %s with 400 (finding 6)', async (target) => {
    expectJsonError(await edge.handler(apiEvent(target)), '400', 'invalid_request');
  });

  it('adds nosniff on origin-response, except for an allow-sniffing route (finding 8)', async () => {
    // Through CloudFront: the origin-response event holds the request as the function forwarded it.
    const api = await spa.send('GET', '/api/echo');
    expect(api.status).toBe(200);
    expect(values(api.headers, 'x-content-type-options')).toEqual(['nosniff']);
    const docs = await spa.send('GET', '/docs/page');
    expect(isRequest(docs.result)).toBe(true);
    expect(docs.headers['x-content-type-options']).toBeUndefined();

    // With the viewer's path in the event instead, the same routes are found.
    const html = () => new Response('<p>hi</p>', { headers: { 'content-type': 'text/html', 'x-content-type-options': 'sniff' } });
    const viaViewerPath = async (target: string) =>
      ((await edge.handler(await originResponseEvent(apiEvent(target).Records[0]!.cf.request, html()))) as { headers: Record<string, { value: string }[]> }).headers;
    expect(values(await viaViewerPath('/api/page'), 'x-content-type-options')).toEqual(['nosniff']);
    expect(values(await viaViewerPath('/docs/page'), 'x-content-type-options')).toEqual(['sniff']);
    expect(values(await viaViewerPath('/elsewhere'), 'x-content-type-options')).toEqual(['nosniff']);
  });
});
