/**
 * Reading the session: the session body for `GET /session` and page-load `POST /login/end`
 * (contract §1.2), and the access token for the proxy (§2). Cookies that open but do not make one
 * session (§3, "One session, one id") are no session, and are cleared.
 */
import { TokenHandlerError } from '../errors.js';
import type { DpopKeyData } from '../oidc/dpop.js';
import { clearSessionCookies, readAccessTokenCookie, type IdentityData } from '../session/session-cookies.js';
import { nowSeconds, type AgentContext, type AgentResult, type Cookies, type SessionBody } from './context.js';
import { readLiveSession, revocationSubject } from './live-session.js';

/** What the proxy needs of the access-token cookie. */
export interface AccessTokenRead {
  readonly token: string;
  /** True when the token itself is known to have expired (the proxy answers `token_expired`). */
  readonly expired: boolean;
  /** The key the token is bound to (DPoP); absent for a bearer token. */
  readonly dpopKey?: DpopKeyData;
}

/** Logged in while the access-token cookie and the claims cookie of one session open. */
export async function readSession(ctx: AgentContext, cookies: Cookies): Promise<AgentResult<SessionBody>> {
  const session = await readLiveSession(ctx, cookies);
  if (session.kind === 'rejected') {
    return { body: { is_logged_in: false }, cookies: clearSessionCookies(ctx, cookies), event: { name: 'session_rejected', reason: session.reason },
      audit: { event: 'session_rejected', outcome: 'failure', reason: session.reason } };
  }
  if (session.kind === 'session' && session.identity) return { body: sessionBody(ctx, session.identity, session.at.data.e), cookies: [] };
  return { body: { is_logged_in: false }, cookies: [] };
}

export function sessionBody(ctx: AgentContext, identity: Pick<IdentityData, 'c'>, accessTokenExpiresAt: number | undefined): SessionBody {
  const body: SessionBody = { is_logged_in: true, id_token_claims: identity.c };
  if (accessTokenExpiresAt !== undefined) body.access_token_expires_in = Math.max(0, accessTokenExpiresAt - nowSeconds(ctx));
  return body;
}

/** For the proxy: the access token, or undefined when the cookie is absent, does not open, or has no session id. */
export async function readAccessToken(ctx: AgentContext, cookies: Cookies): Promise<AccessTokenRead | undefined> {
  const at = await readAccessTokenCookie(ctx, cookies);
  if (!at) return undefined;
  // After the unseal: a forged cookie never costs a store read.
  if (ctx.revocations && (await ctx.revocations.isRevoked(revocationSubject(at.data.sid, at.data)))) {
    throw new TokenHandlerError('unauthorized_request', { detail: 'No valid session', reason: 'session_revoked' });
  }
  return { token: at.data.t, expired: at.data.e !== undefined && at.data.e <= nowSeconds(ctx), ...(at.data.k ? { dpopKey: at.data.k } : {}) };
}
