/**
 * What every agent operation takes and returns: the context it runs in (configuration, cookie
 * names, sealer, OIDC client, clock) and its result as data (the JSON body, the cookies to set or
 * clear, the security event to log). The app only does HTTP around them.
 */
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import type { Clock } from '../ports.js';
import type { AuthorizationRequest, TokenSet } from '../oidc/oidc-client.js';
import type { LoginCookieSettings } from '../session/login-transaction.js';
import type { IdentityData, SessionCookieSettings } from '../session/session-cookies.js';
import type { SetCookie } from '../session/cookie-table.js';
import { TokenHandlerError } from '../errors.js';

export type { Cookies } from '../session/session-cookies.js';
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

/** The part of the OIDC client the agent uses (createOidcClient's result is one). */
export interface AgentOidc {
  getServer(): Promise<{ readonly as: { readonly issuer: string; readonly authorization_response_iss_parameter_supported?: boolean } }>;
  buildAuthorizationRequest(extraParams: Params): Promise<AuthorizationRequest>;
  /** The code exchange; `callback` holds the parameters the SPA forwarded (code, state, iss). */
  exchangeCode(callback: URLSearchParams, expected: { state: string; nonce: string; codeVerifier: string }): Promise<TokenSet>;
  /** The refresh grant; `invalid_grant` is thrown as `session_expired`. */
  refresh(refreshToken: string, expectedSub: string | undefined, extraParams?: Params): Promise<TokenSet>;
  /** RFC 7009 revocation; never throws. */
  revokeRefreshToken(refreshToken: string): Promise<{ revoked: boolean; reason?: string }>;
  endSessionUrl(): Promise<string | undefined>;
}

export interface AgentContext extends SessionCookieSettings, LoginCookieSettings {
  readonly config: Config;
  readonly oidc: AgentOidc;
  readonly now: Clock;
}

export function nowSeconds(ctx: { readonly now: Clock }): number {
  return Math.floor(ctx.now() / 1000);
}

/** The claims the SPA may see (minus TH_HIDDEN_CLAIMS), and the subject, kept even when hidden. */
export function keptIdentity(ctx: { readonly config: Config }, claims: JWTPayload): Omit<IdentityData, 'sid'> {
  const c: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!ctx.config.hiddenClaims.includes(k)) c[k] = v;
  return { c, sub: claims.sub! };
}

/** Refuses any parameter not on the configured list (TH_EXTRA_AUTH_PARAMS, TH_EXTRA_TOKEN_PARAMS). */
export function refuseUnlistedParams(params: Params, allowed: readonly string[]): void {
  for (const name of Object.keys(params)) {
    if (!allowed.includes(name)) {
      throw new TokenHandlerError('invalid_request', { detail: `The parameter "${safeName(name)}" is not allowed`, reason: 'extra_param_not_allowed' });
    }
  }
}

/** A parameter name fit to quote back in an error: short and printable. */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '?').slice(0, 64);
}
