/**
 * The OAuth agent as data in, data out: each operation takes the request's cookies (and form
 * fields) and returns the JSON body plus the cookies to set or clear. The app only does HTTP.
 */
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import { createSealer, type Sealer } from '../session/cookie-seal.js';
import {
  CookieTooLargeError,
  cookieNames,
  cookieSpec,
  cookiesToClear,
  cookiesToStore,
  MAX_LOGIN_TRANSACTIONS,
  loginCookieName,
  presentLoginNames,
  presentNames,
  readCookieValue,
  type CookieKind,
  type SetCookie,
} from '../session/cookie-table.js';
import { TokenHandlerError } from '../errors.js';
import { createOidcClient, type CoreDeps, type TokenSet } from '../oidc/oidc-client.js';

/** A login transaction lives this long (seconds), in its own cookie. */
export const LOGIN_TRANSACTION_LIFETIME = 600;

/**
 * The most the session cookies (access token, refresh token and ID claims, every chunk, as the
 * browser sends them in `Cookie` to the agent) may take, in bytes. CloudFront refuses a request
 * whose request line and headers pass 20,480 bytes; this leaves about 4 KB for everything else
 * (pending login transactions take about 1.4 KB at most, plus the browser's own headers). A session
 * over it is refused at login, with a clear error, instead of breaking every request afterwards.
 * Node's own limit is 16 KB by default; the Node adapter raises it to 64 KB for that reason.
 */
export const MAX_SESSION_COOKIE_BYTES = 16 * 1024;

/** What `cookies` add to the request's `Cookie` header: `name=value` pairs joined by `; `. */
export function cookieHeaderBytes(cookies: readonly SetCookie[]): number {
  const stored = cookies.filter((c) => c.maxAge > 0 && c.value !== '');
  return stored.reduce((sum, c) => sum + c.name.length + 1 + c.value.length, 0) + Math.max(0, stored.length - 1) * 2;
}

export type Cookies = Map<string, string[]>;
export type Params = Readonly<Record<string, string>>;

export interface AgentResult<T> {
  readonly body: T;
  readonly cookies: readonly SetCookie[];
  /** What happened, for the security-event log line; never holds secret material. */
  readonly event?: { readonly name: string; readonly [field: string]: string | number | boolean };
}

export type SessionBody =
  | { is_logged_in: false }
  | { is_logged_in: true; id_token_claims: Record<string, unknown>; access_token_expires_in?: number };

interface LoginTransaction {
  /** state */
  s: string;
  /** nonce */
  n: string;
  /** PKCE code verifier */
  v: string;
  /** issuer the request went to (mix-up bookkeeping, RFC 9700 §4.4.2) */
  i: string;
}

interface AccessTokenData {
  t: string;
  /** expiry of the access token itself, epoch seconds */
  e?: number;
  /** granted scope */
  s?: string;
}

interface RefreshTokenData {
  t: string;
}

interface IdentityData {
  /** the validated ID token's claims, minus TH_HIDDEN_CLAIMS */
  c: Record<string, unknown>;
  /** the subject, kept even when hidden, to check refreshed ID tokens (OIDC Core 12.2) */
  sub: string;
}

export type Agent = ReturnType<typeof createAgent>;

