/**
 * CloudFront's side of a Lambda@Edge invocation, for tests: origin-request events built from the
 * documented event shape (fixtures/origin-request.json, the example in AWS's "Lambda@Edge event
 * structure" page), the checks CloudFront applies to what a function returns (read-only and
 * disallowed headers, custom-origin fields), and the forwarding of a returned request to its
 * origin. CloudFront itself cannot run here, so this is a hand-made FAKE of it, kept to the
 * documented rules; the function under test is the real built bundle.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type {
  CloudFrontHeaders,
  CloudFrontOrigin,
  CloudFrontRequest,
  CloudFrontRequestEvent,
  CloudFrontResponseEvent,
  CloudFrontResultResponse,
} from 'aws-lambda';
import { expect } from 'vitest';
import { buildEdge } from '../../../scripts/build-edge.js';
import type { EdgeHandler, EdgeResult } from '../../../src/adapters/lambda-edge/handler.js';
import { TestBrowser, loginAtProvider } from '../../helpers/browser.js';

const FIXTURE = readFileSync(new URL('./fixtures/origin-request.json', import.meta.url), 'utf8');

/** The host of the origin configured on the token handler's behaviours (never the API's). */
export const BEHAVIOUR_ORIGIN = 'origin.example.test';
/** A secret the behaviour's origin carries as a custom header; it must never reach another host. */
export const ORIGIN_SECRET_HEADER = 'x-origin-verify';

