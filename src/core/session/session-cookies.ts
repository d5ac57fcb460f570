/**
 * The session's cookies: the access token (`at`, with the session's DPoP key when TH_DPOP is on),
 * the refresh token (`rt`) and the ID claims (`id`), each sealed with the session's random id
 * (contract §3, "One session, one id"). The
 * access-token cookie is the anchor: it is `__Host-`, which a sibling subdomain cannot set, while
 * it can plant `__Secure-` ones. So refresh-token and ID cookies count only beside the access-token
 * cookie of the same session; any other mix is no session at all, and is cleared.
 */
import type { Clock } from '../ports.js';
import { TokenHandlerError } from '../errors.js';
import { isDpopKeyData, type DpopKeyData } from '../oidc/dpop.js';
import type { Sealer } from './cookie-seal.js';
import { CookieTooLargeError, cookieSpec, cookiesToClear, cookiesToStore, presentNames, readCookieValue, type CookieKind, type CookieNames, type SetCookie } from './cookie-table.js';

/**
 * The most the session cookies (access token, refresh token and ID claims, every chunk, as the
 * browser sends them in `Cookie` to the agent) may take, in bytes. CloudFront refuses a request
 * whose request line and headers pass 20,480 bytes; this leaves about 4 KB for everything else
 * (pending login transactions take about 1.4 KB at most, plus the browser's own headers). A session
 * over it is refused at login, with a clear error, instead of breaking every request afterwards.
 * Node's own limit is 16 KB by default; the Node adapter raises it to 64 KB for that reason.
 */
export const MAX_SESSION_COOKIE_BYTES = 16 * 1024;

/** The request's cookies, name → every value sent under it (see parseCookieHeader). */
export type Cookies = Map<string, string[]>;

export interface AccessTokenData {
  /** the session's id */
  readonly sid: string;
  readonly t: string;
  /** expiry of the access token itself, epoch seconds */
  readonly e?: number;
  /** granted scope */
  readonly s?: string;
  /**
   * The session's DPoP private key (RFC 9449), beside the token bound to it: the proxy signs a
   * proof on every call, and every proxied path gets this cookie (~200 bytes more, sealed).
   */
  readonly k?: DpopKeyData;
  /** With back-channel logout on (contract §6.2): the IdP's session id, the subject and the login time (epoch seconds), for the revocation check. */
  readonly is?: string;
  readonly u?: string;
  readonly li?: number;
}

export interface RefreshTokenData {
  /** the session's id */
  readonly sid: string;
  readonly t: string;
}

export interface IdentityData {
  /** the session's id */
  readonly sid: string;
  /** the validated ID token's claims, minus TH_HIDDEN_CLAIMS */
  readonly c: Record<string, unknown>;
  /** the subject, kept even when hidden, to check refreshed ID tokens (OIDC Core 12.2) */
  readonly sub: string;
}

