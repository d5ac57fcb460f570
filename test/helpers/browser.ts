// A minimal HTTP "browser" for tests: a cookie jar, manual redirects, form parsing and submission.
// No dependencies beyond Node (global fetch). It talks to servers over real HTTP; it does not run
// JavaScript, so it sees exactly what a browser with scripts off would see.

export type StopAt = (url: string) => boolean;

export type RequestOptions = {
  /** Stop when a redirect's Location satisfies this, and return that URL without fetching it. */
  stopAt?: StopAt;
  /** Default: the browser's maxRedirects (20). */
  maxRedirects?: number;
  headers?: Record<string, string>;
};

export type BrowserResponse = {
  /** The URL of the final response, or the redirect target when `stopped`. */
  url: string;
  status: number;
  headers: Headers;
  body: string;
  /** True when a redirect matched `stopAt` (then `status` is that redirect's status). */
  stopped: boolean;
  /** Every URL requested, in order (the stop URL is not included). */
  visited: string[];
};

export type StoredCookie = {
  name: string;
  value: string;
  path: string;
  expiresAt?: number;
  secure: boolean;
  httpOnly: boolean;
  sameSite?: string;
};

export type ParsedForm = {
  /** Absolute URL, resolved against the page URL. */
  action: string;
  method: 'GET' | 'POST';
  /** Hidden inputs, in document order. */
  hidden: Record<string, string>;
  /** Every input's name and type (hidden ones included). */
  inputs: { name: string; type: string; value: string }[];
  /** Submit buttons (button elements and input type=submit). */
  buttons: { name?: string; value?: string; label: string }[];
};

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/** Cookies, keyed by host (hostname:port), honouring Path, Max-Age and Expires. */
export class CookieJar {
  private readonly byHost = new Map<string, Map<string, StoredCookie>>();

  store(url: string | URL, setCookieHeaders: string[]): void {
    const u = new URL(url);
    for (const header of setCookieHeaders) {
      const cookie = parseSetCookie(header, u);
      if (!cookie) continue;
      const cookies = this.byHost.get(u.host) ?? new Map<string, StoredCookie>();
      const key = `${cookie.path}\n${cookie.name}`;
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= Date.now()) {
        cookies.delete(key);
      } else {
        cookies.set(key, cookie);
      }
      this.byHost.set(u.host, cookies);
    }
  }

  /** The cookies a request to `url` would carry, longest path first (as browsers order them). */
  matching(url: string | URL): StoredCookie[] {
    const u = new URL(url);
    const cookies = this.byHost.get(u.host);
    if (!cookies) return [];
    const now = Date.now();
    const out: StoredCookie[] = [];
    for (const [key, cookie] of cookies) {
      if (cookie.expiresAt !== undefined && cookie.expiresAt <= now) {
        cookies.delete(key);
        continue;
      }
      if (cookie.secure && u.protocol !== 'https:' && !isLoopback(u.hostname)) continue;
      if (pathMatches(u.pathname, cookie.path)) out.push(cookie);
    }
    return out.sort((a, b) => b.path.length - a.path.length);
  }

  header(url: string | URL): string | undefined {
    const list = this.matching(url);
    return list.length ? list.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** All cookies stored for a host ("127.0.0.1:8081"), for assertions. */
  all(host: string): StoredCookie[] {
    return [...(this.byHost.get(host)?.values() ?? [])];
  }

  clear(host?: string): void {
    if (host === undefined) this.byHost.clear();
    else this.byHost.delete(host);
  }
}

export class TestBrowser {
  readonly jar = new CookieJar();
  readonly maxRedirects: number;

  constructor(options: { maxRedirects?: number } = {}) {
    this.maxRedirects = options.maxRedirects ?? 20;
  }

  get(url: string | URL, options: RequestOptions = {}): Promise<BrowserResponse> {
    return this.navigate('GET', String(url), undefined, options);
  }

  postForm(
    url: string | URL,
    fields: Record<string, string> | URLSearchParams,
    options: RequestOptions = {},
  ): Promise<BrowserResponse> {
    const body = new URLSearchParams(fields).toString();
    return this.navigate('POST', String(url), body, options);
  }

  /** Submit a parsed form with its hidden inputs plus `fields` (which win). */
  submit(
    form: ParsedForm,
    fields: Record<string, string> = {},
    options: RequestOptions = {},
  ): Promise<BrowserResponse> {
    const all = { ...form.hidden, ...fields };
    if (form.method === 'GET') {
      const target = new URL(form.action);
      target.search = new URLSearchParams(all).toString();
      return this.get(target, options);
    }
    return this.postForm(form.action, all, options);
  }