export const READ_ONLY = ['accept-encoding', 'content-length', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since', 'transfer-encoding', 'via'];
const DISALLOWED = /^(?:connection|expect|keep-alive|proxy-authenticate|proxy-authorization|proxy-connection|trailer|upgrade|x-accel-.+|x-amz-cf-.+|x-amzn-.+|x-cache|x-edge-.+|x-forwarded-proto|x-real-ip)$/;

export interface ViewerRequest {
  readonly method: string;
  /** Path and query, as the browser sent them. */
  readonly target: string;
  /** Header lines in order, original case; a name may repeat (several `cookie` lines). */
  readonly headers?: readonly (readonly [string, string])[];
  readonly body?: string;
  /** Marks the exposed body as cut short, as CloudFront does past 1 MB. */
  readonly truncated?: boolean;
}

export interface Behaviour {
  readonly includeBody: boolean;
  readonly origin: CloudFrontOrigin;
}

export function customOrigin(customHeaders: CloudFrontHeaders = {}): CloudFrontOrigin {
  return {
    custom: {
      customHeaders,
      domainName: BEHAVIOUR_ORIGIN,
      keepaliveTimeout: 5,
      path: '',
      port: 443,
      protocol: 'https',
      readTimeout: 30,
      sslProtocols: ['TLSv1.2'],
    },
  };
}

/** The deployment the templates describe: body included on the agent behaviour only. */
export function deployedBehaviour(target: string): Behaviour {
  return target.startsWith('/api')
    ? { includeBody: false, origin: customOrigin({ [ORIGIN_SECRET_HEADER]: [{ key: 'X-Origin-Verify', value: 'behaviour-origin-secret' }] }) }
    : { includeBody: true, origin: customOrigin() };
}

/** An origin-request event for a viewer request, as CloudFront hands it to the function. */
export function originRequestEvent(viewer: ViewerRequest, behaviour: Behaviour = deployedBehaviour(viewer.target)): CloudFrontRequestEvent {
  const event = JSON.parse(FIXTURE) as CloudFrontRequestEvent;
  const record = event.Records[0]!.cf;
  (record.config as { requestId: string }).requestId = crypto.randomUUID();
  const request = record.request;
  const q = viewer.target.indexOf('?');
  request.uri = q < 0 ? viewer.target : viewer.target.slice(0, q);
  request.querystring = q < 0 ? '' : viewer.target.slice(q + 1);
  (request as { method: string }).method = viewer.method;
  request.origin = behaviour.origin;
  // What CloudFront sets itself: the origin's Host (AllViewerExceptHostHeader), Via and X-Forwarded-For.
  const headers: CloudFrontHeaders = {
    host: [{ key: 'Host', value: behaviour.origin.custom?.domainName ?? behaviour.origin.s3!.domainName }],
    via: request.headers['via']!,
    'x-forwarded-for': request.headers['x-forwarded-for']!,
  };
  for (const [name, value] of viewer.headers ?? []) {
    const key = name.toLowerCase();
    if (key === 'host' || key === 'via') continue;
    (headers[key] ??= []).push({ key: name, value });
  }
  if (viewer.body !== undefined && viewer.method !== 'GET' && viewer.method !== 'HEAD') {
    headers['content-length'] = [{ key: 'Content-Length', value: String(Buffer.byteLength(viewer.body)) }];
    if (behaviour.includeBody) {
      request.body = { action: 'read-only', encoding: 'base64', inputTruncated: viewer.truncated ?? false, data: Buffer.from(viewer.body).toString('base64') };
    }
  }
  request.headers = headers;
  return event;
}

export function isGeneratedResponse(result: EdgeResult): result is CloudFrontResultResponse {
  return 'status' in result && !('uri' in result);
}

export function isRequest(result: EdgeResult): result is CloudFrontRequest {
  return 'uri' in result;
}

/** CloudFront's validation of a returned request (a failure is a 502 for the viewer there). */
export function expectAcceptableToCloudFront(original: CloudFrontRequest, returned: CloudFrontRequest): void {
  for (const name of READ_ONLY) expect(returned.headers[name], `read-only header ${name}`).toEqual(original.headers[name]);
  for (const [name, entries] of Object.entries(returned.headers)) {
    expect(name, 'header keys are lower case').toBe(name.toLowerCase());
    expect(DISALLOWED.test(name), `disallowed header ${name}`).toBe(false);
    expect(entries.length).toBeGreaterThan(0);
    for (const entry of entries) {
      expect(typeof entry.value).toBe('string');
      if (entry.key !== undefined) expect(entry.key.toLowerCase()).toBe(name);
    }
  }
  expect(returned.method).toBe(original.method);
  expect(returned.body).toEqual(original.body);
  expect(returned.uri.startsWith('/')).toBe(true);
  expect(returned.uri.length + returned.querystring.length).toBeLessThan(8192);
  expect(/[\s#]/.test(returned.querystring)).toBe(false);
  const custom = returned.origin?.custom;
  expect(custom, 'a custom origin').toBeDefined();
  expect(returned.origin?.s3).toBeUndefined();
  expect(custom!.domainName).toMatch(/^[a-z0-9.-]{1,253}$/);
  expect(['http', 'https']).toContain(custom!.protocol);
  expect(custom!.port === 80 || custom!.port === 443 || (custom!.port >= 1024 && custom!.port <= 65535)).toBe(true);
  expect(custom!.readTimeout).toBeGreaterThanOrEqual(4);
  expect(custom!.readTimeout).toBeLessThanOrEqual(60);
  expect(custom!.keepaliveTimeout).toBeGreaterThanOrEqual(1);
  expect(custom!.keepaliveTimeout).toBeLessThanOrEqual(60);
  expect(custom!.path === '' || (custom!.path.startsWith('/') && !custom!.path.endsWith('/'))).toBe(true);
  for (const name of Object.keys(custom!.customHeaders)) expect(returned.headers[name], `${name} both a custom and a request header`).toBeUndefined();
}

/** CloudFront forwarding a returned request: to its origin, with the viewer's whole original body. */
export async function forwardToOrigin(returned: CloudFrontRequest, viewerBody: string | undefined): Promise<Response> {
  const origin = returned.origin!.custom!;
  const url = `${origin.protocol}://${origin.domainName}:${origin.port}${origin.path}${returned.uri}${returned.querystring ? `?${returned.querystring}` : ''}`;
  const headers = new Headers();
  for (const [name, entries] of Object.entries({ ...returned.headers, ...origin.customHeaders })) {
    // CloudFront frames the connection itself (fetch refuses these anyway).
    if (name === 'host' || name === 'content-length' || name === 'transfer-encoding') continue;
    for (const { value } of entries) headers.append(name, value);
  }
  const hasBody = returned.method !== 'GET' && returned.method !== 'HEAD' && viewerBody !== undefined;
  return fetch(url, { method: returned.method, headers, redirect: 'manual', ...(hasBody ? { body: viewerBody } : {}) });
}

/** The origin-response event CloudFront builds from the origin's answer to a forwarded request. */
export async function originResponseEvent(forwarded: CloudFrontRequest, response: Response): Promise<CloudFrontResponseEvent> {
  const headers: CloudFrontHeaders = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = [{ key: name, value }];
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies.map((value) => ({ key: 'Set-Cookie', value }));
  return {
    Records: [
      {
        cf: {
          config: { distributionDomainName: 'd111111abcdef8.cloudfront.net', distributionId: 'EDFDVBD6EXAMPLE', eventType: 'origin-response', requestId: crypto.randomUUID() },
          request: forwarded,
          response: { status: String(response.status), statusDescription: response.statusText, headers },
        },
      },
    ],
  };
}

/** Builds the real bundle for these settings into a temporary directory and loads its handler. */
export async function loadBuiltHandler(settings: Record<string, string>, testKmsEndpoint?: string): Promise<{ handler: EdgeHandler; dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'th-edge-'));
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(settings));
  // Under a node_modules directory, vitest loads the bundle as Node would (no transform of 450 KB).
  const { bundlePath } = await buildEdge({ configPath, outDir: join(dir, 'node_modules', 'edge'), ...(testKmsEndpoint ? { testKmsEndpoint } : {}) });
  const module = (await import(pathToFileURL(bundlePath).href)) as { handler: EdgeHandler };
  return { handler: module.handler, dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface EdgeExchange {
  readonly event: CloudFrontRequestEvent;
  readonly result: EdgeResult;
  /** Set when the function handed the request back to CloudFront. */
  readonly forwarded?: CloudFrontRequest;
  readonly status: number;
  /** The generated response's headers, or the origin's after the origin-response trigger. */
  readonly headers: CloudFrontHeaders;
  readonly body: string;
}

/** The SPA's browser talking to the distribution: a cookie jar, and CloudFront around the function. */
export class EdgeSpa {
  readonly cookies = new Map<string, { value: string; path: string }>();
  readonly browser = new TestBrowser();
  readonly exchanges: EdgeExchange[] = [];

  constructor(
    private readonly handler: EdgeHandler,
    private readonly publicOrigin: string,
  ) {}

  /** Each cookie on its own `cookie` header line, as HTTP/2 browsers send them. */
  cookieLines(path: string): [string, string][] {
    return [...this.cookies]
      .filter(([, c]) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : c.path + '/'))
      .map(([name, c]) => ['Cookie', `${name}=${c.value}`]);
  }

  async send(
    method: string,
    target: string,
    init: { form?: Record<string, string>; body?: string; headers?: [string, string][]; truncated?: boolean; extraCookies?: [string, string][] } = {},
  ): Promise<EdgeExchange> {
    const body = init.form ? new URLSearchParams(init.form).toString() : init.body;
    const headers: [string, string][] = [
      ['Token-Handler-Version', '1'],
      ['Sec-Fetch-Site', 'same-origin'],
      ['Accept', 'application/json'],
      ...(method !== 'GET' && method !== 'HEAD' ? ([['Origin', this.publicOrigin]] as [string, string][]) : []),
      ...(init.form ? ([['Content-Type', 'application/x-www-form-urlencoded']] as [string, string][]) : []),
      ...this.cookieLines(target.split('?')[0]!),
      ...(init.extraCookies ?? []),
      ...(init.headers ?? []),
    ];
    const event = originRequestEvent({ method, target, headers, ...(body !== undefined ? { body } : {}), ...(init.truncated ? { truncated: true } : {}) });
    const original = structuredClone(event.Records[0]!.cf.request);
    const result = await this.handler(event);
    let exchange: EdgeExchange;
    if (isRequest(result)) {
      expectAcceptableToCloudFront(original, result);
      const forwarded = structuredClone(result);
      const upstream = await forwardToOrigin(result, body);
      const filtered = await this.handler(await originResponseEvent(forwarded, upstream));
      exchange = { event, result, forwarded, status: upstream.status, headers: (filtered as { headers: CloudFrontHeaders }).headers, body: await upstream.text() };
    } else {
      const generated = result as CloudFrontResultResponse;
      exchange = { event, result, status: Number(generated.status), headers: generated.headers ?? {}, body: generated.body ?? '' };
      this.store((generated.headers?.['set-cookie'] ?? []).map((h) => h.value));
    }
    this.exchanges.push(exchange);
    return exchange;
  }

  async json(method: string, target: string, init?: Parameters<EdgeSpa['send']>[2]): Promise<{ status: number; body: Record<string, unknown>; exchange: EdgeExchange }> {
    const exchange = await this.send(method, target, init);
    return { status: exchange.status, body: JSON.parse(exchange.body) as Record<string, unknown>, exchange };
  }

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const attr = (key: string) => attributes.find((a) => a.toLowerCase().startsWith(key.toLowerCase() + '='))?.split('=')[1];
      const name = pair!.slice(0, eq);
      if (Number(attr('Max-Age') ?? '1') <= 0) this.cookies.delete(name);
      else this.cookies.set(name, { value: pair!.slice(eq + 1), path: attr('Path') ?? '/' });
    }
  }

  /** login/start → the provider's forms → the callback URL. */
  async loginAtProvider(): Promise<URL> {
    const start = await this.json('POST', '/oauth-agent/login/start');
    if (start.status !== 200) throw new Error(`login/start failed: ${JSON.stringify(start.body)}`);
    return loginAtProvider(this.browser, String(start.body['authorization_url']), { username: 'demo', password: 'demo', redirectUri: `${this.publicOrigin}/` });
  }
}
