/**
 * The SPA's view of the token handler for tests: same-origin requests with the browser's cookie
 * rules, a record of every response (to search for leaked secrets), and login through the
 * provider's HTML forms. It needs only `fetch` and an app with `request(url, init)`, so the same
 * client drives the app in Node and the Worker inside workerd.
 */
import { TestBrowser, loginAtProvider } from './browser.js';

export const PUBLIC_ORIGIN = 'https://www.example.test';

export interface RecordedResponse {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: string;
}

/** What the client needs of an app: Hono's `app.request`, or a Worker's fetch wrapped alike. */
export interface RequestTarget {
  request(input: string, init: RequestInit): Response | Promise<Response>;
}

interface JarCookie {
  value: string;
  path: string;
}

export class SpaClient {
  readonly cookies = new Map<string, JarCookie>();
  readonly responses: RecordedResponse[] = [];
  readonly browser = new TestBrowser();

  constructor(public app: RequestTarget) {}

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
