/**
 * The session's cookies as every agent operation reads them: opened and judged (session-cookies.ts),
 * then, with a store, refused when the session was revoked (contract §6.3): a revoked session is
 * one that its cookies no longer make, so each operation answers it as it answers cookies that do
 * not make one session (logged out, cookies cleared).
 */
import { readSessionCookies, type Cookies, type SessionCookies } from '../session/session-cookies.js';
import type { AgentContext } from './context.js';
import type { AccessTokenData } from '../session/session-cookies.js';
import type { RevocationSubject } from '../session/revocation.js';

export async function readLiveSession(ctx: AgentContext, cookies: Cookies): Promise<SessionCookies> {
  const session = await readSessionCookies(ctx, cookies);
  if (session.kind === 'session' && ctx.revocations && (await ctx.revocations.isRevoked(revocationSubject(session.id, session.at.data)))) return { kind: 'rejected', reason: 'session_revoked' };
  return session;
}

/** What the access-token cookie says about its session for the revocation check (the proxy reads only that cookie). */
export function revocationSubject(id: string, at: AccessTokenData): RevocationSubject {
  return { id, ...(at.is !== undefined ? { idpSid: at.is } : {}), ...(at.u !== undefined && at.li !== undefined ? { sub: at.u, loginAt: at.li } : {}) };
}
