/**
 * What every agent operation takes and returns: the context it runs in (configuration, cookie
 * names, sealer, OIDC client, clock) and its result as data (the JSON body, the cookies to set or
 * clear, the security event to log). The app only does HTTP around them.
 */
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import type { Clock } from '../ports.js';
import type { AuthorizationOptions, AuthorizationRequest, TokenSet } from '../oidc/oidc-client.js';
import type { DpopKeyData } from '../oidc/dpop.js';
import type { JwtProfile } from '../oidc/jwt-validation.js';
import type { LoginCookieSettings } from '../session/login-transaction.js';
import type { IdentityData, SessionCookieSettings } from '../session/session-cookies.js';
import type { SetCookie } from '../session/cookie-table.js';
import type { Revocations } from '../session/revocation.js';
import type { RefreshCoordination } from '../session/refresh-coordination.js';
import { TokenHandlerError } from '../errors.js';
import type { AuditRecord } from '../audit.js';

export type { Cookies } from '../session/session-cookies.js';
export type Params = Readonly<Record<string, string>>;

export interface AgentResult<T> {
  readonly body: T;
  /** The HTTP status, when not 200 (back-channel logout answers its refusals itself, in the specification's shape). */
  readonly status?: number;
  readonly cookies: readonly SetCookie[];
  /** What happened, for the security-event log line; never holds secret material. */
  readonly event?: { readonly name: string; readonly [field: string]: string | number | boolean };
  /** The audit event (contract §8), written by the app with the session id hashed. */
  readonly audit?: AuditRecord;
}

export type SessionBody =
  | { is_logged_in: false }
  | { is_logged_in: true; id_token_claims: Record<string, unknown>; access_token_expires_in?: number };

/** The part of the OIDC client the agent uses (createOidcClient's result is one). */
export interface AgentOidc {
  getServer(): Promise<{ readonly as: { readonly issuer: string; readonly authorization_response_iss_parameter_supported?: boolean } }>;
  buildAuthorizationRequest(extraParams: Params, options?: AuthorizationOptions): Promise<AuthorizationRequest>;
  /** The code exchange; `callback` holds the parameters the SPA forwarded (code, state, iss); the token bound to `dpopKey` if given. */
  exchangeCode(callback: URLSearchParams, expected: { state: string; nonce: string; codeVerifier: string }, dpopKey?: DpopKeyData): Promise<TokenSet>;
  /** The refresh grant; `invalid_grant` is thrown as `session_expired`; the new token bound to `dpopKey` if given. */
  refresh(refreshToken: string, expectedSub: string | undefined, extraParams?: Params, dpopKey?: DpopKeyData): Promise<TokenSet>;
  /** RFC 7009 revocation; never throws. */
  revokeRefreshToken(refreshToken: string): Promise<{ revoked: boolean; reason?: string }>;
  endSessionUrl(): Promise<string | undefined>;
  /** Another JWT of the IdP (a logout token) under its profile, with the ID tokens' keys and rules. */
  verifyJwt(token: string, profile: JwtProfile): Promise<{ readonly payload: JWTPayload }>;
  /** The userinfo endpoint's claims for the access token; a 401 is thrown as `token_expired`. */
  userinfo(accessToken: string, expectedSub: string): Promise<JWTPayload>;
}

export interface AgentContext extends SessionCookieSettings, LoginCookieSettings {
  readonly config: Config;
  readonly oidc: AgentOidc;
  readonly now: Clock;
  /** Revoked sessions in the shared store (contract §6.3); absent without a store. */
  readonly revocations?: Revocations;
  /** At most one IdP refresh per session generation across instances (contract §6.1); absent without a store. */
  readonly refreshes?: RefreshCoordination;
}

export function nowSeconds(ctx: { readonly now: Clock }): number {
  return Math.floor(ctx.now() / 1000);
}

/** The claims the SPA may see (minus TH_HIDDEN_CLAIMS), and the subject, kept even when hidden. */
export function keptIdentity(ctx: { readonly config: Config }, claims: JWTPayload): Omit<IdentityData, 'sid'> {
  return { c: visibleClaims(ctx, claims), sub: claims.sub! };
}

/** Claims minus those TH_HIDDEN_CLAIMS keeps from the SPA (ID-token claims and userinfo alike). */
export function visibleClaims(ctx: { readonly config: Config }, claims: JWTPayload): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!ctx.config.hiddenClaims.includes(k)) c[k] = v;
  return c;
}

/** Refuses any parameter not on the configured list (TH_EXTRA_AUTH_PARAMS, TH_EXTRA_TOKEN_PARAMS). */
export function refuseUnlistedParams(params: Params, allowed: readonly string[]): void {
  for (const name of Object.keys(params)) {
    if (!allowed.includes(name)) {
      throw new TokenHandlerError('invalid_request', { detail: `The parameter "${safeName(name)}" is not allowed`, reason: 'extra_param_not_allowed' });
    }
  }
}

/**
 * The `scope` of login/start (contract §7), always accepted: every scope one of TH_SCOPE or
 * TH_ALLOWED_SCOPES, `openid` always first. It replaces TH_SCOPE for this login; an empty one
 * leaves TH_SCOPE (undefined).
 */
export function requestedScope(config: Config, value: string): string | undefined {
  // RFC 6749 §3.3: space-delimited; any other character stays in its scope, which then matches none.
  const scopes = value.split(' ').filter(Boolean);
  if (scopes.length === 0) return undefined;
  const allowed = new Set([...config.scope.split(' '), ...config.allowedScopes]);
  for (const scope of scopes) {
    if (!allowed.has(scope)) {
      throw new TokenHandlerError('invalid_request', { reason: 'scope_not_allowed', detail: `The scope "${safeName(scope, /[^A-Za-z0-9_.:/-]/g)}" is not allowed` });
    }
  }
  return [...new Set(['openid', ...scopes])].join(' ');
}

/** A parameter name (or scope) fit to quote back in an error: short and printable. */
function safeName(name: string, unsafe = /[^A-Za-z0-9_.-]/g): string {
  return name.replace(unsafe, '?').slice(0, 64);
}
