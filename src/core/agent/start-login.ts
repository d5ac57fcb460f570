/**
 * `POST /login/start` (contract §1.2): the authorization request, and its transaction in a cookie
 * of its own. `scope` is always accepted, within the allowed scopes (§7); any other parameter only
 * when TH_EXTRA_AUTH_PARAMS lists it.
 */
import { storeLoginTransaction } from '../session/login-transaction.js';
import { refuseUnlistedParams, requestedScope, type AgentContext, type AgentResult, type Cookies, type Params } from './context.js';

export interface StartLoginBody {
  authorization_url: string;
}

export async function startLogin(ctx: AgentContext, params: Params, cookies: Cookies): Promise<AgentResult<StartLoginBody>> {
  const { scope, ...extraParams } = params;
  refuseUnlistedParams(extraParams, ctx.config.extraAuthParams);
  const requested = scope === undefined ? undefined : requestedScope(ctx.config, scope);
  const request = await ctx.oidc.buildAuthorizationRequest(extraParams, requested === undefined ? {} : { scope: requested });
  const stored = await storeLoginTransaction(ctx, { s: request.state, n: request.nonce, v: request.codeVerifier, i: ctx.config.issuer }, cookies);
  return {
    body: { authorization_url: request.url },
    cookies: stored,
    event: { name: 'login_start', par: request.url.includes('request_uri=') },
  };
}
