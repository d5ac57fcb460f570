/**
 * `POST {agent}/backchannel-logout` (contract §6.2, OpenID Connect Back-Channel Logout 1.0): the
 * IdP says a session is over. The logout token is validated by the general JWT validator under the
 * logout-token profile (signature with the allow-list against the issuer's keys, iss, aud, iat, exp,
 * no nonce, sid or sub, typ logout+jwt when present), then its events member and its jti (once,
 * across instances); then every session of that IdP `sid` (or, without one, of that `sub` from
 * before the token) is revoked. Refusals are 400 in the specification's shape, not ours.
 */
import type { JWTPayload } from 'jose';
import { TokenHandlerError } from '../errors.js';
import type { JwtProfile } from '../oidc/jwt-validation.js';
import type { Config } from '../types.js';
import { nowSeconds, type AgentContext, type AgentResult, type Params } from './context.js';

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

export type BackchannelLogoutBody = Record<string, never> | { error: 'invalid_request'; error_description: string };

/** §2.4: what a logout token must be; the ID tokens' algorithm allow-list applies. */
export function logoutTokenProfile(config: Config): JwtProfile {
  return {
    kind: 'logout_token',
    maxLength: 16 * 1024,
    algorithms: config.idTokenSigningAlgs,
    typ: { expected: 'logout+jwt', whenPresent: true },
    requiredClaims: ['iss', 'aud', 'iat', 'exp', 'jti', 'events'],
    forbiddenClaims: ['nonce'],
    oneOfClaims: ['sid', 'sub'],
  };
}

export async function backchannelLogout(ctx: AgentContext, params: Params): Promise<AgentResult<BackchannelLogoutBody>> {
  const revocations = ctx.revocations;
  if (!ctx.config.backchannelLogout || !revocations) throw new TokenHandlerError('not_found', { reason: 'backchannel_logout_disabled' });
  const refuse = (reason: string, description: string): AgentResult<BackchannelLogoutBody> => ({
    status: 400,
    body: { error: 'invalid_request', error_description: description },
    cookies: [],
    event: { name: 'backchannel_logout_refused', reason },
    audit: { event: 'backchannel_logout', outcome: 'failure', reason },
  });
  const token = params['logout_token'];
  if (!token) return refuse('backchannel_logout_token_missing', 'The logout_token parameter is missing');
  let payload: JWTPayload;
  try {
    ({ payload } = await ctx.oidc.verifyJwt(token, logoutTokenProfile(ctx.config)));
  } catch (error) {
    // A bad token is the sender's fault (400); the IdP's key set being down stays a 502.
    if (error instanceof TokenHandlerError && error.code === 'invalid_request') return refuse(error.reason, error.detail);
    throw error;
  }
  const events = payload['events'] as Record<string, unknown> | undefined;
  const member = events && typeof events === 'object' && !Array.isArray(events) ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
  if (!member || typeof member !== 'object' || Array.isArray(member)) return refuse('backchannel_logout_events_missing', 'The logout token is invalid');
  if (typeof payload.jti !== 'string' || payload.jti === '') return refuse('logout_token_missing_claim', 'The logout token is invalid');

  const now = nowSeconds(ctx);
  // Remembered until the token could no longer be accepted anyway (its exp plus the skew).
  const jtiTtl = Math.max(60, payload.exp! - now + ctx.config.clockSkew);
  if (!(await revocations.firstUse(`${payload.iss}\n${payload.jti}`, jtiTtl))) return refuse('backchannel_logout_jti_replayed', 'The logout token was already used');
  // As long as any session it ends can still live.
  const lifetime = ctx.config.sessionLifetime;
  const sid = typeof payload['sid'] === 'string' && payload['sid'] !== '' ? payload['sid'] : undefined;
  if (sid !== undefined) await revocations.revokeIdpSession(sid, lifetime);
  else await revocations.revokeSubject(payload.sub!, payload.iat!, lifetime);
  return { body: {}, cookies: [], event: { name: 'backchannel_logout', by: sid !== undefined ? 'sid' : 'sub' }, audit: { event: 'backchannel_logout', outcome: 'success' } };
}
