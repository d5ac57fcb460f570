/**
 * `GET /userinfo` (contract §7): the IdP's userinfo for the session's access token. It needs the
 * whole session (the access-token cookie and the ID cookie of the same id, §3), since the answer
 * must name the session's subject, which only the ID cookie keeps. An access token known to have
 * expired is answered `token_expired` without calling the IdP, as the proxy does. The claims
 * listed in TH_HIDDEN_CLAIMS are hidden here as in the session body.
 */
import { TokenHandlerError } from '../errors.js';
import { clearSessionCookies } from '../session/session-cookies.js';
import { nowSeconds, visibleClaims, type AgentContext, type AgentResult, type Cookies } from './context.js';
import { readLiveSession } from './live-session.js';

export type UserinfoBody = Record<string, unknown>;

export async function userinfo(ctx: AgentContext, cookies: Cookies): Promise<AgentResult<UserinfoBody>> {
  const session = await readLiveSession(ctx, cookies);
  if (session.kind === 'rejected') {
    throw new TokenHandlerError('unauthorized_request', { reason: session.reason, detail: 'No valid session', setCookies: clearSessionCookies(ctx, cookies) });
  }
  if (session.kind !== 'session' || !session.identity) throw new TokenHandlerError('unauthorized_request', { reason: 'userinfo_no_session', detail: 'No valid session' });
  const { t: accessToken, e: expiresAt } = session.at.data;
  if (expiresAt !== undefined && expiresAt <= nowSeconds(ctx)) throw new TokenHandlerError('token_expired', { reason: 'access_token_expired' });
  const claims = await ctx.oidc.userinfo(accessToken, session.identity.sub);
  return { body: visibleClaims(ctx, claims), cookies: [] };
}
