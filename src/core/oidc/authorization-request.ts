/**
 * The authorization request: PKCE S256 and fresh random state and nonce every time; pushed to the
 * IdP first (PAR, RFC 9126) when TH_USE_PAR is on and the IdP has the endpoint, so the browser
 * carries only a `request_uri`.
 */
import * as oauth from 'oauth4webapi';
import type { Config } from '../types.js';
import { TokenHandlerError, type HttpServerErrorStatus } from '../errors.js';
import type { ClientAuthentication } from './client-auth.js';
import type { IdpFetch } from './idp-fetch.js';

export interface AuthorizationRequest {
  readonly url: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
}

/** What one login may set instead of the configuration. */
export interface AuthorizationOptions {
  /** The scope to request instead of TH_SCOPE (already checked against the allowed scopes). */
  readonly scope?: string;
}

export interface AuthorizationRequestDeps {
  readonly config: Config;
  readonly idp: IdpFetch;
  readonly credentials: ClientAuthentication;
}

export async function buildAuthorizationRequest(
  as: oauth.AuthorizationServer,
  extraParams: Readonly<Record<string, string>>,
  deps: AuthorizationRequestDeps,
  options: AuthorizationOptions = {},
): Promise<AuthorizationRequest> {
  const { config, idp, credentials } = deps;
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const params = new URLSearchParams({
    ...extraParams,
    client_id: config.clientId,
    response_type: 'code',
    redirect_uri: config.redirectUri,
    scope: options.scope ?? config.scope,
    state,
    nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  const url = new URL(as.authorization_endpoint!);
  if (config.usePar && as.pushed_authorization_request_endpoint) {
    const requestUri = await pushAuthorizationRequest(as, params, deps);
    url.searchParams.set('client_id', config.clientId);
    url.searchParams.set('request_uri', requestUri);
  } else {
    for (const [k, v] of params) url.searchParams.set(k, v);
  }
  return { url: url.href, state, nonce, codeVerifier };
}

/** PAR: sends the parameters to the IdP and returns the `request_uri` that stands for them. */
async function pushAuthorizationRequest(as: oauth.AuthorizationServer, params: URLSearchParams, deps: AuthorizationRequestDeps): Promise<string> {
  const { idp, credentials } = deps;
  const response = await idp.call('par_unreachable', async () =>
    oauth.pushedAuthorizationRequest(as, credentials.client(), await credentials.auth(), params, idp.requestOptions()),
  );
  if (response.status >= 500) {
    throw new TokenHandlerError('authorization_server_error', { reason: `par_${String(response.status) as HttpServerErrorStatus}` });
  }
  try {
    return (await oauth.processPushedAuthorizationResponse(as, credentials.client(), response)).request_uri;
  } catch (cause) {
    throw new TokenHandlerError('authorization_error', { reason: 'par_refused', detail: 'The authorization server refused the pushed authorization request', cause });
  }
}
