// A small client for the token handler's contract (docs/contract.md §1), written for the example
// SPA. It has no DOM dependency (only fetch), so it also runs under Node in the tests.
//
// Every call is same-origin, sends cookies (`credentials: 'include'`) and the
// `token-handler-version: 1` header; POST bodies are form-encoded. The browser never sees a token:
// the answers hold only the session state, the ID token's claims and lifetimes.

export type Claims = Record<string, unknown>;

export type SessionBody =
  | { is_logged_in: false }
  | { is_logged_in: true; id_token_claims: Claims; access_token_expires_in?: number };

/** One HTTP call, as the SPA's log panel shows it. */
export interface CallRecord {
  method: string;
  /** Path only: a callback's code and state never appear in the log. */
  path: string;
  status: number;
  /** The JSON answer (undefined when the body was not JSON, or the call failed before an answer). */
  body: unknown;
}

/** A non-2xx answer from the token handler: `{error_code, detailed_error}` plus the HTTP status. */
export class TokenHandlerError extends Error {
  override readonly name: string = 'TokenHandlerError';
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${status} ${code}${detail ? `: ${detail}` : ''}`);
  }
}

/** The session is over (a 401 from refresh, or a login that the IdP says needs the user again). */
export class SessionEndedError extends TokenHandlerError {
  override readonly name = 'SessionEndedError';
}

export interface ApiResult {
  status: number;
  body: unknown;
}

export interface TokenHandlerClientOptions {
  /** Default '/oauth-agent'. */
  agentPath?: string;
  /** Prefix for every URL; default '' (same origin as the page). */
  baseUrl?: string;
  /** Default: the global fetch. */
  fetch?: typeof fetch;
  /** Called after every call, for the log panel. */
  onCall?: (record: CallRecord) => void;
}

/** The callback parameters the token handler's login/end understands. */
const CALLBACK_PARAMS = ['code', 'state', 'iss', 'error', 'error_description'] as const;

/**
 * The fields to POST to login/end when the page is the IdP's redirect (code+state or
 * error+state in the query), else undefined.
 */
export function callbackParams(query: URLSearchParams): Record<string, string> | undefined {
  const state = query.get('state');
  if (!state || (!query.has('code') && !query.has('error'))) return undefined;
  const fields: Record<string, string> = {};
  for (const name of CALLBACK_PARAMS) {
    const value = query.get(name);
    if (value !== null) fields[name] = value;
  }
  return fields;
}

/** The page URL without the callback parameters (other query parameters and the hash are kept). */
export function withoutCallbackParams(url: URL): string {
  const clean = new URL(url.href);
  for (const name of CALLBACK_PARAMS) clean.searchParams.delete(name);
  return clean.pathname + clean.search + clean.hash;
}

export class TokenHandlerClient {
  private readonly agentPath: string;
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly onCall: (record: CallRecord) => void;

  constructor(options: TokenHandlerClientOptions = {}) {
    this.agentPath = (options.agentPath ?? '/oauth-agent').replace(/\/+$/, '');
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.onCall = options.onCall ?? (() => {});
  }

  /** GET /session. */
  session(): Promise<SessionBody> {
    return this.agent<SessionBody>('GET', '/session');
  }

  /** POST /login/start: the URL to send the browser to. */
  async startLogin(extraParams: Record<string, string> = {}): Promise<string> {
    const body = await this.agent<{ authorization_url: string }>('POST', '/login/start', extraParams);
    return body.authorization_url;
  }

  /**
   * POST /login/end with the callback's parameters. A 401 (`login_required`) becomes a
   * {@link SessionEndedError}; any other error is a {@link TokenHandlerError} to show.
   */
  async endLogin(params: Record<string, string>): Promise<SessionBody> {
    try {
      return await this.agent<SessionBody>('POST', '/login/end', params);
    } catch (error) {
      throw asSessionEnded(error);
    }
  }

  private refreshing: Promise<{ access_token_expires_in?: number }> | undefined;

  /**
   * POST /refresh. A 401 means the session is over: {@link SessionEndedError}. Calls made while one
   * is in flight share it: with rotating refresh tokens a second, parallel refresh would present a
   * token the provider has just replaced, and providers treat that as theft and end the session.
   */
  refresh(): Promise<{ access_token_expires_in?: number }> {
    this.refreshing ??= withRefreshLock(() => this.agent<{ access_token_expires_in?: number }>('POST', '/refresh'))
      .catch((error: unknown) => {
        throw asSessionEnded(error);
      })
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }

  /** POST /logout: the IdP's end-session URL, when it has one. */
  async logout(): Promise<string | undefined> {
    const body = await this.agent<{ logout_url?: string }>('POST', '/logout');
    return body.logout_url;
  }

  /**
   * An API call through the token handler's proxy. A 401 triggers one refresh and one retry; if
   * the refresh answers 401 the session is over ({@link SessionEndedError}). Any other answer is
   * returned as it is, for the caller to show.
   */
  async callApi(path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<ApiResult> {
    const first = await this.api(path, init);
    if (first.status !== 401) return first;
    await this.refresh();
    return this.api(path, init);
  }

  private async api(path: string, init: { method?: string; body?: string; headers?: Record<string, string> }): Promise<ApiResult> {
    const method = (init.method ?? 'GET').toUpperCase();
    const response = await this.send(method, path, init.body, init.headers);
    const body = await readJson(response);
    this.onCall({ method, path: pathOnly(path), status: response.status, body });
    return { status: response.status, body };
  }

  private async agent<T>(method: 'GET' | 'POST', endpoint: string, fields?: Record<string, string>): Promise<T> {
    const path = this.agentPath + endpoint;
    const body = method === 'POST' ? new URLSearchParams(fields ?? {}).toString() : undefined;
    const headers = body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : undefined;
    const response = await this.send(method, path, body, headers);
    const json = await readJson(response);
    this.onCall({ method, path, status: response.status, body: json });
    if (!response.ok) {
      const error = isObject(json) ? json : {};
      throw new TokenHandlerError(
        response.status,
        typeof error['error_code'] === 'string' ? error['error_code'] : 'http_error',
        typeof error['detailed_error'] === 'string' ? error['detailed_error'] : response.statusText,
      );
    }
    if (!isObject(json)) throw new TokenHandlerError(response.status, 'invalid_response', 'The answer is not a JSON object');
    return json as T;
  }

  private async send(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<Response> {
    try {
      return await this.fetchImpl(this.baseUrl + path, {
        method,
        credentials: 'include',
        headers: { ...headers, 'token-handler-version': '1' },
        ...(body !== undefined ? { body } : {}),
      });
    } catch (cause) {
      this.onCall({ method, path: pathOnly(path), status: 0, body: undefined });
      throw new TokenHandlerError(0, 'network_error', cause instanceof Error ? cause.message : 'The request failed');
    }
  }
}

function asSessionEnded(error: unknown): unknown {
  if (error instanceof TokenHandlerError && error.status === 401 && !(error instanceof SessionEndedError)) {
    return new SessionEndedError(error.status, error.code, error.detail);
  }
  return error;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pathOnly(path: string): string {
  return path.split(/[?#]/, 1)[0] ?? path;
}

/**
 * Tabs of one browser share the cookies, so their refreshes queue up behind one Web Lock: the
 * second then presents the refresh token the first one brought, never the one it replaced (the
 * token handler coordinates the rest, across instances: README "Scaling out"). Without Web Locks
 * (an old browser, a test runtime) the refresh simply runs.
 */
function withRefreshLock<T>(refresh: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as { locks?: { request(name: string, callback: () => Promise<T>): Promise<T> } } | undefined)?.locks;
  return locks ? locks.request('token-handler-refresh', refresh) : refresh();
}
