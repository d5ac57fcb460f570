/**
 * The userinfo endpoint (OIDC Core §5.3) called with the session's access token. Its answer is used
 * only when it is a userinfo response for the session's subject (§5.3.2); a signed one
 * (`application/jwt`) is verified like every JWT of the IdP. Every failure is one of the contract's
 * errors: 401 `token_expired` when the IdP refuses the token, 502 when it is down or answers
 * nonsense, 404 when it has no userinfo endpoint.
 */
import * as oauth from 'oauth4webapi';
import type { JWTPayload } from 'jose';
import type { Config } from '../types.js';
import { TokenHandlerError } from '../errors.js';
import type { ClientAuthentication } from './client-auth.js';
import { FOREIGN_JWT_TYPES } from './id-token.js';
import type { IdpFetch } from './idp-fetch.js';
import type { JwtProfile, JwtValidator } from './jwt-validation.js';

/** A signed userinfo response holds a few claims; anything near the IdP answer limit is not one. */
const MAX_USERINFO_JWT_LENGTH = 64 * 1024;

export interface UserinfoDeps {
  readonly config: Config;
  readonly idp: IdpFetch;
  readonly credentials: ClientAuthentication;
  readonly jwt: JwtValidator;
}

/** A signed userinfo response: signed like an ID token (the same allow-list), for us, naming a subject. */
export function userinfoJwtProfile(config: Config): JwtProfile {
  return {
    kind: 'userinfo_jwt',
    maxLength: MAX_USERINFO_JWT_LENGTH,
    algorithms: config.idTokenSigningAlgs,
    typ: { forbidden: FOREIGN_JWT_TYPES },
    // OIDC Core 5.3.2: a signed response must carry iss and aud; every response names its sub.
    requiredClaims: ['iss', 'aud', 'sub'],
  };
}

/** The IdP's claims for `accessToken`, checked to be about `expectedSub`. */
export async function fetchUserinfo(as: oauth.AuthorizationServer, accessToken: string, expectedSub: string, deps: UserinfoDeps): Promise<JWTPayload> {
  const { config, idp, credentials, jwt } = deps;
  if (!as.userinfo_endpoint) {
    throw new TokenHandlerError('not_found', { reason: 'userinfo_no_endpoint', detail: 'The authorization server has no userinfo endpoint' });
  }
  const response = await idp.call('userinfo_unreachable', () => oauth.userInfoRequest(as, credentials.client(), accessToken, idp.requestOptions()));
  // RFC 6750 §3.1: 401 is invalid_token (expired, revoked, not for this endpoint): the SPA refreshes.
  if (response.status === 401) throw new TokenHandlerError('token_expired', { reason: 'userinfo_invalid_token', detail: 'The authorization server refused the access token' });
  if (response.status >= 400 && response.status < 500) {
    throw new TokenHandlerError('authorization_error', { reason: 'userinfo_refused', detail: 'The authorization server refused the userinfo request' });
  }
  if (response.status >= 500) throw new TokenHandlerError('authorization_server_error', { reason: 'userinfo_server_error' });
  // No cause on these: a parser's message would quote the body, which may hold anything.
  const malformed = () => new TokenHandlerError('authorization_server_error', { reason: 'userinfo_malformed', detail: 'The authorization server sent an invalid userinfo response' });
  if (response.status !== 200) throw malformed();

  const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const text = await response.text().catch(() => {
    throw malformed();
  });
  let claims: JWTPayload;
  if (type === 'application/jwt') {
    claims = (await jwt.verify(text.trim(), userinfoJwtProfile(config))).payload;
  } else if (type === 'application/json') {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw malformed();
    }
    // Anything but an object (an array, a string, a number) has no string `sub`, checked below.
    if (json === null) throw malformed();
    claims = json as JWTPayload;
  } else {
    throw malformed();
  }
  if (typeof claims.sub !== 'string') throw malformed();
  // OIDC Core 5.3.2: a response for another subject must not be used (token substitution).
  if (claims.sub !== expectedSub) {
    throw new TokenHandlerError('invalid_request', { reason: 'userinfo_sub_mismatch', detail: 'The userinfo response is for another user' });
  }
  return claims;
}
