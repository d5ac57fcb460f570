/**
 * `POST /login/start` (contract §1.2): the authorization request, and its transaction in a cookie
 * of its own.
 */
import { storeLoginTransaction } from '../session/login-transaction.js';
import { refuseUnlistedParams, type AgentContext, type AgentResult, type Cookies, type Params } from './context.js';

export interface StartLoginBody {
  authorization_url: string;
}

export async function startLogin(ctx: AgentContext, params: Params, cookies: Cookies): Promise<AgentResult<StartLoginBody>> {
  refuseUnlistedParams(params, ctx.config.extraAuthParams);
  const request = await ctx.oidc.buildAuthorizationRequest(params);
  const stored = await storeLoginTransaction(ctx, { s: request.state, n: request.nonce, v: request.codeVerifier, i: ctx.config.issuer }, cookies);
  return {
    body: { authorization_url: request.url },
    cookies: stored,
    event: { name: 'login_start', par: request.url.includes('request_uri=') },
  };
}
