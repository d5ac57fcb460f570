/**
 * RP-initiated logout (OIDC RP-Initiated Logout 1.0 §2). The URL names the client with
 * `client_id` rather than `id_token_hint`: it is handed to page JavaScript, and no token may ever
 * reach it.
 */
import type * as oauth from 'oauth4webapi';
import type { Config } from '../types.js';

/** The end-session URL, or undefined when the IdP has no end-session endpoint. */
export function endSessionUrl(as: oauth.AuthorizationServer, config: Config): string | undefined {
  if (!as.end_session_endpoint) return undefined;
  const url = new URL(as.end_session_endpoint);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('post_logout_redirect_uri', config.postLogoutRedirectUri);
  return url.href;
}
