/**
 * The integration test stack: the real oidc-provider and the example API on loopback, and the token
 * handler in-process (app.request) on an https origin, so `Secure` and `__Host-` cookies behave as
 * in production. A small cookie jar plays the SPA's browser; every response and log line is kept so
 * tests can search them for leaked secrets.
 */
import { startExampleApi, type ApiRequestInfo, type ExampleApi } from '../../examples/api.js';
import { startDemoProvider, type DemoClient, type DemoProvider } from '../../examples/provider.js';
import { createApp, type AppDeps, type TokenHandlerApp } from '../../src/app/create-app.js';
import { parseConfig, type Config, type RawConfig } from '../../src/config/parse-config.js';
import { TestBrowser, loginAtProvider } from './browser.js';
import { randomSecret } from './config.js';

export const PUBLIC_ORIGIN = 'https://www.example.test';
export const CLIENT_ID = 'th-test-client';

export interface RecordedResponse {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: string;
}

export interface TestStack {
  readonly provider: DemoProvider;
  readonly api: ExampleApi;
  readonly config: Config;
  readonly app: TokenHandlerApp;
  readonly clientSecret: string;
  readonly cookieKeys: string;
  readonly logs: string[];
  /** What reached the example API. */
  readonly upstreamRequests: ApiRequestInfo[];
  /** Makes another app on the same provider and API (new config or clock). */
  makeApp(overrides?: RawConfig, deps?: Partial<AppDeps>): TokenHandlerApp;
  close(): Promise<void>;
}

export interface StackOptions {
  readonly env?: RawConfig;
  readonly accessTokenTtl?: number;
  readonly requirePar?: boolean;
  readonly client?: Partial<DemoClient>;
  readonly deps?: Partial<AppDeps>;
}

export async function startTestStack(options: StackOptions = {}): Promise<TestStack> {
  const clientSecret = randomSecret();
  const cookieKeys = `k1:${randomSecret()}`;
  const provider = await startDemoProvider({
    port: 0,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        token_endpoint_auth_method: 'client_secret_basic',
        redirect_uris: [`${PUBLIC_ORIGIN}/`],
        post_logout_redirect_uris: [`${PUBLIC_ORIGIN}/`],
        ...options.client,
      },
    ],
    accessTokenTtl: options.accessTokenTtl ?? 300,
    apiAudience: 'http://127.0.0.1:8082',
    ...(options.requirePar ? { requirePar: true } : {}),
  });
  const upstreamRequests: ApiRequestInfo[] = [];
  const api = await startExampleApi({ port: 0, issuer: provider.issuer, audience: 'http://127.0.0.1:8082', onRequest: (info) => upstreamRequests.push(info) });
  const logs: string[] = [];
  const raw = (overrides: RawConfig = {}): RawConfig => ({
    TH_PUBLIC_ORIGIN: PUBLIC_ORIGIN,
    TH_ISSUER: provider.issuer,
    TH_CLIENT_ID: CLIENT_ID,
    TH_CLIENT_SECRET: clientSecret,
    TH_COOKIE_KEYS: cookieKeys,
    TH_API_ROUTES: `/api=${api.url}/api`,
    TH_LOG_LEVEL: 'debug',
    ...options.env,
    ...overrides,
  });
  const makeApp = (overrides: RawConfig = {}, deps: Partial<AppDeps> = {}) =>
    createApp(parseConfig(raw(overrides)), { logSink: (line) => logs.push(line), upstreamBodyDecoded: true, ...options.deps, ...deps });
  const config = parseConfig(raw());
  const app = makeApp();
  return {
    provider,
    api,
    config,
    app,
    clientSecret,
    cookieKeys,
    logs,
    upstreamRequests,
    makeApp,
    async close() {
      await api.close();
      await provider.close();
    },
  };
}

interface JarCookie {
  value: string;
  path: string;
}

/** The SPA's view of the token handler: same-origin fetches with the browser's cookie rules. */
export class SpaClient {
  readonly cookies = new Map<string, JarCookie>();
  readonly responses: RecordedResponse[] = [];
  readonly browser = new TestBrowser();

  constructor(public app: TokenHandlerApp) {}

  cookieHeader(path: string): string {
    return [...this.cookies]
      .filter(([, c]) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : c.path + '/'))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }

  async request(method: string, path: string, init: { body?: string | Record<string, string>; headers?: Record<string, string>; json?: boolean } = {}): Promise<Response> {
    const headers = new Headers({ 'token-handler-version': '1', 'sec-fetch-site': 'same-origin', ...init.headers });
    if (method !== 'GET' && method !== 'HEAD') headers.set('origin', PUBLIC_ORIGIN);
    for (const [k, v] of Object.entries(init.headers ?? {})) headers.set(k, v);
    const cookie = this.cookieHeader(path.split('?')[0]!);
    if (cookie && !headers.has('cookie')) headers.set('cookie', cookie);
    let body: string | undefined;
    if (typeof init.body === 'string') body = init.body;
    else if (init.body) {
      body = init.json ? JSON.stringify(init.body) : new URLSearchParams(init.body).toString();
      if (!headers.has('content-type')) headers.set('content-type', init.json ? 'application/json' : 'application/x-www-form-urlencoded');
    }
    const response = await this.app.request(PUBLIC_ORIGIN + path, { method, headers, ...(body !== undefined ? { body } : {}) });
    this.store(response.headers.getSetCookie());
    const text = await response.clone().text();
    this.responses.push({ method, path, status: response.status, headers: [...response.headers], body: text });
    return response;
  }

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const attr = (key: string) => attributes.find((a) => a.toLowerCase().startsWith(key.toLowerCase() + '='))?.split('=')[1];
      const maxAge = attr('Max-Age');
      if (maxAge !== undefined && Number(maxAge) <= 0) this.cookies.delete(name);
      else this.cookies.set(name, { value, path: attr('Path') ?? '/' });
    }
  }

  async json(method: string, path: string, init?: Parameters<SpaClient['request']>[2]): Promise<{ status: number; body: Record<string, unknown>; response: Response }> {
    const response = await this.request(method, path, init);
    return { status: response.status, body: (await response.json()) as Record<string, unknown>, response };
  }

  /** login/start → the provider's HTML forms over HTTP → login/end. Returns the login/end answer. */
  async login(options: { username?: string; password?: string } = {}) {
    const callback = await this.startLoginAtProvider(options);
    return this.json('POST', '/oauth-agent/login/end', { body: Object.fromEntries(callback.searchParams) });
  }

  async startLoginAtProvider(options: { username?: string; password?: string } = {}): Promise<URL> {
    const start = await this.json('POST', '/oauth-agent/login/start');
    if (start.status !== 200) throw new Error(`login/start failed: ${JSON.stringify(start.body)}`);
    return loginAtProvider(this.browser, String(start.body['authorization_url']), {
      username: options.username ?? 'demo',
      password: options.password ?? 'demo',
      redirectUri: `${PUBLIC_ORIGIN}/`,
    });
  }
}
