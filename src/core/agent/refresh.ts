/**
 * `POST /refresh` (contract §1.2): the refresh grant with the session's refresh token; the new
 * tokens keep the session's id and its absolute end.
 */
import { TokenHandlerError } from '../errors.js';
import { generateDpopKey, isDpopKeyData } from '../oidc/dpop.js';
import type { DpopKeyData } from '../oidc/dpop.js';
import type { RefreshOutcome } from '../session/refresh-coordination.js';
import { accessTokenExpiry, clearSessionCookies, storeSessionCookies } from '../session/session-cookies.js';
import { keptIdentity, nowSeconds, refuseUnlistedParams, type AgentContext, type AgentResult, type Cookies, type Params } from './context.js';
import { readLiveSession } from './live-session.js';

export interface RefreshBody {
  access_token_expires_in?: number;
}

export async function refresh(ctx: AgentContext, params: Params, cookies: Cookies): Promise<AgentResult<RefreshBody>> {
  refuseUnlistedParams(params, ctx.config.extraTokenParams);
  const session = await readLiveSession(ctx, cookies);
  const rt = session.kind === 'session' ? session.rt : undefined;
  if (session.kind !== 'session' || !rt) {
    const reason = session.kind === 'rejected' ? session.reason : 'no_refresh_token';
    throw new TokenHandlerError('session_expired', { reason, setCookies: clearSessionCookies(ctx, cookies) });
  }
  // The session keeps its DPoP key; one from before TH_DPOP was turned on gets its first one now.
  const kept = session.at.data.k;
  const dpopKey = ctx.config.dpop ? (isDpopKeyData(kept) ? kept : await generateDpopKey()) : undefined;
  const call = async (): Promise<RefreshOutcome> => {
    const { idToken: _raw, ...tokens } = await ctx.oidc.refresh(rt.data.t, session.identity?.sub, params, dpopKey);
    return { tokens, ...(dpopKey ? { dpopKey } : {}) };
  };
  let tokens: RefreshOutcome['tokens'];
  let usedKey: DpopKeyData | undefined;
  let shared = false;
  try {
    // With a store, concurrent refreshes of this generation share one IdP refresh (contract §6.1).
    const result = ctx.refreshes ? await ctx.refreshes.once(session.id, rt.data.t, call) : { outcome: await call(), shared: false };
    ({ tokens, dpopKey: usedKey } = result.outcome);
    shared = result.shared;
  } catch (e) {
    if (e instanceof TokenHandlerError && e.code === 'session_expired') {
      throw e.withCookies(clearSessionCookies(ctx, cookies));
    }
    throw e;
  }
  // The session keeps its id and its absolute end, counted from login (a refresh never extends it).
  const end = rt.expiresAt;
  const identity = tokens.idTokenClaims ? keptIdentity(ctx, tokens.idTokenClaims) : undefined;
  // The session keeps what a back-channel logout revokes it by (its IdP session, subject, login time).
  const { is, u, li } = session.at.data;
  const idp = u !== undefined && li !== undefined ? { ...(is !== undefined ? { sid: is } : {}), sub: u, loginAt: li } : undefined;
  const stored = await storeSessionCookies(ctx, { id: session.id, end, tokens, ...(identity ? { identity } : {}), ...(usedKey ? { dpopKey: usedKey } : {}), ...(idp ? { idp } : {}) }, cookies, 'refresh');
  const expiresAt = accessTokenExpiry(tokens, end);
  return {
    body: expiresAt !== undefined ? { access_token_expires_in: Math.max(0, expiresAt - nowSeconds(ctx)) } : {},
    cookies: stored,
    event: { name: 'refresh', rotated: tokens.refreshToken !== undefined, ...(shared ? { coordinated: true } : {}) },
    audit: { event: 'refresh', outcome: 'success', sessionId: session.id },
  };
}