export function createAgent(config: Config, deps: CoreDeps, sealer: Sealer = createSealer(config.cookieKeys, deps.now)) {
  const names = cookieNames(config.cookiePrefix);
  const oidc = createOidcClient(config, deps);
  const spec = (kind: CookieKind) => cookieSpec(names, config.agentPath, kind);
  const nowSeconds = () => Math.floor(deps.now() / 1000);

  async function readTransactions(cookies: Cookies) {
    return Promise.all(
      presentLoginNames(cookies, names).map(async (name) => ({ name, tx: await sealer.unseal<LoginTransaction>('login', readCookieValue(cookies, name)) })),
    );
  }

  async function readSession(cookies: Cookies) {
    const [at, rt, id] = await Promise.all([
      sealer.unseal<AccessTokenData>('at', readCookieValue(cookies, names.at)),
      sealer.unseal<RefreshTokenData>('rt', readCookieValue(cookies, names.rt)),
      sealer.unseal<IdentityData>('id', readCookieValue(cookies, names.id)),
    ]);
    return { at, rt, id };
  }

  function sessionBody(id: IdentityData, accessTokenExpiresAt: number | undefined): SessionBody {
    const body: SessionBody = { is_logged_in: true, id_token_claims: id.c };
    if (accessTokenExpiresAt !== undefined) body.access_token_expires_in = Math.max(0, accessTokenExpiresAt - nowSeconds());
    return body;
  }

  /** Logged in while the claims cookie and at least one token cookie open. */
  async function currentSession(cookies: Cookies): Promise<SessionBody> {
    const { at, rt, id } = await readSession(cookies);
    return id && (at || rt) ? sessionBody(id.data, at?.data.e) : { is_logged_in: false };
  }

  /** The access token's expiry, never past the session's own end. */
  function accessTokenExpiry(tokens: TokenSet, sessionEnd: number): number | undefined {
    return tokens.accessTokenExpiresAt !== undefined ? Math.min(tokens.accessTokenExpiresAt, sessionEnd) : undefined;
  }

  function visibleClaims(claims: JWTPayload): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(claims)) if (!config.hiddenClaims.includes(k)) out[k] = v;
    return out;
  }

  function clearTokenCookies(cookies: Cookies): SetCookie[] {
    return [...cookiesToClear(spec('at'), cookies), ...cookiesToClear(spec('rt'), cookies), ...cookiesToClear(spec('id'), cookies)];
  }

  const tooLarge = (cause: CookieTooLargeError) =>
    new TokenHandlerError('authorization_error', `The tokens are too large to keep in cookies (the session may take at most ${MAX_SESSION_COOKIE_BYTES} bytes of cookies)`, {
      cause,
      reason: 'session_too_large',
    });

  /** Seals and stores the tokens; throws a clear error when they would not fit in the browser's cookies. */
  async function storeTokens(tokens: TokenSet, sessionEnd: number, cookies: Cookies, identity: IdentityData | undefined, keepOthers: boolean): Promise<SetCookie[]> {
    const maxAge = sessionEnd - nowSeconds();
    const expiresAt = accessTokenExpiry(tokens, sessionEnd);
    const at: AccessTokenData = {
      t: tokens.accessToken,
      ...(expiresAt !== undefined ? { e: expiresAt } : {}),
      ...(tokens.scope !== undefined ? { s: tokens.scope } : {}),
    };
    const out: SetCookie[] = [];
    try {
      out.push(...cookiesToStore(spec('at'), await sealer.seal('at', at, sessionEnd), maxAge, cookies));
      if (tokens.refreshToken !== undefined) {
        out.push(...cookiesToStore(spec('rt'), await sealer.seal<RefreshTokenData>('rt', { t: tokens.refreshToken }, sessionEnd), maxAge, cookies));
      }
      if (identity) out.push(...cookiesToStore(spec('id'), await sealer.seal('id', identity, sessionEnd), maxAge, cookies));
    } catch (error) {
      if (error instanceof CookieTooLargeError) throw tooLarge(error);
      throw error;
    }
    // A refresh that brings no new refresh token or ID claims leaves the browser's cookies for them in place.
    const kept = !keepOthers
      ? []
      : [...(tokens.refreshToken === undefined ? [names.rt] : []), ...(identity === undefined ? [names.id] : [])].flatMap((name) =>
          presentNames(cookies, name).map((n) => ({ name: n, value: cookies.get(n)?.[0] ?? '', path: '', maxAge: 1 })),
        );
    const size = cookieHeaderBytes([...out, ...kept]);
    if (size > MAX_SESSION_COOKIE_BYTES) throw tooLarge(new CookieTooLargeError('session', size));
    return out;
  }

  return {
    names,
    oidc,
    sealer,

    async startLogin(params: Params, cookies: Cookies): Promise<AgentResult<{ authorization_url: string }>> {
      for (const name of Object.keys(params)) {
        if (!config.extraAuthParams.includes(name)) {
          throw new TokenHandlerError('invalid_request', `The parameter "${safeName(name)}" is not allowed`, { reason: 'extra_param_not_allowed' });
        }
      }
      const request = await oidc.buildAuthorizationRequest(params);
      // One cookie per transaction, named after its state, so parallel logins (tabs, even at the same
      // instant) never overwrite each other. Dead ones are cleared; beyond the limit the oldest go.
      const existing = await readTransactions(cookies);
      const live = existing.filter((t) => t.tx).sort((a, b) => b.tx!.issuedAt - a.tx!.issuedAt);
      const evicted = [...existing.filter((t) => !t.tx), ...live.slice(MAX_LOGIN_TRANSACTIONS - 1)];
      const tx: LoginTransaction = { s: request.state, n: request.nonce, v: request.codeVerifier, i: config.issuer };
      const sealed = await sealer.seal('login', tx, nowSeconds() + LOGIN_TRANSACTION_LIFETIME);
      const name = loginCookieName(names, request.state)!;
      return {
        body: { authorization_url: request.url },
        cookies: [
          ...evicted.flatMap((t) => cookiesToClear({ name: t.name, path: '/' }, cookies)),
          ...cookiesToStore({ name, path: '/' }, sealed, LOGIN_TRANSACTION_LIFETIME, cookies),
        ],
        event: { name: 'login_start', par: request.url.includes('request_uri=') },
      };
    },

    async endLogin(params: Params, cookies: Cookies): Promise<AgentResult<SessionBody>> {
      const { state, code, error } = params;
      if (!state || (!code && !error)) {
        // The SPA calls login/end on every page load; without a callback it is a session query.
        return { body: await currentSession(cookies), cookies: [] };
      }
      const name = loginCookieName(names, state);
      const opened = name === undefined ? undefined : await sealer.unseal<LoginTransaction>('login', readCookieValue(cookies, name));
      const slot = opened && constantTimeEqual(opened.data.s, state) ? { name: name!, tx: opened } : undefined;
      if (!slot) {
        throw new TokenHandlerError('invalid_request', 'The login state is unknown or has expired', { reason: 'state_unknown' });
      }
      const tx = slot.tx.data;
      // The state is single use: every outcome from here on clears this transaction (RFC 9700 §4.2.4).
      const clearTx = cookiesToClear({ name: slot.name, path: '/' }, cookies);
      const fail = (e: TokenHandlerError) =>
        new TokenHandlerError(e.code, e.detail, { cause: e.cause, wireCode: e.wireCode, reason: e.reason, setCookies: [...clearTx, ...e.setCookies] });

      try {
        const { as } = await oidc.getServer();
        const iss = params['iss'];
        // RFC 9207 §2.4: compare iss when present; require it when the IdP says it sends it.
        if (iss !== undefined ? iss !== tx.i || iss !== as.issuer : as.authorization_response_iss_parameter_supported === true) {
          throw new TokenHandlerError('invalid_request', 'The authorization response comes from an unexpected issuer', {
            reason: iss === undefined ? 'iss_missing' : 'iss_mismatch',
          });
        }
        if (error) {
          if (error === 'login_required') {
            throw new TokenHandlerError('login_required', 'The user must log in', { reason: 'idp_login_required' });
          }
          const wireCode = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(error) ? error : 'authorization_error';
          throw new TokenHandlerError('authorization_response_error', 'The authorization server returned an error', { wireCode, reason: 'idp_error' });
        }
        const callback = new URLSearchParams({ code: code!, state });
        if (iss !== undefined) callback.set('iss', iss);
        const tokens = await oidc.exchangeCode(callback, { state: tx.s, nonce: tx.n, codeVerifier: tx.v });
        const claims = tokens.idTokenClaims!;
        const identity: IdentityData = { c: visibleClaims(claims), sub: claims.sub! };
        const sessionEnd = nowSeconds() + config.sessionLifetime;
        // Fresh cookies replace whatever the browser held before (no session fixation); a refresh token
        // from an earlier session must not survive a login that brought none.
        const stored = await storeTokens(tokens, sessionEnd, cookies, identity, false);
        const extraClears = tokens.refreshToken === undefined ? cookiesToClear(spec('rt'), cookies) : [];
        return {
          body: sessionBody(identity, accessTokenExpiry(tokens, sessionEnd)),
          cookies: [...clearTx, ...stored, ...extraClears],
          event: { name: 'login_success', refresh_token: tokens.refreshToken !== undefined },
        };
      } catch (e) {
        if (e instanceof TokenHandlerError) throw fail(e);
        throw e;
      }
    },

    getSession: currentSession,

    async refresh(params: Params, cookies: Cookies): Promise<AgentResult<{ access_token_expires_in?: number }>> {
      for (const name of Object.keys(params)) {
        if (!config.extraTokenParams.includes(name)) {
          throw new TokenHandlerError('invalid_request', `The parameter "${safeName(name)}" is not allowed`, { reason: 'extra_param_not_allowed' });
        }
      }
      const { rt, id } = await readSession(cookies);
      if (!rt) {
        throw new TokenHandlerError('session_expired', 'The session has expired', { reason: 'no_refresh_token', setCookies: clearTokenCookies(cookies) });
      }
      let tokens: TokenSet;
      try {
        tokens = await oidc.refresh(rt.data.t, id?.data.sub, params);
      } catch (e) {
        if (e instanceof TokenHandlerError && e.code === 'session_expired') {
          throw new TokenHandlerError(e.code, e.detail, { cause: e.cause, reason: e.reason, setCookies: clearTokenCookies(cookies) });
        }
        throw e;
      }
      // The session keeps its absolute end, counted from login (a refresh never extends it).
      const sessionEnd = rt.expiresAt;
      const identity = tokens.idTokenClaims ? { c: visibleClaims(tokens.idTokenClaims), sub: tokens.idTokenClaims.sub! } : undefined;
      const stored = await storeTokens(tokens, sessionEnd, cookies, identity, true);
      const expiresAt = accessTokenExpiry(tokens, sessionEnd);
      return {
        body: expiresAt !== undefined ? { access_token_expires_in: Math.max(0, expiresAt - nowSeconds()) } : {},
        cookies: stored,
        event: { name: 'refresh', rotated: tokens.refreshToken !== undefined },
      };
    },

    async logout(cookies: Cookies): Promise<AgentResult<{ logout_url?: string }>> {
      const { rt } = await readSession(cookies);
      let revocation: { revoked: boolean; reason?: string } = { revoked: false, reason: rt ? 'disabled' : 'no_refresh_token' };
      if (rt && config.revokeOnLogout) revocation = await oidc.revokeRefreshToken(rt.data.t);
      let logoutUrl: string | undefined;
      try {
        logoutUrl = await oidc.endSessionUrl();
      } catch {
        // Local logout must not depend on the IdP being up; the SPA simply stays on its own page.
        logoutUrl = undefined;
      }
      const cleared = [...clearTokenCookies(cookies), ...presentLoginNames(cookies, names).flatMap((name) => cookiesToClear({ name, path: '/' }, cookies))];
      return {
        body: logoutUrl ? { logout_url: logoutUrl } : {},
        cookies: cleared,
        event: { name: 'logout', revoked: revocation.revoked, ...(revocation.reason ? { revocation: revocation.reason } : {}) },
      };
    },

    /** For the proxy: the access token, or why there is none. */
    async readAccessToken(cookies: Cookies): Promise<{ token: string; expired: boolean } | undefined> {
      const at = await sealer.unseal<AccessTokenData>('at', readCookieValue(cookies, names.at));
      if (!at) return undefined;
      return { token: at.data.t, expired: at.data.e !== undefined && at.data.e <= nowSeconds() };
    },
  };
}

/** Compares two strings without an early exit, so the time taken says nothing about where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** A parameter name fit to quote back in an error: short and printable. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '?').slice(0, 64);
}