  /** One request, no redirect following; cookies are sent and stored. */
  async fetch(
    method: string,
    url: string,
    body?: string,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const h = new Headers(headers);
    const cookie = this.jar.header(url);
    if (cookie) h.set('cookie', cookie);
    if (body !== undefined && !h.has('content-type')) {
      h.set('content-type', 'application/x-www-form-urlencoded');
    }
    const response = await fetch(url, { method, body, headers: h, redirect: 'manual' });
    this.jar.store(url, response.headers.getSetCookie());
    return response;
  }

  private async navigate(
    method: string,
    url: string,
    body: string | undefined,
    options: RequestOptions,
  ): Promise<BrowserResponse> {
    const limit = options.maxRedirects ?? this.maxRedirects;
    const visited: string[] = [];
    let current = url;
    for (let redirects = 0; ; redirects++) {
      visited.push(current);
      const response = await this.fetch(method, current, body, options.headers);
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null) {
        return {
          url: current,
          status: response.status,
          headers: response.headers,
          body: await response.text(),
          stopped: false,
          visited,
        };
      }
      await response.body?.cancel();
      const next = new URL(location, current).href;
      if (options.stopAt?.(next)) {
        return {
          url: next,
          status: response.status,
          headers: response.headers,
          body: '',
          stopped: true,
          visited,
        };
      }
      if (redirects >= limit) {
        throw new Error(`too many redirects (${limit}) starting at ${url}`);
      }
      // As browsers do: 303 (and 301/302 after a POST) become a GET without a body.
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      current = next;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTML form parsing (enough for server-rendered login, consent and logout pages)

export function parseForm(html: string, pageUrl: string | URL): ParsedForm | undefined {
  const formMatch = /<form\b([^>]*)>([\s\S]*?)<\/form\s*>/i.exec(html);
  if (!formMatch) return undefined;
  const formAttrs = parseAttributes(formMatch[1] ?? '');
  let inner = formMatch[2] ?? '';
  // Controls outside the form that name it with form="<id>" belong to it too.
  if (formAttrs.id) {
    const outside = html.slice(0, formMatch.index) + html.slice(formMatch.index + formMatch[0].length);
    const re = /<(input|button)\b[^>]*>(?:[\s\S]*?<\/button\s*>)?/gi;
    for (const m of outside.matchAll(re)) {
      const attrs = parseAttributes(/<\w+\b([^>]*)>/.exec(m[0])?.[1] ?? '');
      if (attrs.form === formAttrs.id) inner += m[0];
    }
  }

  const hidden: Record<string, string> = {};
  const inputs: ParsedForm['inputs'] = [];
  const buttons: ParsedForm['buttons'] = [];

  for (const m of inner.matchAll(/<input\b([^>]*)>/gi)) {
    const attrs = parseAttributes(m[1] ?? '');
    const type = (attrs.type ?? 'text').toLowerCase();
    if (type === 'submit') {
      buttons.push({ name: attrs.name, value: attrs.value, label: attrs.value ?? 'Submit' });
      continue;
    }
    if (attrs.name === undefined) continue;
    inputs.push({ name: attrs.name, type, value: attrs.value ?? '' });
    if (type === 'hidden') hidden[attrs.name] = attrs.value ?? '';
  }
  for (const m of inner.matchAll(/<button\b([^>]*)>([\s\S]*?)<\/button\s*>/gi)) {
    const attrs = parseAttributes(m[1] ?? '');
    if ((attrs.type ?? 'submit').toLowerCase() !== 'submit') continue;
    buttons.push({
      name: attrs.name,
      value: attrs.value,
      label: decodeEntities((m[2] ?? '').replace(/<[^>]*>/g, '').trim()),
    });
  }

  const method = (formAttrs.method ?? 'get').toUpperCase() === 'POST' ? 'POST' : 'GET';
  return {
    action: new URL(formAttrs.action || String(pageUrl), pageUrl).href,
    method,
    hidden,
    inputs,
    buttons,
  };
}

function parseAttributes(source: string): Record<string, string | undefined> {
  const attrs: Record<string, string | undefined> = {};
  const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  for (const m of source.matchAll(re)) {
    const name = (m[1] ?? '').toLowerCase();
    const raw = m[2] ?? m[3] ?? m[4];
    if (!(name in attrs)) attrs[name] = raw === undefined ? '' : decodeEntities(raw);
  }
  return attrs;
}

export function decodeEntities(text: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return named[ref.toLowerCase()] ?? whole;
  });
}

// ---------------------------------------------------------------------------------------------
// High-level flows at the OpenID provider

/** True when `url` is `target` (same origin and path), whatever its query. */
export function sameEndpoint(url: string, target: string): boolean {
  const a = new URL(url);
  const b = new URL(target);
  return a.origin === b.origin && a.pathname === b.pathname;
}

