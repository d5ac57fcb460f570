/**
 * `POST /login/end` (contract §1.2): the callback's checks in the contract's order, the code
 * exchange, and a new session with a new id. Without a callback it is a session query (the SPA
 * calls it on every page load). A JWT-secured response (JARM: a `response` parameter in place of
 * `code` or `error`) is refused, never mistaken for a page load.
 */
import { TokenHandlerError } from '../errors.js';
import { generateDpopKey } from '../oidc/dpop.js';
import { clearLoginTransaction, findLoginTransaction } from '../session/login-transaction.js';
import { accessTokenExpiry, newSessionId, storeSessionCookies } from '../session/session-cookies.js';
import { keptIdentity, nowSeconds, type AgentContext, type AgentResult, type Cookies, type Params, type SessionBody } from './context.js';
import { readSession, sessionBody } from './session.js';

export async function endLogin(ctx: AgentContext, params: Params, cookies: Cookies): Promise<AgentResult<SessionBody>> {
  const { state, code, error } = params;
  if (params['response'] !== undefined && !code && !error) {
    throw new TokenHandlerError('invalid_request', { reason: 'jarm_not_supported', detail: 'JWT-secured authorization responses (JARM) are not supported' });
  }
  if (!state || (!code && !error)) return readSession(ctx, cookies);
  const found = await findLoginTransaction(ctx, cookies, state);
  if (!found) throw new TokenHandlerError('invalid_request', { detail: 'The login state is unknown or has expired', reason: 'state_unknown' });
  const { tx } = found;
  // The state is single use: every outcome from here on clears this transaction (RFC 9700 §4.2.4).
  const clearTx = clearLoginTransaction(found.name, cookies);

  try {
    const { as } = await ctx.oidc.getServer();
    const iss = params['iss'];
    // RFC 9207 §2.4: compare iss when present; require it when the IdP says it sends it.
    if (iss !== undefined ? iss !== tx.i || iss !== as.issuer : as.authorization_response_iss_parameter_supported === true) {
      throw new TokenHandlerError('invalid_request', { detail: 'The authorization response comes from an unexpected issuer', reason: iss === undefined ? 'iss_missing' : 'iss_mismatch',
      });
    }
    if (error) {
      if (error === 'login_required') throw new TokenHandlerError('login_required', { reason: 'idp_login_required' });
      const wireCode = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/.test(error) ? error : 'authorization_error';
      throw new TokenHandlerError('authorization_response_error', { wireCode, reason: 'idp_error' });
    }
    const callback = new URLSearchParams({ code: code!, state });
    if (iss !== undefined) callback.set('iss', iss);
    // A new session has a new DPoP key too; the token is bound to it (RFC 9449 §5).
    const dpopKey = ctx.config.dpop ? await generateDpopKey() : undefined;
    const tokens = await ctx.oidc.exchangeCode(callback, { state: tx.s, nonce: tx.n, codeVerifier: tx.v }, dpopKey);
    const identity = keptIdentity(ctx, tokens.idTokenClaims!);
    const end = nowSeconds(ctx) + ctx.config.sessionLifetime;
    // A new session, with a new id, replaces whatever the browser held before (no session fixation).
    const id = newSessionId();
    const claims = tokens.idTokenClaims!;
    // What a back-channel logout revokes by: kept only when it is on (the cookie stays as small as it was otherwise).
    const idp = ctx.config.backchannelLogout ? { ...(typeof claims.sid === 'string' ? { sid: claims.sid } : {}), sub: claims.sub!, loginAt: nowSeconds(ctx) } : undefined;
    const stored = await storeSessionCookies(ctx, { id, end, tokens, identity, ...(dpopKey ? { dpopKey } : {}), ...(idp ? { idp } : {}) }, cookies, 'login');
    return {
      body: sessionBody(ctx, identity, accessTokenExpiry(tokens, end)),
      cookies: [...clearTx, ...stored],
      event: { name: 'login_success', refresh_token: tokens.refreshToken !== undefined },
      audit: { event: 'login', outcome: 'success', sessionId: id, sub: identity.sub },
    };
  } catch (e) {
    if (e instanceof TokenHandlerError) {
      throw e.withCookies(clearTx);
    }
    throw e;
  }
}