/** A value that unsealed, with the times from its sealed envelope (epoch seconds). */
export interface Unsealed<T> {
  readonly data: T;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** Why cookies that do unseal are still no session. */
export type SessionRejection =
  /** refresh-token or ID cookies without an access-token cookie */
  | 'session_cookies_orphaned'
  /** refresh-token or ID cookies of another session than the access-token cookie */
  | 'session_ids_differ'
  /** an access-token cookie sealed before sessions had ids */
  | 'session_format_old'
  /** a session that was logged out (or ended by the IdP) presented again (contract §6.3) */
  | 'session_revoked';

export type SessionCookies =
  /** No token cookie opens (none sent, or all tampered, expired, sealed with a retired key). */
  | { readonly kind: 'none' }
  /** Token cookies that open but do not make one session: treated as none, and cleared. */
  | { readonly kind: 'rejected'; readonly reason: SessionRejection }
  | {
      readonly kind: 'session';
      readonly id: string;
      readonly at: Unsealed<AccessTokenData>;
      readonly rt?: Unsealed<RefreshTokenData>;
      readonly identity?: IdentityData;
    };

/** What reading and writing the session's cookies needs. */
export interface SessionCookieSettings {
  readonly names: CookieNames;
  readonly agentPath: string;
  readonly sealer: Sealer;
  readonly now: Clock;
}

/** The tokens a login or refresh stores (the OIDC client's TokenSet is one). */
export interface SessionTokens {
  readonly accessToken: string;
  /** Epoch seconds; absent when the IdP gave no lifetime. */
  readonly accessTokenExpiresAt?: number;
  readonly scope?: string;
  readonly refreshToken?: string;
}

export interface SessionToStore {
  readonly id: string;
  /** The session's absolute end, epoch seconds: every cookie expires with it. */
  readonly end: number;
  readonly tokens: SessionTokens;
  /** The claims to keep; absent on a refresh that brought no ID token. */
  readonly identity?: Omit<IdentityData, 'sid'>;
  /** The key the access token is bound to (DPoP); absent for a bearer token. */
  readonly dpopKey?: DpopKeyData;
  /** What back-channel logout revokes by (IdP `sid`, `sub` with the login time); absent when it is off. */
  readonly idp?: { readonly sid?: string; readonly sub: string; readonly loginAt: number };
}

/** 128 random bits, base64url: 22 characters in each of the three cookies. */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

function sessionIdOf(data: unknown): string | undefined {
  const sid = data && typeof data === 'object' ? (data as { sid?: unknown }).sid : undefined;
  return typeof sid === 'string' && SESSION_ID.test(sid) ? sid : undefined;
}

/** The access-token cookie, when it opens and carries a session id (the proxy needs no more). */
export async function readAccessTokenCookie(settings: SessionCookieSettings, cookies: Cookies): Promise<Unsealed<AccessTokenData> | undefined> {
  const at = await settings.sealer.unseal<AccessTokenData>('at', readCookieValue(cookies, settings.names.at));
  return at && sessionIdOf(at.data) !== undefined && keyIsWellFormed(at.data) ? at : undefined;
}

/** A key that is there must be one generateDpopKey made; the proxy takes a cookie with any other for no session. */
function keyIsWellFormed(data: AccessTokenData): boolean {
  return data.k === undefined || isDpopKeyData(data.k);
}

/** Opens the session's cookies and judges whether they make one session. */
export async function readSessionCookies(settings: SessionCookieSettings, cookies: Cookies): Promise<SessionCookies> {
  const { sealer, names } = settings;
  const [at, rt, id] = await Promise.all([
    sealer.unseal<AccessTokenData>('at', readCookieValue(cookies, names.at)),
    sealer.unseal<RefreshTokenData>('rt', readCookieValue(cookies, names.rt)),
    sealer.unseal<IdentityData>('id', readCookieValue(cookies, names.id)),
  ]);
  if (!at) return rt || id ? { kind: 'rejected', reason: 'session_cookies_orphaned' } : { kind: 'none' };
  const sid = sessionIdOf(at.data);
  if (sid === undefined) return { kind: 'rejected', reason: 'session_format_old' };
  // The ids are sealed, so plain comparison is enough: a planted cookie's id is not a secret to guess.
  if ((rt && sessionIdOf(rt.data) !== sid) || (id && sessionIdOf(id.data) !== sid)) return { kind: 'rejected', reason: 'session_ids_differ' };
  return { kind: 'session', id: sid, at, ...(rt ? { rt } : {}), ...(id ? { identity: id.data } : {}) };
}

/** The access token's expiry, never past the session's own end. */
export function accessTokenExpiry(tokens: SessionTokens, sessionEnd: number): number | undefined {
  return tokens.accessTokenExpiresAt !== undefined ? Math.min(tokens.accessTokenExpiresAt, sessionEnd) : undefined;
}

/** What `cookies` add to the request's `Cookie` header: `name=value` pairs joined by `; `. */
export function cookieHeaderBytes(cookies: readonly SetCookie[]): number {
  const stored = cookies.filter((c) => c.maxAge > 0 && c.value !== '');
  return stored.reduce((sum, c) => sum + c.name.length + 1 + c.value.length, 0) + Math.max(0, stored.length - 1) * 2;
}

const tooLarge = (cause: CookieTooLargeError) =>
  new TokenHandlerError('authorization_error', { detail: `The tokens are too large to keep in cookies (the session may take at most ${MAX_SESSION_COOKIE_BYTES} bytes of cookies)`, cause,
    reason: 'session_too_large',
  });

/**
 * Seals and stores the session's tokens under its id; throws a clear error when they would not fit
 * in the browser's cookies. `login` replaces whatever the browser held (a refresh token of an
 * earlier session must not survive a login that brought none); `refresh` leaves the refresh-token
 * and ID cookies in place when it brings no new ones (they carry the same id).
 */
export async function storeSessionCookies(settings: SessionCookieSettings, session: SessionToStore, cookies: Cookies, mode: 'login' | 'refresh'): Promise<SetCookie[]> {
  const { sealer, names } = settings;
  const spec = (kind: CookieKind) => cookieSpec(names, settings.agentPath, kind);
  const { tokens, id: sid, end } = session;
  const maxAge = end - Math.floor(settings.now() / 1000);
  const expiresAt = accessTokenExpiry(tokens, end);
  const at: AccessTokenData = {
    sid,
    t: tokens.accessToken,
    ...(expiresAt !== undefined ? { e: expiresAt } : {}),
    ...(tokens.scope !== undefined ? { s: tokens.scope } : {}),
    ...(session.dpopKey !== undefined ? { k: session.dpopKey } : {}),
    ...(session.idp ? { ...(session.idp.sid !== undefined ? { is: session.idp.sid } : {}), u: session.idp.sub, li: session.idp.loginAt } : {}),
  };
  const out: SetCookie[] = [];
  try {
    out.push(...cookiesToStore(spec('at'), await sealer.seal('at', at, end), maxAge, cookies));
    if (tokens.refreshToken !== undefined) {
      out.push(...cookiesToStore(spec('rt'), await sealer.seal<RefreshTokenData>('rt', { sid, t: tokens.refreshToken }, end), maxAge, cookies));
    }
    if (session.identity) out.push(...cookiesToStore(spec('id'), await sealer.seal<IdentityData>('id', { sid, ...session.identity }, end), maxAge, cookies));
  } catch (error) {
    if (error instanceof CookieTooLargeError) throw tooLarge(error);
    throw error;
  }
  const missing = [...(tokens.refreshToken === undefined ? (['rt'] as const) : []), ...(session.identity === undefined ? (['id'] as const) : [])];
  if (mode === 'login') {
    const size = cookieHeaderBytes(out);
    if (size > MAX_SESSION_COOKIE_BYTES) throw tooLarge(new CookieTooLargeError('session', size));
    return [...out, ...missing.flatMap((kind) => cookiesToClear(spec(kind), cookies))];
  }
  // What the browser keeps sending counts towards the budget too.
  const kept = missing.flatMap((kind) => presentNames(cookies, names[kind]).map((n) => ({ name: n, value: cookies.get(n)?.[0] ?? '', path: '', maxAge: 1 })));
  const size = cookieHeaderBytes([...out, ...kept]);
  if (size > MAX_SESSION_COOKIE_BYTES) throw tooLarge(new CookieTooLargeError('session', size));
  return out;
}

/** Clears the access-token, refresh-token and ID cookies, and every chunk of them the request carried. */
export function clearSessionCookies(settings: SessionCookieSettings, cookies: Cookies): SetCookie[] {
  return (['at', 'rt', 'id'] as const).flatMap((kind) => cookiesToClear(cookieSpec(settings.names, settings.agentPath, kind), cookies));
}