/**
 * From an authorization URL: follow redirects to the login form, sign in, consent when asked,
 * and return the redirect to `redirectUri` (carrying code, state, iss, or an error) without
 * requesting it. Throws with the page's text when the flow goes anywhere else (e.g. a wrong
 * password: the login form comes back).
 */
export async function loginAtProvider(
  browser: TestBrowser,
  authorizationUrl: string | URL,
  credentials: { username: string; password: string; redirectUri: string },
): Promise<URL> {
  const stopAt = (url: string) => sameEndpoint(url, credentials.redirectUri);
  let response = await browser.get(authorizationUrl, { stopAt });
  let signedIn = false;
  for (let step = 0; step < 10 && !response.stopped; step++) {
    const form = response.status === 200 ? parseForm(response.body, response.url) : undefined;
    if (!form) throw new Error(`unexpected page: ${describe(response)}`);
    const isLogin = form.inputs.some((i) => i.type === 'password');
    if (isLogin) {
      if (signedIn) throw new Error(`sign-in failed: ${describe(response)}`);
      signedIn = true;
      response = await browser.submit(
        form,
        { username: credentials.username, password: credentials.password },
        { stopAt },
      );
    } else {
      response = await browser.submit(form, buttonFields(form, /allow|yes|continue/i), { stopAt });
    }
  }
  if (!response.stopped) throw new Error(`did not reach ${credentials.redirectUri}: ${describe(response)}`);
  return new URL(response.url);
}

/**
 * From an end-session URL: confirm the logout and return the redirect to
 * `postLogoutRedirectUri` without requesting it.
 */
export async function logoutAtProvider(
  browser: TestBrowser,
  endSessionUrl: string | URL,
  options: { postLogoutRedirectUri: string },
): Promise<URL> {
  const stopAt = (url: string) => sameEndpoint(url, options.postLogoutRedirectUri);
  let response = await browser.get(endSessionUrl, { stopAt });
  for (let step = 0; step < 5 && !response.stopped; step++) {
    const form = response.status === 200 ? parseForm(response.body, response.url) : undefined;
    if (!form) throw new Error(`unexpected page: ${describe(response)}`);
    response = await browser.submit(form, buttonFields(form, /yes|sign me out|log ?out|sign ?out/i), { stopAt });
  }
  if (!response.stopped) {
    throw new Error(`did not reach ${options.postLogoutRedirectUri}: ${describe(response)}`);
  }
  return new URL(response.url);
}

/** The name/value a click on the first button whose label matches would submit. */
function buttonFields(form: ParsedForm, label: RegExp): Record<string, string> {
  const button = form.buttons.find((b) => label.test(b.label)) ?? form.buttons[0];
  return button?.name ? { [button.name]: button.value ?? '' } : {};
}

function describe(response: BrowserResponse): string {
  const text = response.body.replace(/<style[\s\S]*?<\/style>/gi, '').replace(/<[^>]*>/g, ' ');
  return `${response.status} ${response.url} ${decodeEntities(text).replace(/\s+/g, ' ').trim().slice(0, 300)}`;
}

// ---------------------------------------------------------------------------------------------

function parseSetCookie(header: string, url: URL): StoredCookie | undefined {
  const [pair, ...attributes] = header.split(';');
  const eq = pair?.indexOf('=') ?? -1;
  if (!pair || eq <= 0) return undefined;
  const cookie: StoredCookie = {
    name: pair.slice(0, eq).trim(),
    value: pair.slice(eq + 1).trim(),
    path: defaultPath(url),
    secure: false,
    httpOnly: false,
  };
  let maxAge: number | undefined;
  let expires: number | undefined;
  for (const attribute of attributes) {
    const i = attribute.indexOf('=');
    const key = (i < 0 ? attribute : attribute.slice(0, i)).trim().toLowerCase();
    const value = i < 0 ? '' : attribute.slice(i + 1).trim();
    if (key === 'path' && value.startsWith('/')) cookie.path = value;
    else if (key === 'max-age' && /^-?\d+$/.test(value)) maxAge = Number(value);
    else if (key === 'expires') {
      const t = Date.parse(value);
      if (!Number.isNaN(t)) expires = t;
    } else if (key === 'secure') cookie.secure = true;
    else if (key === 'httponly') cookie.httpOnly = true;
    else if (key === 'samesite') cookie.sameSite = value;
  }
  // Max-Age wins over Expires (RFC 6265 5.3).
  if (maxAge !== undefined) cookie.expiresAt = Date.now() + maxAge * 1000;
  else if (expires !== undefined) cookie.expiresAt = expires;
  return cookie;
}

function defaultPath(url: URL): string {
  const path = url.pathname;
  if (!path.startsWith('/') || path.lastIndexOf('/') === 0) return '/';
  return path.slice(0, path.lastIndexOf('/'));
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]';
}
