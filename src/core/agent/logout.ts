/**
 * `POST /logout` (contract §1.2): the end-session URL, the session's refresh token revoked when
 * configured, and every cookie of the token handler cleared.
 */
import { clearLoginTransactions } from '../session/login-transaction.js';
import { clearSessionCookies, readSessionCookies } from '../session/session-cookies.js';
import { TokenHandlerError } from '../errors.js';
import { nowSeconds, type AgentContext, type AgentResult, type Cookies } from './context.js';

export interface LogoutBody {
  logout_url?: string;
}

export async function logout(ctx: AgentContext, cookies: Cookies): Promise<AgentResult<LogoutBody>> {
  const session = await readSessionCookies(ctx, cookies);
  // Only this session's refresh token is revoked, never one planted beside it.
  const rt = session.kind === 'session' ? session.rt : undefined;
  let revocation: { revoked: boolean; reason?: string } = { revoked: false, reason: rt ? 'disabled' : 'no_refresh_token' };
  if (rt && ctx.config.revokeOnLogout) revocation = await ctx.oidc.revokeRefreshToken(rt.data.t);
  // Revoked first, so a copy of these cookies is refused even if the SPA never sees this answer;
  // when the store cannot record it the answer is 503, with the browser's cookies still cleared.
  if (session.kind === 'session' && ctx.revocations) {
    const cleared = [...clearSessionCookies(ctx, cookies), ...clearLoginTransactions(ctx.names, cookies)];
    try {
      await ctx.revocations.revokeSession(session.id, session.at.expiresAt - nowSeconds(ctx));
    } catch (e) {
      throw e instanceof TokenHandlerError ? e.withCookies(cleared) : e;
    }
  }
  let logoutUrl: string | undefined;
  try {
    logoutUrl = await ctx.oidc.endSessionUrl();
  } catch {
    // Local logout must not depend on the IdP being up; the SPA simply stays on its own page.
    logoutUrl = undefined;
  }
  return {
    body: logoutUrl ? { logout_url: logoutUrl } : {},
    cookies: [...clearSessionCookies(ctx, cookies), ...clearLoginTransactions(ctx.names, cookies)],
    event: { name: 'logout', revoked: revocation.revoked, ...(revocation.reason ? { revocation: revocation.reason } : {}) },
    audit: { event: 'logout', outcome: 'success', ...(session.kind === 'session' ? { sessionId: session.id } : {}) },
  };
}
